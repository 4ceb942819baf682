"""The Engine facade: the one API that the CLI and the server both call.

    with Engine.open("local:./ragline-data") as engine:
        report = engine.ingest(["docs/"])
        hits = engine.search("how are deletes propagated?", k=5, mode="hybrid")
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ragline.chunk import Chunker, ChunkerConfig
from ragline.embed import open_embedder
from ragline.embed.base import Embedder
from ragline.embed.cache import EmbeddingCache
from ragline.errors import ConfigError, QueryError
from ragline.ledger import Ledger
from ragline.pipeline import IngestRun, IngestSettings, Progress
from ragline.records import Hit, IngestReport
from ragline.search import rrf
from ragline.sources.folder import FolderSource, file_uri
from ragline.store import Filter, open_store

MODES = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class EngineConfig:
    store: str = "local:ragline-data"
    namespace: str = "default"
    embedder: str = "onnx"
    max_tokens: int = 256
    overlap: int = 32
    max_file_bytes: int = 20 * 2**20
    batch_chunks: int = 256
    # Each retriever's candidate depth in hybrid mode, as a multiple of k (ARCHITECTURE §5).
    hybrid_depth: int = 4
    extra: dict[str, Any] = field(default_factory=dict)


class Engine:
    def __init__(self, config: EngineConfig, embedder: Embedder | None = None):
        self.config = config
        self.store = open_store(config.store, config.namespace)
        self._check_persisted_config()
        self.embedder = embedder or open_embedder(config.embedder)
        self._check_persisted_revision()
        self.ledger = Ledger(self.store.db, config.namespace)
        self.cache = EmbeddingCache(self.store.db, self.embedder.model_id, self.embedder.revision)
        self.chunker = Chunker(self.embedder, self.embedder.max_tokens,
                               ChunkerConfig(config.max_tokens, config.overlap))
        self._query_vector = lru_cache(maxsize=1024)(self._embed_query)

    @classmethod
    def open(cls, store: str = "local:ragline-data", *, namespace: str = "default",
             embedder: Embedder | str | None = None, **options: Any) -> Engine:
        spec = embedder if isinstance(embedder, str) else None
        config = EngineConfig(store=store, namespace=namespace,
                              embedder=spec or _persisted(store, namespace, "embedder") or "onnx", **options)
        return cls(config, embedder if not isinstance(embedder, str) else None)

    def _check_persisted_config(self) -> None:
        """The store remembers how it was built, so it reopens the same way."""
        saved = self.store.get_meta("config")
        if saved is None:
            return
        saved_config = json.loads(saved)
        if self.store.count() and saved_config.get("embedder") != self.config.embedder:
            raise ConfigError(f"this store was built with embedder {saved_config['embedder']!r}; "
                              f"got {self.config.embedder!r}. Use the same embedder or a new store.")

    def _check_persisted_revision(self) -> None:
        """The same spec can name another model file (e.g. ``onnx`` after its default precision
        changed, or on a GPU): never mix its vectors into a store built with the other."""
        saved = self.store.get_meta("config")
        if saved is None or not self.store.count():
            return
        revision = json.loads(saved).get("revision")
        if revision is not None and revision != self.embedder.revision:
            raise ConfigError(f"this store's vectors come from model revision {revision!r}, but embedder "
                              f"{self.config.embedder!r} is now revision {self.embedder.revision!r}; pass the "
                              "precision it was built with (e.g. --embedder onnx-fp32) or use a new store.")

    def _persist_config(self) -> None:
        with self.store.transaction():
            self.store.set_meta("config", json.dumps({
                "embedder": self.config.embedder, "model_id": self.embedder.model_id,
                "revision": self.embedder.revision, "max_tokens": self.config.max_tokens,
                "overlap": self.config.overlap}))

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()
        self.embedder.close()

    # ----- ingest ------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], *, include: Sequence[str] = (),
               exclude: Sequence[str] = (), progress: Progress | None = None,
               on_listed: Any = None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(namespace=self.config.namespace)
        self._persist_config()
        run = IngestRun(self.store, self.ledger, self.embedder, self.chunker, self.cache,
                        IngestSettings(self.config.max_file_bytes, self.config.batch_chunks),
                        report, progress)
        store_path = getattr(self.store, "path", None)
        for path in paths:
            source = FolderSource(Path(path), include=list(include), exclude=list(exclude),
                                  ignore_paths=(store_path,) if store_path else ())
            listing = source.list()
            if on_listed is not None:
                on_listed(len(listing.items))
            run.ingest_listing(listing)
            run.flush()
            run.delete_missing(listing)
        run.finish()
        report.elapsed_s = time.perf_counter() - started
        report.stage_seconds = dict(run.stage_seconds)
        return report

    # ----- search ------------------------------------------------------------------------
    def _embed_query(self, query: str) -> np.ndarray:
        return self.embedder.embed([query])[0]

    def search(self, query: str, k: int = 10, *, mode: str = "hybrid",
               filter: Filter | None = None) -> list[Hit]:
        if mode not in MODES:
            raise QueryError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if k < 1:
            raise QueryError("k must be at least 1")
        if not query.strip():
            raise QueryError("the query is empty")
        if mode == "dense":
            return self.store.search_vector(self._query_vector(query), k, filter)
        if mode == "bm25":
            return self.store.search_text(query, k, filter)
        depth = max(k * self.config.hybrid_depth, 40)
        dense = self.store.search_vector(self._query_vector(query), depth, filter)
        sparse = self.store.search_text(query, depth, filter)
        return rrf([dense, sparse], ["dense", "bm25"], k)

    # ----- delete, stats, verify -----------------------------------------------------------
    def delete(self, *, doc_ids: Sequence[str] = (), source: str | Path | None = None) -> int:
        """Delete documents by id, or every document from a source path (file or folder)."""
        targets = list(doc_ids)
        file_uris: list[str] = []
        if source is not None:
            uri = file_uri(Path(source))
            prefix = uri if Path(source).is_file() else uri.rstrip("/") + "/"
            docs = self.ledger.documents_by_uri_prefix(uri if Path(source).is_file() else prefix)
            targets += [d.doc_id for d in docs]
            file_uris = [f.uri for f in self.ledger.files_under(prefix)] + [uri]
        with self.store.transaction():
            removed = self.store.delete(targets) if targets else 0
            self.ledger.remove_documents(targets)
            for uri in file_uris:
                self.ledger.forget_file(uri)
        self.store.flush()
        return removed

    def stats(self) -> dict[str, Any]:
        return {**self.store.stats(), **self.ledger.counts(), "embedder": self.embedder.model_id,
                "embedding_cache_entries": self.cache.size()}

    def verify(self, *, repair: bool = False) -> dict[str, Any]:
        from ragline.verify import verify

        return verify(self.store, self.ledger, repair=repair)


def _persisted(store: str, namespace: str, key: str) -> str | None:
    """Read one persisted setting without opening the engine (to reopen a store the same way)."""
    scheme, sep, rest = store.partition(":")
    path = Path(rest if sep else store) / "ragline.db"
    if scheme not in ("local", store) and sep:
        return None
    if not path.exists():
        return None
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"{namespace}:config",)).fetchone()
    except sqlite3.Error:
        return None
    return json.loads(row[0]).get(key) if row else None


__all__ = ["MODES", "Engine", "EngineConfig"]
