"""The embedded default store: SQLite + faiss HNSW + tantivy BM25 (``local:PATH``)."""

from ragline.store.local.store import LocalStore

__all__ = ["LocalStore"]
