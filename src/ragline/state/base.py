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

Commit protocol with a store that is not the state (``commit_scope``), for every store:

1. upsert the batch's new chunks by chunk id (idempotent) and let the store acknowledge them;
2. commit the state: the ledger marks the new versions stored, and a removal journal entry names
   the chunks they replace (and the documents deleted);
3. remove those chunks from the store, one step at a time, then clear the journal entry.

A crash before 2 leaves chunks the re-run upserts again and finds alike; a crash during 3 leaves
a journal entry that the next run (``replay_removals``) finishes, skipping anything the ledger
holds again by then. The ledger is never ahead of the store, and nothing is left behind. The
SQLite state inside the local store joins the store's own transaction, so all three commit at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
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

    def meta_items(self, namespace: str, prefix: str) -> list[tuple[str, str]]:
        """(key, value) of the namespace's meta keys that start with ``prefix``, by key."""
        ...

    def delete_meta(self, namespace: str, key: str) -> bool:
        """Remove one key; True if it was there."""
        ...


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


@runtime_checkable
class PrefetchingLedger(Protocol):
    """A ledger behind a round trip that can look up many documents at once: the run announces
    the documents of a parsed file before asking ``document``/``original_of`` for each."""

    def prefetch_documents(self, doc_ids: Sequence[str], text_hashes: Sequence[str]) -> None: ...


@runtime_checkable
class PrefetchingNearDup(Protocol):
    """A near-dup index that can fetch the candidates of many signatures in one round trip."""

    def prefetch_candidates(self, signatures: Sequence[np.ndarray]) -> None: ...


@runtime_checkable
class RemovalJournal(Protocol):
    """A state that can remember, inside its transaction, which chunks a committed batch still has
    to remove from the store (so a crash during the removal is finished by the next run)."""

    def journal_removal(self, namespace: str, token: str, payload: str) -> None: ...

    def pending_removals(self, namespace: str) -> list[tuple[str, str]]:
        """(token, payload) of every entry not cleared yet, oldest first."""

    def clear_removal(self, namespace: str, token: str) -> None: ...


@dataclass
class Removals:
    """What one batch replaces: chunks of documents stored in a new version, and whole documents.
    Filled inside ``commit_scope`` and removed from the store after the state committed."""

    stale_chunks: dict[str, list[str]] = field(default_factory=dict)  # doc_id -> replaced chunk ids
    documents: list[str] = field(default_factory=list)                # doc ids deleted outright
    removed: int = 0                                                   # chunks the store removed

    def replace(self, doc_id: str, stale_chunk_ids: Sequence[str]) -> None:
        if stale_chunk_ids:
            self.stale_chunks.setdefault(doc_id, []).extend(stale_chunk_ids)

    def drop(self, doc_ids: Sequence[str]) -> None:
        self.documents.extend(doc_ids)

    def __bool__(self) -> bool:
        return bool(self.stale_chunks or self.documents)

    def to_json(self) -> str:
        return json.dumps({"chunks": self.stale_chunks, "documents": self.documents})

    @classmethod
    def from_json(cls, payload: str) -> Removals:
        data = json.loads(payload)
        return cls(dict(data.get("chunks", {})), list(data.get("documents", [])))

    def still_stale(self, ledger: LedgerState) -> Removals:
        """The part the ledger does not hold again (a later run may have stored a document anew)."""
        left = Removals()
        for doc_id, ids in self.stale_chunks.items():
            current = ledger.document(doc_id)
            keep = set(current.chunk_ids) if current is not None else set()
            left.replace(doc_id, [cid for cid in ids if cid not in keep])
        left.drop([d for d in self.documents if ledger.document(d) is None])
        return left

    def apply(self, store: Any, *, step_transactions: bool) -> int:
        """Remove from the store; with ``step_transactions`` each document is its own store write
        (a crash between two leaves the rest to the journal)."""
        steps: list[tuple[str, list[str]]] = [("chunks", ids) for ids in self.stale_chunks.values() if ids]
        if self.documents:
            steps.append(("documents", self.documents))
        for kind, ids in steps:
            crashpoint("removal")
            if step_transactions:
                with store.transaction():
                    self.removed += store.delete_chunks(ids) if kind == "chunks" else store.delete(ids)
            else:
                self.removed += store.delete_chunks(ids) if kind == "chunks" else store.delete(ids)
        return self.removed


def replay_removals(store: Any, state: State) -> int:
    """Finish the removals a crashed run left in the journal; returns how many chunks went."""
    if state.fused or not isinstance(state, RemovalJournal):
        return 0
    namespace = store.namespace
    removed = 0
    for token, payload in state.pending_removals(namespace):
        left = Removals.from_json(payload).still_stale(state.ledger(namespace))
        removed += left.apply(store, step_transactions=True)
        with state.transaction():
            state.clear_removal(namespace, token)
    return removed


@contextmanager
def commit_scope(store: Any, state: State) -> Iterator[Removals]:
    """One batch's writes in the commit protocol's order (see the module docstring): the caller
    upserts and writes the ledger inside, and hands what the batch replaces to the ``Removals``
    it gets; its ``removed`` counts the chunks that went once the scope has exited."""
    removals = Removals()
    if state.fused:  # one SQLite transaction: the order inside it cannot be observed
        with store.transaction():
            yield removals
            removals.apply(store, step_transactions=False)
        return
    token = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"  # sorts oldest first
    journal = state if isinstance(state, RemovalJournal) else None
    with state.transaction():
        with store.transaction():
            yield removals
        crashpoint("state_commit")  # the store has the batch, the state not yet: the re-run heals it
        if removals and journal is not None:
            journal.journal_removal(store.namespace, token, removals.to_json())
    if removals:
        removals.apply(store, step_transactions=True)
        if journal is not None:
            with state.transaction():
                journal.clear_removal(store.namespace, token)
