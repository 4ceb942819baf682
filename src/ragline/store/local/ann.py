"""The derived dense index: faiss HNSW over the vectors in SQLite, optionally quantized.

    ann = AnnIndex(dim=384, dtype="int8")
    ann.add(rowids, vectors)
    hits = ann.search(query, k=10, fetch_vectors=store_vectors)   # [(rowid, score), ...]

``dtype`` says how the index holds each vector (the SQLite copy is always float16):

============  =============================================  ===========  ===============
dtype         faiss index                                    bytes/dim    candidates per k
============  =============================================  ===========  ===============
float32       IndexHNSWFlat                                  4            1 (exact)
float16       IndexHNSWSQ, QT_fp16                           2            1 (as exact as SQLite)
int8          IndexHNSWSQ, QT_8bit (per-dimension range)     1            4
binary        IndexBinaryHNSW over sign bits (Hamming)       1/8          16
============  =============================================  ===========  ===============

Quantized dtypes (int8, binary) over-fetch ``RESCORE_FACTOR[dtype] * k`` candidates and re-rank
them by the exact inner product with the full-precision vectors read back from SQLite (the
float16 blobs, converted to float32), so the scores returned are true cosines and most of the
recall lost to quantization comes back. Measured by ``ragline bench search`` at 200k expanded
real embeddings: int8 0.947 -> 0.967 recall@10 (float32: 0.968), binary 0.232 -> 0.824.

faiss HNSW cannot remove vectors, so a delete marks the position dead and searches pass an
``IDSelectorBitmap`` of live (and filter-matching) positions; once a quarter of the index is
dead it is rebuilt from SQLite. Selective filters skip the graph and scan their candidates
(every faiss storage, binary included, takes the same selector), so a filter matching 0.1% of
the corpus still returns k results when k exist.

int8 learns each dimension's range from the vectors it is trained on: the first batch added.
It retrains (the store rebuilds it from SQLite) whenever it has grown to ``RETRAIN_GROWTH`` times
the set it was trained on, until that set reaches ``TRAIN_MAX`` vectors.

The file holds the graph, the position -> SQLite row map, the dtype and the change sequence it
reflects, written atomically (temp file + rename), and a hash of the graph file, so ``verify``
finds a graph file that changed on disk; ``code_mismatches`` compares a sample of stored vectors
with what SQLite's vectors encode to.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragline.errors import ConfigError

VECTOR_DTYPES = ("float32", "float16", "int8", "binary")
# Chosen by `ragline bench search` on 200k expanded real MiniLM embeddings (README's table):
# float32 and (rescored) int8 reach the same recall@10, but only float32 keeps the dense p50
# under 1 ms; int8 is the choice when memory matters (2.75x smaller, ~0.5 ms slower).
DEFAULT_VECTOR_DTYPE = "float32"
# Candidates fetched per requested result before exact rescoring from SQLite; 1 = no rescoring.
RESCORE_FACTOR = {"float32": 1, "float16": 1, "int8": 4, "binary": 16}
# Binary only: the Hamming search fetches this many times more candidates, and the query's
# float32 vector against their sign bits (asymmetric distance, no SQLite read) keeps the best
# RESCORE_FACTOR x k of them for exact rescoring. Hamming distance throws away the query's
# magnitudes as well as the documents'; the asymmetric score keeps the query's.
BINARY_PREFETCH = 4

# Below this many candidates a filtered search is exact (brute force) instead of graph-based.
EXACT_LIMIT = 4096
HNSW_M = 32
EF_CONSTRUCTION = 80
# 96 gave recall@10 0.942-0.958 at 200k vectors (below the 0.95 goal), 128 gave 0.975.
EF_SEARCH = 128
TRAIN_MAX = 65536
RETRAIN_GROWTH = 4

# fetch_vectors(rowids) -> (rowids still stored, their float32 vectors), read from SQLite.
VectorFetcher = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class DtypeChanged(ValueError):
    """The saved index holds another dtype than the one asked for: rebuild, don't load it."""


