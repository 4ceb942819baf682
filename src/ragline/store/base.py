"""The store interface every backend implements, and the registry that opens one by URI.

    with open_store("local:./ragline-data", namespace="default") as store:
        store.upsert(chunks, vectors)
        hits = store.search_vector(query_vector, k=10, filter={"kind": "pdf"})
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ragline import registry
from ragline.errors import ConfigError
from ragline.records import Chunk, Hit

if TYPE_CHECKING:
    from ragline.state.base import LedgerState

# Metadata filters, ANDed: {"kind": "pdf", "page": 3} (equality), or operators such as
# {"kind": {"in": [...]}, "year": {"gte": 1990}, "uri": {"prefix": ...}, "not": {...}};
# a list of such dicts is ANDed too. The full form: ragline.store.filters.
Filter = dict[str, Any] | list[dict[str, Any]]


def tag(key: str, value: Any) -> str:
    """The canonical 'key=value' string both retrievers filter on."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"{key}={value}"


def filter_tags(filter: Filter | None) -> list[str]:
    """Tags of an equality-only filter (a dict, or a list of dicts, ANDed)."""
    if not filter:
        return []
    if isinstance(filter, list):
        return [t for part in filter for t in filter_tags(part)]
    return [tag(key, value) for key, value in sorted(filter.items())]


def metadata_tags(metadata: dict[str, Any]) -> list[str]:
    """Tags for every scalar metadata value short enough to filter on."""
    return [tag(key, value) for key, value in metadata.items()
            if isinstance(value, (str, int, float, bool)) and len(str(value)) <= 512]


@runtime_checkable
class Store(Protocol):
    namespace: str

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Insert chunks that are not stored yet (by chunk_id); returns how many were new."""

    def delete(self, doc_ids: Sequence[str]) -> int:
        """Delete every chunk of these documents; returns how many chunks went."""

    def delete_chunks(self, chunk_ids: Sequence[str]) -> int: ...

    def search_vector(self, vector: np.ndarray, k: int, filter: Filter | None = None) -> list[Hit]: ...

    def search_text(self, query: str, k: int, filter: Filter | None = None) -> list[Hit]: ...

    # Candidate lists for fusion: (key, score) best first, keyed by something the store can turn
    # back into chunks; a fused search reads only the chunks it returns.
    def vector_candidates(self, vector: np.ndarray, k: int, filter: Filter | None = None
                          ) -> list[tuple[Any, float]]: ...

    def text_candidates(self, query: str, k: int, filter: Filter | None = None) -> list[tuple[Any, float]]: ...

    def hybrid_candidates(self, vector: np.ndarray, query: str, k: int, filter: Filter | None = None
                          ) -> tuple[list[tuple[Any, float]], list[tuple[Any, float]]]:
        """Both candidate lists; a store may run the two searches concurrently."""

    def candidate_vectors(self, keys: Sequence[Any]) -> np.ndarray:
        """The stored vectors of these candidates, in order (missing ones left out)."""

    def fetch_chunks(self, keys: Sequence[Any]) -> dict[Any, Chunk]: ...

    def get(self, chunk_ids: Sequence[str]) -> list[Chunk]: ...

    def count(self) -> int: ...

    def stats(self) -> dict[str, Any]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def flush(self) -> None:
        """Bring derived indexes up to date and make them durable."""

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc: object) -> None: ...


# ----- optional capabilities: declared, so callers check isinstance() instead of probing names -----
@runtime_checkable
class GenerationStore(Protocol):
    """A store that can say cheaply whether its data changed (the result cache's key)."""

    def data_generation(self) -> tuple[int, ...]:
        """Moves on every write to this namespace, by this process or another; never goes back."""


@runtime_checkable
class QuantizedStore(Protocol):
    """A store whose ANN index can keep vectors as float32, float16, int8 or binary."""

    vector_dtype: str  # the dtype the ANN holds now

    def set_vector_dtype(self, dtype: str) -> None: ...


@runtime_checkable
class TextAnalyzerStore(Protocol):
    """A store whose BM25 terms come from a named analyzer (the engine records it, so a store is
    never filled by two analyzers)."""

    @property
    def bm25_analyzer(self) -> str: ...


@runtime_checkable
class OnDiskStore(Protocol):
    """A store whose files live in a folder (a folder source must not ingest them)."""

    path: Path


@runtime_checkable
class MultiVectorStore(Protocol):
    """A store that keeps per-token vectors for late-interaction (MaxSim) re-ranking."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def multivectors(self, chunk_ids: Sequence[str], dtype: Any = np.float32) -> dict[str, np.ndarray]: ...

    def upsert_multivectors(self, chunk_ids: Sequence[str], arrays: Sequence[np.ndarray]) -> int: ...

    def chunks_without_multivectors(self, limit: int = 256) -> list[tuple[str, str]]: ...

    def multivector_stats(self) -> dict[str, int]: ...


@runtime_checkable
class SyncableIndexes(Protocol):
    """A store with derived indexes that can be brought up to date mid-run, cheaply and without
    being made durable (``flush`` does both): a long ingest calls it as it goes, so the end of the
    run does not index every new chunk at once."""

    def sync(self) -> int:
        """Apply pending changes to the derived indexes; returns how many were applied."""


@runtime_checkable
class VerifiableStore(Protocol):
    """A store that checks itself against the ledger (``ragline verify``) and can repair drift."""

    def verify(self, ledger: LedgerState, *, repair: bool = False) -> dict[str, Any]:
        """{"chunks", "documents", "missing_chunk_documents", "orphan_chunks", "drift", "problems",
        ...}: documents whose chunks the store lacks, chunks no stored document holds, and the
        store's own checks. ``repair`` removes orphans, sends documents with missing chunks back to
        the next ingest (``ledger.reread_file``) and adds "repaired" (what it did) and "before"."""


# factory(rest of the URI, namespace, create=...): ``create=False`` (read-only commands) makes a
# store or namespace that does not exist a ConfigError instead of creating it. Backends are found
# in ``ragline.registry`` (kind "store"), imported on first use.
StoreFactory = Callable[..., Store]


def register_store(scheme: str, factory: StoreFactory | str) -> None:
    """Add a store scheme at run time (``factory`` or ``"module:attr"``); see ``ragline.registry``."""
    registry.register("store", scheme, factory)


def open_store(uri: str, namespace: str = "default", *, create: bool = True) -> Store:
    if not uri.strip():
        raise ConfigError("the store URI is empty: give e.g. local:./ragline-data")
    scheme, sep, rest = uri.partition(":")
    if not sep:
        scheme, rest = "local", uri  # a bare path means the embedded store
    factory = registry.resolve("store", scheme, what=uri)
    store: Store = factory(rest, namespace, create=create)
    return store


def one_process_only(uri: str) -> str | None:
    """Why at most one process may open ``uri`` at a time (a backend's factory says so in its
    ``one_process_only`` attribute), or None when many may (a server's workers, say)."""
    scheme, sep, _ = uri.partition(":")
    factory = registry.resolve("store", scheme if sep else "local", what=uri)
    reason = getattr(factory, "one_process_only", None)
    return reason if isinstance(reason, str) else None


def iter_batches(array: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(array), size):
        yield array[start:start + size]
