"""The derived dense index: faiss HNSW over the vectors in SQLite.

faiss HNSW cannot remove vectors, so a delete marks the position dead and searches pass an
``IDSelectorBitmap`` of live (and filter-matching) positions; once a quarter of the index is
dead it is rebuilt. Selective filters skip the graph and search their candidates exactly, so a
filter matching 0.1% of the corpus still returns k results when k exist.

The file holds the graph, the position -> SQLite row map and the change sequence it reflects,
written atomically (temp file + rename).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

# Below this many candidates a filtered search is exact (brute force) instead of graph-based.
EXACT_LIMIT = 4096
HNSW_M = 32
EF_CONSTRUCTION = 80
EF_SEARCH = 96


class AnnIndex:
    def __init__(self, dim: int | None = None):
        self.dim = dim
        self.index = None  # created at the first add, when the dimension is known
        self.rowids = np.zeros(0, dtype=np.int64)   # position -> SQLite row id
        self.alive = np.zeros(0, dtype=bool)
        self.position: dict[int, int] = {}          # SQLite row id -> position
        self.applied_seq = 0
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None  # rowids sorted, and their positions

    def __len__(self) -> int:
        return len(self.position)

    @property
    def dead(self) -> int:
        return len(self.rowids) - len(self.position)

    def add(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        fresh = np.array([r not in self.position for r in rowids.tolist()], dtype=bool)
        if not fresh.any():
            return
        rowids, vectors = rowids[fresh], np.ascontiguousarray(vectors[fresh], dtype=np.float32)
        if self.index is None:
            import faiss

            self.dim = vectors.shape[1]
            self.index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = EF_CONSTRUCTION
        start = len(self.rowids)
        self.index.add(vectors)
        self.rowids = np.concatenate([self.rowids, rowids])
        self.alive = np.concatenate([self.alive, np.ones(len(rowids), dtype=bool)])
        for offset, rowid in enumerate(rowids.tolist()):
            self.position[rowid] = start + offset

    def remove(self, rowids: list[int]) -> None:
        for rowid in rowids:
            pos = self.position.pop(rowid, None)
            if pos is not None:
                self.alive[pos] = False

    def needs_compaction(self) -> bool:
        return self.dead > 1000 and self.dead > len(self.rowids) // 4

    def compacted(self) -> AnnIndex:
        live = np.flatnonzero(self.alive)
        fresh = AnnIndex(self.dim)
        if len(live):
            fresh.add(self.rowids[live], self.index.reconstruct_batch(live))
        fresh.applied_seq = self.applied_seq
        return fresh

    def _live_positions(self, rowids: np.ndarray) -> np.ndarray:
        """Positions of the live vectors among ``rowids`` (ids absent from the index are skipped)."""
        if self._sorted is None or len(self._sorted[0]) != len(self.rowids):
            order = np.argsort(self.rowids, kind="stable")  # rows only grow between rebuilds
            self._sorted = (self.rowids[order], order)
        sorted_rowids, order = self._sorted
        if len(sorted_rowids) == 0:
            return np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(sorted_rowids, rowids), len(sorted_rowids) - 1)
        positions = order[at[sorted_rowids[at] == rowids]]
        return positions[self.alive[positions]]

    def search(self, query: np.ndarray, k: int, allowed_rowids: np.ndarray | None = None
               ) -> list[tuple[int, float]]:
        import faiss

        if not self.position or k <= 0 or self.index is None:
            return []
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed_rowids is not None:
            positions = self._live_positions(allowed_rowids)
            if len(positions) == 0:
                return []
            if len(positions) <= EXACT_LIMIT:
                vectors = self.index.reconstruct_batch(positions)
                scores = vectors @ query[0]
                top = np.argsort(-scores)[:k]
                return [(int(self.rowids[positions[i]]), float(scores[i])) for i in top]
            mask = np.zeros(len(self.rowids), dtype=bool)
            mask[positions] = True
        elif self.dead:
            mask = self.alive
        else:
            mask = None
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(EF_SEARCH, k)
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
            params.sel = selector
        scores, positions = self.index.search(query, k, params=params)
        return [(int(self.rowids[p]), float(s)) for s, p in zip(scores[0], positions[0]) if p >= 0]

    def save(self, path: Path) -> None:
        import faiss

        buffer = io.BytesIO()
        graph = faiss.serialize_index(self.index) if self.index is not None else np.zeros(0, np.uint8)
        np.savez(buffer, graph=graph, rowids=self.rowids, alive=self.alive,
                 applied_seq=np.int64(self.applied_seq), dim=np.int64(self.dim or 0))
        partial = path.with_suffix(f".partial-{os.getpid()}")
        with open(partial, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> AnnIndex:
        """Raises (OSError, ValueError, ...) when the file is missing or damaged."""
        import faiss

        with np.load(path, allow_pickle=False) as data:
            ann = cls(int(data["dim"]) or None)
            if len(data["graph"]):
                ann.index = faiss.deserialize_index(data["graph"])
            ann.rowids = data["rowids"].astype(np.int64)
            ann.alive = data["alive"].astype(bool)
            ann.applied_seq = int(data["applied_seq"])
        if (ann.index.ntotal if ann.index is not None else 0) != len(ann.rowids):
            raise ValueError("ANN index graph and row map disagree")
        ann.position = {int(r): i for i, r in enumerate(ann.rowids.tolist()) if ann.alive[i]}
        return ann
