"""State backends by URI: the ledger, embedding cache, near-dup index and metadata.

    open_state(None, store)                      # default: the local store's own SQLite file
    open_state("sqlite:./state.db", store)       # a separate SQLite file
    open_state("postgresql://user@host/db", store)   # PostgreSQL, shared by many workers

Backends register a scheme with ``register_state``; the built-in ones are imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from ragline import registry
from ragline.state.base import (
    DocRecord,
    EmbeddingCacheState,
    FileRecord,
    LedgerState,
    MetaState,
    NearDupState,
    RemovalJournal,
    Removals,
    State,
    commit_scope,
    replay_removals,
)

# factory(rest of the URI after "scheme:", the opened store) -> State
StateFactory = Callable[[str, Any], State]
# reader(rest, store URI, namespace, key) -> value: one meta value without opening the store
MetaReader = Callable[[str, str, str, str], "str | None"]


class StateBackend(NamedTuple):
    """What a state scheme's registry entry names (``ragline.registry``, kind "state"): how to
    open it, and (optionally) how to read one meta value before any store is opened."""

    open: StateFactory
    read_meta: MetaReader | None = None


def register_state(scheme: str, factory: StateFactory, read_meta: MetaReader | None = None) -> None:
    registry.register("state", scheme, StateBackend(factory, read_meta))


def _backend(uri: str) -> tuple[str, StateBackend]:
    scheme, _, rest = uri.partition(":")
    target = registry.resolve("state", scheme, what=uri)
    backend = target if isinstance(target, StateBackend) else StateBackend(target)
    # URL schemes keep their "//": a driver wants the whole URI back.
    return (uri if rest.startswith("//") else rest), backend


def default_state_uri(store_uri: str) -> str:
    """The state of a store opened without one: the local store's own file, or for
    ``milvus-lite:PATH`` an SQLite file beside it (so the embedded path needs no server)."""
    scheme, _, rest = store_uri.partition(":")
    if scheme == "milvus-lite":
        path = Path(rest.partition("?")[0] or "ragline-milvus")
        return f"sqlite:{path.with_suffix('.state.db') if path.suffix == '.db' else path / 'state.db'}"
    return "sqlite"


def open_state(uri: str | None, store: Any) -> State:
    """The state for ``store``: ``None`` is its default (``default_state_uri``)."""
    uri = (uri or "").strip() or default_state_uri(str(getattr(store, "uri", "")))
    rest, backend = _backend(uri)
    return backend.open(rest, store)


def read_meta(uri: str | None, store_uri: str, namespace: str, key: str) -> str | None:
    """One persisted meta value, read before any engine is open (None when there is none yet)."""
    rest, backend = _backend((uri or "").strip() or default_state_uri(store_uri))
    return backend.read_meta(rest, store_uri, namespace, key) if backend.read_meta is not None else None


def local_state_file(store_uri: str) -> Path | None:
    """The SQLite file of a ``local:PATH`` store (or a bare path), else None."""
    scheme, sep, rest = store_uri.partition(":")
    if sep and scheme != "local":
        return None
    return Path(rest if sep else store_uri) / "ragline.db"


__all__ = ["DocRecord", "EmbeddingCacheState", "FileRecord", "LedgerState", "MetaState", "NearDupState",
           "RemovalJournal", "Removals", "State", "StateBackend", "commit_scope", "default_state_uri",
           "local_state_file", "open_state", "read_meta", "register_state", "replay_removals"]
