"""Content-addressed embedding cache: unchanged text is never embedded twice.

    cache = EmbeddingCache(db, model_id, revision)
    vectors, missing = cache.lookup(text_hashes)

Key = hash(model id, model revision incl. backend and pooling, text hash): a changed model can
neither reuse nor invalidate by accident. Shared by every namespace of a store and kept across
runs; each row also names its model, so ``ragline cache stats|clear`` can report and clear per
model. Lifetime hit/miss counts are kept in the store's meta table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np
import xxhash

from ragline.store.local.db import chunked

_COUNTERS = ("cache:hits", "cache:misses")


class EmbeddingCache:
    def __init__(self, db: sqlite3.Connection, model_id: str, revision: str):
        self.db = db
        self.model = f"{model_id}@{revision}"
        self.prefix = f"{model_id}\x1f{revision}\x1f".encode()
        self.hits = 0
        self.misses = 0

    def key(self, text_hash: str) -> bytes:
        return xxhash.xxh3_128_digest(self.prefix + text_hash.encode())

    def lookup(self, text_hashes: Sequence[str]) -> tuple[dict[int, np.ndarray], list[int]]:
        """Returns {position: vector} for cached texts and the positions that still need embedding."""
        keys = [self.key(h) for h in text_hashes]
        found: dict[bytes, bytes] = {}
        for part in chunked(list(set(keys))):
            marks = ",".join("?" * len(part))
            found.update(self.db.execute(f"SELECT key, vector FROM embed_cache WHERE key IN ({marks})", part))
        cached = {i: np.frombuffer(found[k], dtype=np.float32) for i, k in enumerate(keys) if k in found}
        missing = [i for i in range(len(keys)) if i not in cached]
        self.hits += len(cached)
        self.misses += len(missing)
        return cached, missing

    def store(self, text_hashes: Sequence[str], vectors: np.ndarray) -> None:
        self.db.executemany("INSERT OR IGNORE INTO embed_cache (key, vector, model) VALUES (?, ?, ?)",
                            [(self.key(h), np.asarray(v, dtype=np.float32).tobytes(), self.model)
                             for h, v in zip(text_hashes, vectors)])

    def size(self) -> int:
        return self.db.execute("SELECT count(*) FROM embed_cache").fetchone()[0]

    def record_counts(self, hits: int, misses: int) -> None:
        """Add a run's hits and misses to the lifetime counters (call inside a transaction)."""
        for key, value in zip(_COUNTERS, (hits, misses)):
            self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                            "value = CAST(value AS INTEGER) + excluded.value", (key, str(value)))

    def stats(self) -> dict[str, Any]:
        models = [{"model": model or "(unrecorded)", "entries": n, "mib": round((size or 0) / 2**20, 2)}
                  for model, n, size in self.db.execute(
                      "SELECT model, count(*), sum(length(vector) + length(key)) FROM embed_cache "
                      "GROUP BY model ORDER BY count(*) DESC")]
        counts = dict(self.db.execute(f"SELECT key, value FROM meta WHERE key IN {_COUNTERS}").fetchall())
        hits, misses = int(counts.get("cache:hits", 0)), int(counts.get("cache:misses", 0))
        return {"entries": sum(m["entries"] for m in models), "models": models,
                "lifetime_hits": hits, "lifetime_misses": misses,
                "lifetime_hit_rate": round(hits / (hits + misses), 4) if hits + misses else None}

    def clear(self, model: str | None = None) -> int:
        """Delete every entry, or only those of one model (``model_id@revision`` as in stats)."""
        if model is None:
            removed = self.db.execute("DELETE FROM embed_cache").rowcount
            self.db.execute(f"DELETE FROM meta WHERE key IN {_COUNTERS}")
        else:
            removed = self.db.execute("DELETE FROM embed_cache WHERE model = ?", (model,)).rowcount
        return removed
