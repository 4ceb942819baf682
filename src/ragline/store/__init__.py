"""Stores: SQLite + HNSW + BM25 embedded (``local:PATH``); more backends register by scheme."""

from ragline.store.base import Filter, Store, open_store, register_store

__all__ = ["Filter", "Store", "open_store", "register_store"]
