"""The state seam: what ragline remembers besides the chunks themselves.

    state = open_state(None, store)                 # the local store's own SQLite file
    state = open_state("sqlite:./state.db", store)  # a separate SQLite file
    state = open_state("postgresql:///ragline?host=/run/pg", store)   # shared by many workers
    ledger = state.ledger("default")
    with state.transaction():
        ledger.record_file(uri, stat_key, version, "stored")

Four small protocols, one per kind of state: the ledger (files, documents, dead letters), the
embedding cache (shared by every namespace), the near-duplicate index (MinHash LSH bands) and
metadata (per namespace). A backend implements them and ``State``, which hands them out and
scopes writes in ``transaction()``. Nothing outside a backend speaks SQL.

Commit order with a store that is not the state: the store's write is acknowledged first, then
the state's transaction commits (``commit_scope``): the ledger is never ahead of the store, and a
crash between the two leaves chunks that the re-run upserts again (by chunk id) and finds alike.
The SQLite state inside the local store joins the store's own transaction, so both commit at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import xxhash

from ragline._faults import crashpoint
from ragline.neardup import NearDupConfig


@dataclass(frozen=True, slots=True)
class FileRecord:
    uri: str
    stat_key: str
    version: str | None
    state: str          # stored | failed | skipped
    stage: str | None
    error: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class DocRecord:
    doc_id: str
    uri: str
    file_uri: str
    version: str
    text_hash: str
    duplicate_of: str | None
    chunk_ids: tuple[str, ...]


@runtime_checkable
class LedgerState(Protocol):
    """Files, documents and dead letters of one namespace."""

    namespace: str

    def file(self, uri: str) -> FileRecord | None: ...

    def files_under(self, root_uri: str) -> list[FileRecord]: ...

    def record_file(self, uri: str, stat_key: str, version: str | None, state: str, *,
                    kind: str | None = None, stage: str | None = None, error: str | None = None) -> None:
        """Upsert; ``attempts`` counts consecutive failures."""

    def reread_file(self, uri: str) -> None:
        """Make the next run read (and so re-ingest) this file."""

    def forget_file(self, uri: str) -> None: ...

    def document(self, doc_id: str) -> DocRecord | None: ...

    def documents_of_file(self, file_uri: str) -> dict[str, DocRecord]: ...

    def doc_ids_of_file(self, file_uri: str) -> set[str]: ...

    def count_documents_of_file(self, file_uri: str) -> int: ...

    def documents_by_uri_prefix(self, prefix: str) -> list[DocRecord]: ...

    def original_of(self, text_hash: str, exclude_doc: str) -> DocRecord | None:
        """A stored original (not a duplicate, not ``exclude_doc``) with this text hash."""

    def record_document(self, *, doc_id: str, uri: str, file_uri: str, version: str, text_hash: str,
                        title: str | None, kind: str | None, duplicate_of: str | None,
                        chunk_ids: Iterable[str], metadata: dict) -> None: ...

    def remove_documents(self, doc_ids: list[str]) -> list[str]:
        """Forget documents and their duplicates; returns the orphaned duplicates' file uris,
        whose files the next run reads again."""

    def all_documents(self) -> list[DocRecord]: ...

    def counts(self) -> dict[str, int]: ...

    def dead_letter(self, uri: str, stage: str, reason: str) -> None: ...

    def last_dead_letter(self, uri: str) -> tuple[str, str] | None: ...

    def dead_letters(self, limit: int = 100) -> list[tuple[str, str, str]]: ...


def embed_cache_prefix(model_id: str, revision: str) -> bytes:
    """What every embedding-cache key starts from: the model and its revision (ARCHITECTURE §2)."""
    return f"{model_id}\x1f{revision}\x1f".encode()


def embed_cache_key(prefix: bytes, text_hash: str) -> bytes:
    """The content-addressed key of one text's vector; the same in every state backend."""
    return xxhash.xxh3_128_digest(prefix + text_hash.encode())


