"""Content-addressed embedding cache: unchanged text is never embedded twice.

    cache = EmbeddingCache(db, embedder)
    vectors, missing = cache.lookup(texts)

Key = hash(model id, model revision incl. backend and pooling, text hash): a changed model can
neither reuse nor invalidate by accident. Shared by every namespace of a store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
import xxhash

from ragline.store.local.db import chunked


class EmbeddingCache:
    def __init__(self, db: sqlite3.Connection, model_id: str, revision: str):
        self.db = db
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
        self.db.executemany("INSERT OR IGNORE INTO embed_cache VALUES (?, ?)",
                            [(self.key(h), np.asarray(v, dtype=np.float32).tobytes())
                             for h, v in zip(text_hashes, vectors)])

    def size(self) -> int:
        return self.db.execute("SELECT count(*) FROM embed_cache").fetchone()[0]
