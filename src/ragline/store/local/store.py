"""``local:PATH`` — the embedded default store (no server).

    store = LocalStore(Path("ragline-data"), namespace="default")
    with store.transaction():
        store.upsert(chunks, vectors)
    store.flush()

    LocalStore(Path("ragline-data"), vector_dtype="binary")   # re-quantizes the ANN from SQLite

SQLite (``ragline.db``) is the source of truth. The HNSW and BM25 indexes under
``index/<folder>/`` are derived: each records the change sequence it has applied and
catches up from SQLite's change log when opened or searched, or is rebuilt from the chunk table.
Each namespace's folder is recorded in SQLite (``_layout.py``: injective, whatever the names),
and an inter-process lock lets several processes build, sync and read the same indexes.
A store on a read-only mount is opened read-only: searches work, nothing is written.

The ANN index's ``vector_dtype`` (float32, float16, int8 or binary; see ``ann.py``) is chosen when
the store is created and persisted in its meta table; opening it with another dtype records the
new one and rebuilds the ANN index from the float16 vectors in SQLite.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ragline._faults import crashpoint
from ragline.errors import ConfigError, StoreError
from ragline.records import Chunk, Hit
from ragline.store.base import Filter, metadata_tags
from ragline.store.filters import Condition, Not, is_native, metadata_numbers, parse_filter, to_sql
from ragline.store.local._changelog import ChangeLogSync
from ragline.store.local._derived import DerivedIndexFiles
from ragline.store.local._layout import (
    IndexLock,
    check_namespace,
    check_store_folder,
    index_dir_name,
    known_namespaces,
    migrate_layout,
    read_only_dir_name,
    recorded_dir_name,
    remove_leftovers,
    remove_uncommitted_segments,
    writable,
)
from ragline.store.local._multivector import _MULTIVECTOR_SCHEMA, MultivectorStore
from ragline.store.local._verify import VerifyingStore
from ragline.store.local.ann import DEFAULT_VECTOR_DTYPE, AnnIndex, check_dtype
from ragline.store.local.bm25 import DEFAULT_ANALYZER, Bm25Index
from ragline.store.local.db import chunked, connect, decode_vectors, encode_vector

# Row-id lists up to this long go to tantivy as they are (a term set of 4k ids costs ~2 ms).
SMALL_ROWID_SET = 4096
_CHUNK_COLUMNS = "id, chunk_id, doc_id, idx, text, start, end, token_count, content_hash, metadata"


def _row_to_chunk(row: tuple) -> Chunk:
    return Chunk(chunk_id=row[1], doc_id=row[2], index=row[3], text=row[4], start=row[5], end=row[6],
                 token_count=row[7], content_hash=row[8], metadata=json.loads(row[9]))


class LocalStore(DerivedIndexFiles, ChangeLogSync, MultivectorStore, VerifyingStore):
    def __init__(self, path: Path, namespace: str = "default", *, auto_sync: bool = True,
                 vector_dtype: str | None = None, create: bool = True):
        """``create=False`` (read-only commands): a store or namespace that does not exist is a
        ConfigError instead of being created."""
        self.path = Path(path)
        self.namespace = check_namespace(namespace)
        self.auto_sync = auto_sync
        check_store_folder(self.path)
        if not create and not (self.path / "ragline.db").is_file():
            raise ConfigError(f"no ragline store at {self.path} (ingest into it first, or check --store)")
        self.read_only = not writable(self.path)
        self._scratch: Path | None = None   # read-only stores: where tantivy may open its files
        self.db: sqlite3.Connection = None  # type: ignore[assignment]
        try:
            self.db = connect(self.path / "ragline.db", read_only=self.read_only)
            if not self.read_only:
                self.db.executescript(_MULTIVECTOR_SCHEMA)
                migrate_layout(self.db, self.path / "index")
            if not create and recorded_dir_name(self.db, namespace) is None \
                    and namespace not in known_namespaces(self.db):
                raise ConfigError(f"store {self.path} has no namespace {namespace!r} "
                                  f"(it has: {', '.join(map(repr, sorted(known_namespaces(self.db)))) or 'none'})")
            if self.read_only:
                folder = read_only_dir_name(self.db, self.path / "index", namespace)
            else:
                folder = index_dir_name(self.db, namespace)
        except sqlite3.Error as exc:
            if self.db is not None:
                self.db.close()
            raise StoreError(f"cannot open store at {self.path}: {exc}") from exc
        except BaseException:
            if self.db is not None:
                self.db.close()
            raise
        # No folder (a read-only store whose old layout gave this name none): indexes are built
        # in memory from SQLite.
        self.index_dir = self.path / "index" / (folder or ".none")
        self._files = IndexLock(None if self.read_only else self.index_dir / ".lock")
        if not self.read_only:
            try:
                self.index_dir.mkdir(parents=True, exist_ok=True)
                if self._files.try_exclusive():  # else someone is writing: they, or the next open, clean
                    try:
                        remove_leftovers(self.index_dir)
                        remove_uncommitted_segments(self.index_dir / "bm25")
                    finally:
                        self._files.release()
            except OSError as exc:
                self.db.close()
                raise StoreError(f"cannot prepare the index folder {self.index_dir}: {exc}") from exc
        self._ann: AnnIndex | None = None
        self._ann_saved: tuple[AnnIndex, int] | None = None  # what the file holds: skip re-saving it
        self._bm25: Bm25Index | None = None
        self.problems: list[str] = []   # what was found wrong with derived indexes on load
        self._tx_depth = 0
        self._lock = threading.RLock()
        self._retriever: ThreadPoolExecutor | None = None
        self.generation = 0
        self._synced_at: tuple[int, int] | None = None
        self.vector_dtype = self.get_meta("vector_dtype") or DEFAULT_VECTOR_DTYPE
        if vector_dtype is not None:
            self.set_vector_dtype(vector_dtype)

    # ----- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.db is None:
            return
        try:
            if (self._ann is not None or self._bm25 is not None) and not self.read_only:
                self.flush()
        finally:
            if self._retriever is not None:
                self._retriever.shutdown()
            if self._bm25 is not None:
                self._bm25.close()
            self._files.close()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
            self.db.close()
            self.db = None  # type: ignore[assignment]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite write transaction (nested calls join it). SQLite's failures (disk full,
        I/O error, read-only file) roll it back and become a StoreError."""
        with self._lock:
            if self.read_only:
                raise StoreError(f"the store at {self.path} is read-only (a read-only mount or file): "
                                 "it can be searched, not written")
            try:
                if self._tx_depth == 0:
                    self.db.execute("BEGIN IMMEDIATE")
                self._tx_depth += 1
                try:
                    yield
                except BaseException:
                    self._tx_depth -= 1
                    if self._tx_depth == 0 and self.db.in_transaction:  # SQLite may have rolled back
                        self.db.execute("ROLLBACK")
                    raise
                self._tx_depth -= 1
                if self._tx_depth == 0:
                    crashpoint("commit")
                    try:
                        self.db.execute("COMMIT")
                    except BaseException:
                        if self.db.in_transaction:
                            self.db.execute("ROLLBACK")
                        raise
                    self.generation += 1
            except StoreError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: {exc}") from exc

    # ----- settings persisted beside the data -------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (f"{self.namespace}:{key}",)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"{self.namespace}:{key}", value))

    @property
    def bm25_analyzer(self) -> str:
        return DEFAULT_ANALYZER

    def set_vector_dtype(self, dtype: str) -> None:
        """Persist how the ANN index quantizes vectors; a change rebuilds it from SQLite (lazily)."""
        check_dtype(dtype)
        with self._lock:
            if self.get_meta("vector_dtype") != dtype:
                with self.transaction():
                    self.set_meta("vector_dtype", dtype)
            self.vector_dtype = dtype
            if self._ann is not None and self._ann.dtype != dtype:
                self._ann = None  # the next use finds the dtype changed and rebuilds

    @property
    def dim(self) -> int | None:
        value = self.get_meta("dim")
        return int(value) if value else None

    # ----- writes ------------------------------------------------------------------------
    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        if len(chunks) != len(vectors):
            raise StoreError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return 0
        dim = self.dim
        if dim is not None and vectors.shape[1] != dim:
            raise StoreError(f"vectors have dimension {vectors.shape[1]} but this store holds "
                             f"{dim}-d vectors (built with another embedder? use a new store)")
        added = 0
        with self.transaction():
            if dim is None:
                self.set_meta("dim", str(vectors.shape[1]))
                self.set_meta("vector_dtype", self.vector_dtype)
            for chunk, vector in zip(chunks, vectors):
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO chunks (chunk_id, namespace, doc_id, idx, text, start, end,"
                    " token_count, content_hash, metadata, vector) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (chunk.chunk_id, self.namespace, chunk.doc_id, chunk.index, chunk.text, chunk.start,
                     chunk.end, chunk.token_count, chunk.content_hash,
                     json.dumps(chunk.metadata, ensure_ascii=False, sort_keys=True), encode_vector(vector)))
                if cursor.rowcount != 1:
                    continue  # already stored: upserts are idempotent
                rowid = cursor.lastrowid
                tags = metadata_tags({**chunk.metadata, "doc_id": chunk.doc_id})
                self.db.executemany("INSERT INTO chunk_tags VALUES (?, ?)", [(rowid, t) for t in tags])
                self.db.executemany("INSERT INTO chunk_nums VALUES (?, ?, ?)",
                                    [(rowid, key, number) for key, number in metadata_numbers(chunk.metadata)])
                self.db.execute("INSERT INTO changes (namespace, op, chunk) VALUES (?, 'add', ?)",
                                (self.namespace, rowid))
                added += 1
            crashpoint("write")
        return added

    def _delete_rows(self, where: str, values: list[str]) -> int:
        removed = 0
        with self.transaction():
            for part in chunked(values):
                marks = ",".join("?" * len(part))
                rowids = [r[0] for r in self.db.execute(
                    f"SELECT id FROM chunks WHERE namespace = ? AND {where} IN ({marks})",
                    (self.namespace, *part))]
                for ids in chunked(rowids):
                    id_marks = ",".join("?" * len(ids))
                    self.db.execute(f"DELETE FROM chunk_tags WHERE chunk IN ({id_marks})", ids)
                    self.db.execute(f"DELETE FROM chunk_nums WHERE chunk IN ({id_marks})", ids)
                    self.db.execute(f"DELETE FROM chunks WHERE id IN ({id_marks})", ids)
                    self.db.executemany("INSERT INTO changes (namespace, op, chunk) VALUES (?, 'del', ?)",
                                        [(self.namespace, r) for r in ids])
                removed += len(rowids)
        return removed

    def delete(self, doc_ids: Sequence[str]) -> int:
        return self._delete_rows("doc_id", list(doc_ids))

    def delete_chunks(self, chunk_ids: Sequence[str]) -> int:
        return self._delete_rows("chunk_id", list(chunk_ids))

    # ----- reads -------------------------------------------------------------------------
    def allowed_rowids(self, filter: Filter | None) -> np.ndarray | None:
        """Sorted row ids of the chunks that pass ``filter`` (None: no filter). Every row of this
        namespace that passes is there; rows of other namespaces may be too (the namespace's
        indexes do not hold them, so searches ignore them).

        Raises QueryError for a filter that cannot be understood (see ``ragline.store.filters``).
        """
        conditions = parse_filter(filter)
        return self._matching_rowids(conditions) if conditions else None

    def _matching_rowids(self, conditions: tuple[Condition, ...]) -> np.ndarray:
        sql, params = to_sql(conditions, self.namespace)
        rows = np.fromiter((r for (r,) in self.db.execute(sql, params)), dtype=np.int64)
        return np.unique(rows)  # positive conditions may also hold other namespaces' rows: harmless

    def _chunk_rows(self, rowids: list[int]) -> dict[int, tuple]:
        """Chunk rows by row id; rows deleted since the index was synced are absent."""
        rows: dict[int, tuple] = {}
        for ids in chunked(rowids):
            marks = ",".join("?" * len(ids))
            rows.update((r[0], r) for r in self.db.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE id IN ({marks}) AND namespace = ?", (*ids, self.namespace)))
        return rows

    def _hits(self, scored: list[tuple[int, float]], retriever: str) -> list[Hit]:
        if not scored:
            return []
        rows = self._chunk_rows([rowid for rowid, _ in scored])
        hits = []
        for rank, (rowid, score) in enumerate(scored, start=1):
            row = rows.get(rowid)
            if row is None:
                continue  # deleted since the index was synced
            chunk = _row_to_chunk(row)
            hits.append(Hit(chunk=chunk, score=score, uri=chunk.metadata.get("uri", ""),
                            ranks={retriever: rank}))
        return hits

    def search_vector(self, vector: np.ndarray, k: int, filter: Filter | None = None) -> list[Hit]:
        with self._lock:
            return self._hits(self.vector_candidates(vector, k, filter), "dense")

    def vector_candidates(self, vector: np.ndarray, k: int, filter: Filter | None = None
                          ) -> list[tuple[int, float]]:
        """(row id, score) of the top k, best first, without reading the chunks: callers that
        fuse several lists fetch only the rows they keep (``fetch_chunks``)."""
        with self._lock:
            self._maybe_sync()
            return self._vector_search(vector, k, filter)()

    def hybrid_candidates(self, vector: np.ndarray, query: str, k: int, filter: Filter | None = None
                          ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """``vector_candidates`` and ``text_candidates`` at once: the ANN search runs on a second
        thread while BM25, the longer of the two, runs on this one (faiss and tantivy both release
        the GIL). The store lock is held throughout, so no write changes either index under them;
        the filter is resolved in SQLite before either starts."""
        with self._lock:
            self._maybe_sync()
            dense_search = self._vector_search(vector, k, filter)
            text_search = self._text_search(query, k, filter)
            if self._retriever is None:
                self._retriever = ThreadPoolExecutor(1, thread_name_prefix="ragline-ann")
            dense = self._retriever.submit(dense_search)
            try:
                found = text_search()
            finally:
                nearest = dense.result()
            return nearest, found

    def _vector_search(self, vector: np.ndarray, k: int, filter: Filter | None
                       ) -> Callable[[], list[tuple[int, float]]]:
        """Resolve ``filter`` now (under the lock); return the ANN search to run."""
        allowed = self.allowed_rowids(filter)
        if (allowed is not None and len(allowed) == 0) or k <= 0:
            return list
        ann = self.ann
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)

        def search() -> list[tuple[int, float]]:
            found = ann.candidates(query, k * ann.rescore_factor, allowed)[0]
            if ann.rescore_factor > 1:
                found = self._rescore(query[0], found, k)
            return found[:k]
        return search

    def _rescore(self, query: np.ndarray, found: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
        """Re-rank candidates by the exact inner product with their float16 vectors in SQLite.
        (Reading only (id, vector) for the candidates, then the chunk columns for the k kept,
        costs less than reading every column of every candidate.)"""
        rows = self._fetch_vector_rows([rowid for rowid, _ in found])
        if not rows:
            return []
        scores = decode_vectors([r[1] for r in rows], len(query)) @ query
        top = np.argsort(-scores, kind="stable")[:k].tolist()
        return [(rows[i][0], s) for i, s in zip(top, scores[top].tolist())]

    def _fetch_vector_rows(self, rowids: list[int]) -> list[tuple[int, bytes]]:
        rows: list[tuple[int, bytes]] = []
        for ids in chunked(rowids):
            marks = ",".join("?" * len(ids))
            rows += self.db.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", ids).fetchall()
        return rows

    def _fetch_vectors(self, rowids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full-precision (float16 in SQLite, returned as float32) vectors for rescoring."""
        rows = self._fetch_vector_rows(rowids.tolist())
        return (np.array([r[0] for r in rows], dtype=np.int64),
                decode_vectors([r[1] for r in rows], self.dim or 0))

    def search_text(self, query: str, k: int, filter: Filter | None = None) -> list[Hit]:
        with self._lock:
            return self._hits(self.text_candidates(query, k, filter), "bm25")

    def text_candidates(self, query: str, k: int, filter: Filter | None = None) -> list[tuple[int, float]]:
        """(row id, BM25 score) of the top k, best first, without reading the chunks."""
        with self._lock:
            self._maybe_sync()
            return self._text_search(query, k, filter)()

    def _text_search(self, query: str, k: int, filter: Filter | None) -> Callable[[], list[tuple[int, float]]]:
        """Resolve ``filter`` now (under the lock, in SQLite where needed); return the BM25
        search to run, which reads only the tantivy index."""
        conditions = parse_filter(filter)
        # Equality, IN, prefix and their negations become the index's own tag-term queries;
        # only ranges need the matching row ids from SQLite.
        native = tuple(c for c in conditions if is_native(c))
        ranged = tuple(c for c in conditions if not is_native(c))
        allowed: list[int] | None = None
        excluded: list[int] | None = None
        if ranged:
            # Count in SQLite first, then fetch the smaller side: the rows in range, or the
            # rows out of it to exclude (a broad range would be a long row-id list).
            sql, params = to_sql(ranged, self.namespace)
            matching = self.db.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
            if matching == 0:
                return list
            if matching <= SMALL_ROWID_SET or matching * 2 <= self.count():
                allowed = self._matching_rowids(ranged).tolist()
            else:
                excluded = self._matching_rowids((Not(ranged),)).tolist()
        bm25 = self.bm25
        return lambda: bm25.search(query, k, conditions=native, allowed_rowids=allowed,
                                   excluded_rowids=excluded)

    def fetch_chunks(self, rowids: Sequence[int]) -> dict[int, Chunk]:
        """The chunks behind candidate row ids; rows deleted since are absent."""
        with self._lock:
            return {rowid: _row_to_chunk(row) for rowid, row in self._chunk_rows(list(rowids)).items()}

    def candidate_vectors(self, rowids: Sequence[int]) -> np.ndarray:
        """The stored vectors of candidate row ids, in their order (missing rows are left out)."""
        with self._lock:
            stored = self._ann.stored_vectors(rowids) if self._ann is not None else None
            if stored is not None:
                return stored
            blobs = dict(self._fetch_vector_rows(list(rowids)))
        return decode_vectors([blobs[r] for r in rowids if r in blobs], self.dim or 0)

    def get(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        found: dict[str, Chunk] = {}
        for part in chunked(list(chunk_ids)):
            marks = ",".join("?" * len(part))
            for row in self.db.execute(
                    f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE namespace = ? AND chunk_id IN ({marks})",
                    (self.namespace, *part)):
                found[row[1]] = _row_to_chunk(row)
        return [found[c] for c in chunk_ids if c in found]

    def vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        dim = self.dim or 0
        blobs: dict[str, bytes] = {}
        for part in chunked(list(chunk_ids)):
            marks = ",".join("?" * len(part))
            blobs.update(self.db.execute(
                f"SELECT chunk_id, vector FROM chunks WHERE namespace = ? AND chunk_id IN ({marks})",
                (self.namespace, *part)).fetchall())
        return decode_vectors([blobs[c] for c in chunk_ids if c in blobs], dim)

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM chunks WHERE namespace = ?", (self.namespace,)).fetchone()[0]

    def chunk_rowids(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT id FROM chunks WHERE namespace = ?", (self.namespace,))}

    def stats(self) -> dict[str, Any]:
        db_file = self.path / "ragline.db"
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {
            "store": f"local:{self.path}",
            "namespace": self.namespace,
            "chunks": self.count(),
            "dim": self.dim,
            "vector_dtype": self.vector_dtype,
            "ann_vectors": len(self.ann),
            "ann_dead": self.ann.dead,
            "bm25_docs": self.bm25.num_docs(),
            "pending_changes": self._max_seq() - min(self.ann.applied_seq, self.bm25.applied_seq),
            "db_bytes": db_file.stat().st_size if db_file.exists() else 0,
            "disk_bytes": size,
            "updated_at": time.time(),
        }


def open_local(rest: str, namespace: str, *, create: bool = True) -> LocalStore:
    if not rest.strip():
        raise ConfigError("the store path is empty: give local:PATH, e.g. local:./ragline-data")
    return LocalStore(Path(rest), namespace, create=create)

