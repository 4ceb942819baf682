"""Query-side caches: query embeddings, and whole search results keyed by the store's generation.

    vectors = QueryVectorCache(1024)
    vector = vectors.get_or_compute(("all-MiniLM-L6-v2", "rev", "mean", "a query"), embed_one)

Both are bounded LRU maps (cachetools) under a lock, so a server may search from many threads.
What they hand out cannot change what they hold: cached arrays are read-only, and cached hits
are copied (every dict and list in them) on the way out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from cachetools import LRUCache

from ragline.records import Hit

_MISSING = object()


class CountingLru:
    """A bounded, thread-safe LRU map that counts its hits and misses. ``maxsize=0`` disables it."""

    def __init__(self, maxsize: int):
        if maxsize < 0:
            raise ValueError(f"cache size must be >= 0 (0 turns the cache off), got {maxsize}")
        self.maxsize = maxsize
        self._entries: LRUCache | None = LRUCache(maxsize) if maxsize else None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        """The cached value, or ``MISSING`` (counted as a miss)."""
        with self._lock:
            value = self._entries.get(key, _MISSING) if self._entries is not None else _MISSING
            if value is _MISSING:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        if self._entries is None:
            return
        with self._lock:
            self._entries[key] = value

    def clear(self) -> None:
        with self._lock:
            if self._entries is not None:
                self._entries.clear()

    def close(self) -> None:
        """Release what the cache holds outside this process (nothing, for an in-process LRU)."""

    def __len__(self) -> int:
        return len(self._entries) if self._entries is not None else 0

    def stats(self, prefix: str) -> dict[str, Any]:
        with self._lock:
            looked_up = self.hits + self.misses
            return {f"{prefix}_hits": self.hits, f"{prefix}_misses": self.misses,
                    f"{prefix}_hit_rate": round(self.hits / looked_up, 4) if looked_up else 0.0,
                    f"{prefix}_entries": len(self), f"{prefix}_max_entries": self.maxsize}


MISSING = _MISSING


class QueryVectorCache(CountingLru):
    """Query embeddings keyed by (model id, model revision, kind, query text)."""

    def get_or_compute(self, key: tuple[str, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
        value = self.get(key)
        if value is MISSING:
            # Computed outside the lock: two threads may embed the same new query once each,
            # which is cheaper than making every other query wait behind the model.
            value = np.array(compute(), dtype=np.float32)
            value.flags.writeable = False
            self.put(key, value)
        return value


class ResultCache(CountingLru):
    """Search results keyed by every search parameter plus the store's data generation."""

    def lookup(self, key: Hashable) -> list[Hit] | None:
        value = self.get(key)
        return None if value is MISSING else copy_hits(value)

    def remember(self, key: Hashable, hits: Sequence[Hit]) -> list[Hit]:
        """Keep ``hits`` (the cache owns them from now on) and return a copy for the caller."""
        if not self.maxsize:
            return list(hits)
        kept = tuple(hits)
        self.put(key, kept)
        return copy_hits(kept)


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_thaw(v) for v in value]
    return value


def copy_hits(hits: Sequence[Hit]) -> list[Hit]:
    """A copy sharing nothing mutable with ``hits``: the records are frozen, so only their dicts
    and lists need copying (10x cheaper than ``copy.deepcopy``, which costs more than a search)."""
    return [replace(h, ranks=dict(h.ranks), chunk=replace(h.chunk, metadata=_thaw(h.chunk.metadata)))
            for h in hits]


def freeze(value: Any) -> Hashable:
    """A hashable, order-independent form of a parameter value (filters are dicts)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [freeze(v) for v in value]
        return ("set", tuple(sorted(items, key=repr))) if isinstance(value, (set, frozenset)) else tuple(items)
    if isinstance(value, (str, int, float, bool, type(None))):
        # Type-tagged: True, 1 and 1.0 are equal in Python but may filter differently.
        return (type(value).__name__, value)
    return (type(value).__name__, repr(value))


__all__ = ["MISSING", "CountingLru", "QueryVectorCache", "ResultCache", "copy_hits", "freeze"]