class EmbeddingCacheBase:
    """The backend-independent half of an embedding cache: keys, hit counting and the shape of
    ``stats``; a backend supplies ``_fetch`` (and the writes)."""

    def __init__(self, model_id: str, revision: str):
        self.model = f"{model_id}@{revision}"
        self.prefix = embed_cache_prefix(model_id, revision)
        self.hits = 0
        self.misses = 0

    def key(self, text_hash: str) -> bytes:
        return embed_cache_key(self.prefix, text_hash)

    def _fetch(self, keys: list[bytes]) -> dict[bytes, bytes]:
        """{key: float32 vector bytes} of the keys that are cached."""
        raise NotImplementedError

    def lookup(self, text_hashes: Sequence[str]) -> tuple[dict[int, np.ndarray], list[int]]:
        """Returns {position: vector} for cached texts and the positions that still need embedding."""
        keys = [self.key(h) for h in text_hashes]
        found = self._fetch(list(set(keys))) if keys else {}
        cached = {i: np.frombuffer(found[k], dtype=np.float32) for i, k in enumerate(keys) if k in found}
        missing = [i for i in range(len(keys)) if i not in cached]
        self.hits += len(cached)
        self.misses += len(missing)
        return cached, missing

    @staticmethod
    def _stats(model_rows: Iterable[tuple[Any, Any, Any]], counts: dict[str, Any]) -> dict[str, Any]:
        """``stats()`` from (model, entries, bytes) rows and the lifetime counters."""
        models = [{"model": model or "(unrecorded)", "entries": int(n), "mib": round(int(size or 0) / 2**20, 2)}
                  for model, n, size in model_rows]
        hits, misses = int(counts.get("cache:hits", 0)), int(counts.get("cache:misses", 0))
        return {"entries": sum(m["entries"] for m in models), "models": models,
                "lifetime_hits": hits, "lifetime_misses": misses,
                "lifetime_hit_rate": round(hits / (hits + misses), 4) if hits + misses else None}


@runtime_checkable
class EmbeddingCacheState(Protocol):
    """Vectors by hash(model id, revision, text hash), shared by every namespace."""

    model: str
    hits: int
    misses: int

    def key(self, text_hash: str) -> bytes: ...

    def lookup(self, text_hashes: Sequence[str]) -> tuple[dict[int, np.ndarray], list[int]]:
        """({position: vector} of cached texts, positions still to embed)."""

    def store(self, text_hashes: Sequence[str], vectors: np.ndarray) -> None: ...

    def size(self) -> int: ...

    def record_counts(self, hits: int, misses: int) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def clear(self, model: str | None = None) -> int: ...


@runtime_checkable
class NearDupState(Protocol):
    """MinHash signatures and their LSH bands of one namespace."""

    config: NearDupConfig
    b: int
    r: int

    def band_keys(self, signature: np.ndarray) -> list[int]: ...

    def candidates(self, signature: np.ndarray) -> list[tuple[str, np.ndarray]]: ...

    def query(self, doc_id: str, signature: np.ndarray) -> tuple[str, float] | None: ...

    def add(self, doc_id: str, signature: np.ndarray) -> None: ...

    def remove(self, doc_ids: list[str]) -> None: ...

    def size(self) -> int: ...


@runtime_checkable
class MetaState(Protocol):
    """Small settings per namespace (e.g. how the store was built)."""

    def get_meta(self, namespace: str, key: str) -> str | None: ...

    def set_meta(self, namespace: str, key: str, value: str) -> None: ...


@runtime_checkable
class State(MetaState, Protocol):
    uri: str
    # True when the state commits in the store's own transaction (the local store's file).
    fused: bool

    def ledger(self, namespace: str) -> LedgerState: ...

    def embedding_cache(self, model_id: str, revision: str) -> EmbeddingCacheState: ...

    def near_dup(self, namespace: str, config: NearDupConfig) -> NearDupState: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Writes inside commit together (nested calls join the outer one)."""

    def close(self) -> None: ...


@contextmanager
def commit_scope(store: Any, state: State) -> Iterator[None]:
    """One batch's writes: the store's commits first, then the state's (never ahead of it)."""
    if state.fused:
        with store.transaction():
            yield
        return
    with state.transaction():
        with store.transaction():
            yield
        crashpoint("state_commit")  # the store has the batch, the state not yet: the re-run heals it
