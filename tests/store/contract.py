"""The store contract moved into the package (``ragline.testing.store``), so third-party stores
can run it; this module keeps the old import path working for the tests that use it."""

from ragline.testing.store import DIM, FILTER_CASES, StoreContract, make_chunks, vectors_for

__all__ = ["DIM", "FILTER_CASES", "StoreContract", "make_chunks", "vectors_for"]
