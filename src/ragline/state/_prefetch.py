"""Batched look-ups for a state behind a network round trip: a run announces the keys it is
about to ask for (one parsed file's documents), the first question loads all of them in one
query, and a write to the state in between makes the next question reload what is left.

    loader = Prefetch(lambda keys: {k: fetch(k) for k in keys}, generation=lambda: state.writes)
    loader.want(doc_ids)
    found, value = loader.get(doc_ids[0])   # one query for every wanted key
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Prefetch(Generic[K]):
    def __init__(self, load: Callable[[list[K]], dict[K, Any]], generation: Callable[[], int]):
        self._load, self._generation = load, generation
        self._wanted: dict[K, None] = {}  # announced and not asked for yet, in order
        self._values: dict[K, Any] = {}
        self._loaded_at: int | None = None

    def want(self, keys: Iterable[K]) -> None:
        self._wanted = dict.fromkeys(keys)
        self._values, self._loaded_at = {}, None

    def get(self, key: K) -> tuple[bool, Any]:
        """(True, value) for an announced key (value None when the state has none), else (False, None)."""
        if key not in self._wanted:
            return False, None
        if self._loaded_at is None or self._loaded_at != self._generation():
            self._loaded_at = self._generation()  # (read first: the load itself writes nothing)
            self._values = self._load(list(self._wanted))
        del self._wanted[key]
        return True, self._values.get(key)
