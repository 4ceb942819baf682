"""Multi-vectors of the local store: several vectors per chunk (token vectors of a
late-interaction model, for MaxSim re-ranking), kept in SQLite beside the chunks.

    store.upsert_multivectors(chunk_ids, arrays)      # each (tokens, dim)
    store.multivectors(chunk_ids)                     # {chunk_id: array}
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from ragline.errors import StoreError
from ragline.store.local.db import chunked

# Several vectors per chunk (token vectors of a late-interaction model, for MaxSim re-ranking).
# Keyed by the chunk's row id, which is never reused; the trigger deletes them with their chunk
# on every path that deletes chunks.
_MULTIVECTOR_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunk_multivectors (
    chunk INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    vectors BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS chunk_multivectors_follow_chunk AFTER DELETE ON chunks
BEGIN DELETE FROM chunk_multivectors WHERE chunk = old.id; END;
"""


class MultivectorStore:
    """Mixed into ``LocalStore``."""

    db: sqlite3.Connection
    namespace: str
    _lock: threading.RLock

    if False:  # for type checkers: provided by LocalStore
        def transaction(self) -> AbstractContextManager[None]: ...
        def get_meta(self, key: str) -> str | None: ...
        def set_meta(self, key: str, value: str) -> None: ...

    # ----- multi-vectors (late interaction) ----------------------------------------------------
    def upsert_multivectors(self, chunk_ids: Sequence[str], arrays: Sequence[np.ndarray]) -> int:
        """Store (or replace) each chunk's token vectors, as float16; returns how many were stored.

        Every array is (tokens, dim) with one dim for the whole store; the chunks must exist.
        """
        if len(chunk_ids) != len(arrays):
            raise StoreError(f"{len(chunk_ids)} chunk ids but {len(arrays)} multi-vector arrays")
        if not chunk_ids:
            return 0
        dims = {np.asarray(a).shape[1] for a in arrays if np.asarray(a).ndim == 2}
        if any(np.asarray(a).ndim != 2 for a in arrays) or len(dims) != 1:
            raise StoreError("multi-vectors must be 2-d arrays (tokens, dim) with one dim for all")
        dim = dims.pop()
        with self.transaction():
            known = self.get_meta("multivector_dim")
            if known is not None and int(known) != dim:
                raise StoreError(f"multi-vectors have dimension {dim} but this store holds "
                                 f"{known}-d multi-vectors (another model? use a new store)")
            rowids: dict[str, int] = {}
            for part in chunked(list(chunk_ids)):
                marks = ",".join("?" * len(part))
                rowids.update(self.db.execute(
                    f"SELECT chunk_id, id FROM chunks WHERE namespace = ? AND chunk_id IN ({marks})",
                    (self.namespace, *part)).fetchall())
            unknown = [c for c in chunk_ids if c not in rowids]
            if unknown:
                raise StoreError(f"{len(unknown)} chunk(s) are not in the store (e.g. {unknown[0]}); "
                                 "upsert the chunks before their multi-vectors")
            self.db.executemany(
                "INSERT OR REPLACE INTO chunk_multivectors (chunk, n, dim, vectors) VALUES (?, ?, ?, ?)",
                [(rowids[c], len(a), dim, np.asarray(a, dtype=np.float16).tobytes())
                 for c, a in zip(chunk_ids, arrays)])
            self.set_meta("multivector_dim", str(dim))
            self.set_meta("multivector_seq", str(int(self.get_meta("multivector_seq") or 0) + 1))
        return len(chunk_ids)

    def multivectors(self, chunk_ids: Sequence[str], dtype: Any = np.float32) -> dict[str, np.ndarray]:
        """{chunk_id: (tokens, dim) array} for the chunks that have multi-vectors. With
        ``dtype=np.float16`` the arrays are read-only views of the stored bytes (no conversion)."""
        found: dict[str, np.ndarray] = {}
        for part in chunked(list(chunk_ids)):
            marks = ",".join("?" * len(part))
            with self._lock:
                rows = self.db.execute(
                    "SELECT c.chunk_id, m.n, m.dim, m.vectors FROM chunks c JOIN chunk_multivectors m"
                    f" ON m.chunk = c.id WHERE c.namespace = ? AND c.chunk_id IN ({marks})",
                    (self.namespace, *part)).fetchall()
            for chunk_id, n, dim, blob in rows:
                stored = np.frombuffer(blob, dtype=np.float16).reshape(n, dim)
                found[chunk_id] = stored if dtype == np.float16 else stored.astype(dtype)
        return found

    def chunks_without_multivectors(self, limit: int = 256) -> list[tuple[str, str]]:
        """(chunk_id, text) of up to ``limit`` chunks that have no multi-vectors yet."""
        return self.db.execute(
            "SELECT c.chunk_id, c.text FROM chunks c LEFT JOIN chunk_multivectors m ON m.chunk = c.id"
            " WHERE c.namespace = ? AND m.chunk IS NULL ORDER BY c.id LIMIT ?",
            (self.namespace, limit)).fetchall()

    def multivector_stats(self) -> dict[str, int]:
        chunks, vectors, size = self.db.execute(
            "SELECT count(*), coalesce(sum(m.n), 0), coalesce(sum(length(m.vectors)), 0)"
            " FROM chunk_multivectors m JOIN chunks c ON c.id = m.chunk WHERE c.namespace = ?",
            (self.namespace,)).fetchone()
        return {"multivector_chunks": chunks, "multivector_vectors": vectors, "multivector_bytes": size}