def check_dtype(dtype: str) -> str:
    if dtype not in VECTOR_DTYPES:
        raise ConfigError(f"unknown vector dtype {dtype!r}; use one of {', '.join(VECTOR_DTYPES)}")
    return dtype


def binary_codes(vectors: np.ndarray) -> np.ndarray:
    """Sign bits, packed 8 per byte (the dimension is padded to a multiple of 8 with zeros)."""
    return np.packbits(np.asarray(vectors) > 0, axis=-1)


class AnnIndex:
    def __init__(self, dim: int | None = None, dtype: str = "float32"):
        self.dim = dim
        self.dtype = check_dtype(dtype)
        # A faiss index (float or binary HNSW); faiss's stubs cannot express the union.
        self.index: Any = None  # created at the first add, when the dimension is known
        self.rowids = np.zeros(0, dtype=np.int64)   # position -> SQLite row id
        self.alive = np.zeros(0, dtype=bool)
        self.position: dict[int, int] = {}          # SQLite row id -> position
        self.applied_seq = 0
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None  # rowids sorted, and their positions
        self.trained_on = 0                         # vectors int8 learnt its ranges from

    def __len__(self) -> int:
        return len(self.position)

    @property
    def dead(self) -> int:
        return len(self.rowids) - len(self.position)

    @property
    def rescore_factor(self) -> int:
        return RESCORE_FACTOR[self.dtype]

    def prepare(self, sample: np.ndarray) -> None:
        """Create the faiss index, training int8 ranges on ``sample`` (before any add)."""
        if self.index is None and len(sample):
            self._create(np.ascontiguousarray(sample, dtype=np.float32))

    def _create(self, vectors: np.ndarray) -> None:
        import faiss

        self.dim = vectors.shape[1]
        if self.dtype == "binary":
            self.index = faiss.IndexBinaryHNSW(8 * ((self.dim + 7) // 8), HNSW_M)
        elif self.dtype == "float32":
            self.index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        else:
            kind = faiss.ScalarQuantizer.QT_fp16 if self.dtype == "float16" else faiss.ScalarQuantizer.QT_8bit
            self.index = faiss.IndexHNSWSQ(self.dim, kind, HNSW_M, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        if not self.index.is_trained:
            sample = vectors
            if len(sample) > TRAIN_MAX:
                sample = sample[np.random.default_rng(0).choice(len(sample), TRAIN_MAX, replace=False)]
            self.index.train(sample)
            self.trained_on = len(sample)

    def _encode(self, vectors: np.ndarray) -> np.ndarray:
        if self.dtype == "binary":
            return binary_codes(vectors)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def add(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        fresh = np.array([r not in self.position for r in rowids.tolist()], dtype=bool)
        if not fresh.any():
            return
        rowids, vectors = rowids[fresh], np.ascontiguousarray(vectors[fresh], dtype=np.float32)
        if self.index is None:
            self._create(vectors)
        start = len(self.rowids)
        self.index.add(self._encode(vectors))
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

    def needs_retraining(self) -> bool:
        return (0 < self.trained_on < TRAIN_MAX
                and len(self.position) >= RETRAIN_GROWTH * self.trained_on)

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

    def needs_rebuild(self) -> bool:
        """Too many tombstones, or int8 ranges learnt from a set much smaller than the index."""
        return self.needs_compaction() or self.needs_retraining()

    # ----- search --------------------------------------------------------------------------
    def _query_codes(self, queries: np.ndarray) -> np.ndarray:
        queries = np.ascontiguousarray(queries.reshape(len(queries), -1), dtype=np.float32)
        return binary_codes(queries) if self.dtype == "binary" else queries

    def _search_params(self, mask: np.ndarray | None, depth: int, exact: bool):  # type: ignore[no-untyped-def]
        import faiss

        params: Any = faiss.SearchParameters() if exact else faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        if not exact:
            params.efSearch = max(EF_SEARCH, depth)
        keep = None
        if mask is not None:
            keep = np.packbits(mask, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(keep))
        return params, keep  # the caller holds ``keep`` alive while faiss reads it

    def candidates(self, queries: np.ndarray, depth: int, allowed_rowids: np.ndarray | None = None
                   ) -> list[list[tuple[int, float]]]:
        """Up to ``depth`` (rowid, index score) pairs per query, best first, before rescoring."""
        if not self.position or depth <= 0 or self.index is None:
            return [[] for _ in range(len(queries))]
        index, exact = self.index, False
        if allowed_rowids is not None:
            positions = self._live_positions(allowed_rowids)
            if len(positions) == 0:
                return [[] for _ in range(len(queries))]
            mask = np.zeros(len(self.rowids), dtype=bool)
            mask[positions] = True
            if len(positions) <= EXACT_LIMIT:
                import faiss

                # Scan the filter's candidates in the graph's own storage, same codes, no graph.
                storage = self.index.storage
                index = faiss.downcast_IndexBinary(storage) if self.dtype == "binary" \
                    else faiss.downcast_index(storage)
                exact = True
        elif self.dead:
            mask = self.alive
        else:
            mask = None
        params, _keep = self._search_params(mask, depth, exact)
        fetch = depth * BINARY_PREFETCH if self.dtype == "binary" else depth
        if self.dtype == "binary" and not exact:
            params.efSearch = max(EF_SEARCH, fetch)
        distances, positions = index.search(self._query_codes(queries), fetch, params=params)
        rowids = self.rowids
        if self.dtype == "binary":
            return [self._asymmetric(query, row_positions[row_positions >= 0], depth)
                    for query, row_positions in zip(queries.reshape(len(positions), -1), positions)]
        scores = distances.tolist()  # inner products (binary returned above)
        return [[(r, s) for r, s, p in zip(rowids[row_positions].tolist(), row_scores, row_positions.tolist())
                 if p >= 0] for row_scores, row_positions in zip(scores, positions)]

    def _asymmetric(self, query: np.ndarray, positions: np.ndarray, depth: int) -> list[tuple[int, float]]:
        """The ``depth`` best of the Hamming candidates by the cosine between the float query and
        each candidate's sign vector (+-1 per dimension)."""
        import faiss

        if len(positions) == 0:
            return []
        storage: Any = faiss.downcast_IndexBinary(self.index.storage)
        # A view of the codes faiss holds (valid until the next add; the store lock covers it).
        codes = faiss.rev_swig_ptr(storage.xb.data(), storage.ntotal * storage.code_size)
        codes = codes.reshape(storage.ntotal, storage.code_size)
        dim = len(query)
        signs = np.unpackbits(codes[positions], axis=1, count=dim).astype(np.float32) * 2.0 - 1.0
        scores = signs @ np.asarray(query, dtype=np.float32) / np.sqrt(dim)
        top = np.argsort(-scores, kind="stable")[:depth]
        return list(zip(self.rowids[positions[top]].tolist(), scores[top].tolist()))

    def code_mismatches(self, rowids: np.ndarray, vectors: np.ndarray) -> int:
        """How many of these rows' codes in the index differ from the codes their ``vectors``
        (read from SQLite) encode to: 0 for an intact index, whatever the dtype, since the index
        was filled from exactly those vectors. Rows the index lacks count as mismatches."""
        import faiss

        positions = np.array([self.position.get(int(r), -1) for r in rowids.tolist()], dtype=np.int64)
        missing = int((positions < 0).sum())
        present = positions >= 0
        if self.index is None or not present.any():
            return missing + int(present.sum())
        storage: Any
        if self.dtype == "binary":
            storage = faiss.downcast_IndexBinary(self.index.storage)
            stored = faiss.rev_swig_ptr(storage.xb.data(), storage.ntotal * storage.code_size)
            expected = binary_codes(np.ascontiguousarray(vectors[present], dtype=np.float32))
        else:
            storage = faiss.downcast_index(self.index.storage)
            stored = faiss.rev_swig_ptr(storage.codes.data(), storage.ntotal * storage.code_size)
            expected = storage.sa_encode(np.ascontiguousarray(vectors[present], dtype=np.float32))
        stored = stored.reshape(storage.ntotal, storage.code_size)[positions[present]]
        return missing + int((stored != expected.reshape(stored.shape)).any(axis=1).sum())

    def stored_vectors(self, rowids: Sequence[int]) -> np.ndarray | None:
        """The float32 index's own copies of these rows' vectors (the SQLite float16 values,
        widened), or None when it holds none: another dtype, or a row it lacks."""
        if self.dtype != "float32" or self.index is None:
            return None
        positions = [self.position.get(rowid, -1) for rowid in rowids]
        if not positions or min(positions) < 0:
            return None
        return self.index.reconstruct_batch(np.asarray(positions, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, allowed_rowids: np.ndarray | None = None,
               fetch_vectors: VectorFetcher | None = None) -> list[tuple[int, float]]:
        """The k nearest live rows; quantized dtypes are rescored when ``fetch_vectors`` is given."""
        return self.search_batch(query.reshape(1, -1), k, allowed_rowids, fetch_vectors)[0]

    def search_batch(self, queries: np.ndarray, k: int, allowed_rowids: np.ndarray | None = None,
                     fetch_vectors: VectorFetcher | None = None) -> list[list[tuple[int, float]]]:
        if k <= 0:
            return [[] for _ in range(len(queries))]
        rescore = fetch_vectors is not None and self.rescore_factor > 1
        found = self.candidates(queries, k * self.rescore_factor if rescore else k, allowed_rowids)
        if not rescore:
            return [hits[:k] for hits in found]
        return rescored(queries, found, k, fetch_vectors)  # type: ignore[arg-type]

    # ----- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically: the graph to its own file (``ann-<token>.faiss``, written by faiss
        straight to disk, fsynced, renamed into place), then the row map to ``path`` naming it
        (partial file, fsync, rename: the commit point). Graph files no map names any more are
        removed after. Serializing the graph into memory instead held it twice more while it ran
        (+650 MiB over a 420 MiB process at 200k float32 vectors)."""
        import faiss

        graph_name, graph_hash = "", ""
        graph_partial = partial = None
        try:
            if self.index is not None:
                graph_name = f"{path.stem}-{uuid.uuid4().hex[:16]}.faiss"
                graph_partial = path.with_name(f"{graph_name}.partial-{os.getpid()}")
                write = faiss.write_index_binary if self.dtype == "binary" else faiss.write_index
                write(self.index, str(graph_partial))
                graph_hash = file_hash(graph_partial, sync=True)
                os.replace(graph_partial, path.with_name(graph_name))
            partial = path.with_suffix(f".partial-{os.getpid()}")
            with open(partial, "wb") as handle:
                np.savez(handle, graph_file=np.array(graph_name), graph_hash=np.array(graph_hash),
                         rowids=self.rowids, alive=self.alive,
                         applied_seq=np.int64(self.applied_seq), dim=np.int64(self.dim or 0),
                         dtype=np.array(self.dtype), trained_on=np.int64(self.trained_on))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        except BaseException:
            # Disk full or an I/O error: leave no partial file, nor a graph no map names.
            # (The map was not replaced, so the new graph file is named by nothing.)
            for leftover in (graph_partial, partial, path.with_name(graph_name) if graph_name else None):
                if leftover is not None:
                    leftover.unlink(missing_ok=True)
            raise
        for stale in path.parent.glob(f"{path.stem}-*.faiss"):
            if stale.name != graph_name:
                stale.unlink(missing_ok=True)

    def nbytes(self) -> int:
        """Size of the serialized graph and codes (what the index costs in memory, roughly)."""
        import faiss

        if self.index is None:
            return 0
        if self.dtype == "binary":
            return int(faiss.serialize_index_binary(self.index).nbytes)
        return int(faiss.serialize_index(self.index).nbytes)

    @classmethod
    def load(cls, path: Path, dtype: str | None = None) -> AnnIndex:
        """Raises (OSError, ValueError, ...) when the file is missing or damaged, and
        ``DtypeChanged`` (before reading the graph) when it holds another dtype than ``dtype``."""
        import faiss

        with np.load(path, allow_pickle=False) as data:
            # Files written before quantization existed hold a float32 graph and no dtype.
            saved = str(data["dtype"]) if "dtype" in data.files else "float32"
            if dtype is not None and saved != dtype:
                raise DtypeChanged(f"the saved index holds {saved}, not {dtype}")
            dtype = saved
            ann = cls(int(data["dim"]) or None, dtype)
            if "graph_file" in data.files:
                graph_name = str(data["graph_file"])
                if graph_name:
                    graph = path.with_name(graph_name)
                    if not graph.is_file():
                        raise FileNotFoundError(f"{graph} (named by {path.name}) is missing")
                    read = faiss.read_index_binary if dtype == "binary" else faiss.read_index
                    ann.index = read(str(graph))
            elif len(data["graph"]):  # the graph inside the archive, as files before this held it
                ann.index = (faiss.deserialize_index_binary(data["graph"]) if dtype == "binary"
                             else faiss.deserialize_index(data["graph"]))
            ann.rowids = data["rowids"].astype(np.int64)
            ann.alive = data["alive"].astype(bool)
            ann.applied_seq = int(data["applied_seq"])
            ann.trained_on = int(data["trained_on"]) if "trained_on" in data.files else 0
        if (ann.index.ntotal if ann.index is not None else 0) != len(ann.rowids):
            raise ValueError("ANN index graph and row map disagree")
        ann.position = {int(r): i for i, r in enumerate(ann.rowids.tolist()) if ann.alive[i]}
        return ann


def file_hash(path: Path, *, sync: bool = False) -> str:
    """xxh3-128 of a file's bytes, read in 4 MiB blocks (``sync``: fsync it first)."""
    import xxhash

    digest = xxhash.xxh3_128()
    with open(path, "rb+" if sync else "rb") as handle:
        if sync:
            os.fsync(handle.fileno())
        while block := handle.read(4 * 2**20):
            digest.update(block)
    return digest.hexdigest()


def graph_file_problem(row_map: Path) -> str | None:
    """Why the graph file named by ``row_map`` is not the one that was saved (None: it is, or
    the map predates the recorded hash)."""
    with np.load(row_map, allow_pickle=False) as data:
        if "graph_hash" not in data.files or not str(data["graph_hash"]):
            return None
        graph, expected = row_map.with_name(str(data["graph_file"])), str(data["graph_hash"])
    if file_hash(graph) != expected:
        return f"ann graph file {graph.name} has changed on disk since it was written (hash mismatch)"
    return None


def rescored(queries: np.ndarray, found: list[list[tuple[int, float]]], k: int,
             fetch_vectors: VectorFetcher) -> list[list[tuple[int, float]]]:
    """Re-rank each query's candidates by the exact inner product with the stored vectors."""
    wanted = np.unique(np.array([rowid for hits in found for rowid, _ in hits], dtype=np.int64))
    if len(wanted) == 0:
        return [[] for _ in found]
    rowids, vectors = fetch_vectors(wanted)
    row_of = {int(r): i for i, r in enumerate(rowids.tolist())}
    results: list[list[tuple[int, float]]] = []
    for query, hits in zip(queries.reshape(len(found), -1), found):
        rows = [row_of[r] for r, _ in hits if r in row_of]  # absent: deleted since the last sync
        if not rows:
            results.append([])
            continue
        scores = vectors[rows] @ np.asarray(query, dtype=np.float32)
        top = np.argsort(-scores, kind="stable")[:k]
        results.append([(int(rowids[rows[i]]), float(scores[i])) for i in top])
    return results
