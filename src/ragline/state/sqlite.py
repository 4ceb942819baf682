"""The SQLite state backend: the embedded default, as fast as the store it lives in.

    state = SQLiteState.in_store(local_store)      # the store's own file and transactions
    state = SQLiteState.open(Path("state.db"))     # ``sqlite:PATH``: a file of its own

In the local store's file (no ``--state``, the default) the ledger, cache and near-dup rows are
written on the store's connection and commit in the store's transaction: a batch's chunks and
its ledger rows are one SQLite commit, so a crash can never separate them. A ``sqlite:PATH``
file (beside a store that keeps no state of its own, e.g. ``milvus-lite:``) has its own
transactions, committed after the store's (``ragline.state.base.commit_scope``).

The near-dup bands live in SQLite next to the ledger, so the LSH state is as durable as the
store, survives restarts without a rebuild, and a document's bands go when the document goes.
Candidates from the bands are confirmed on the estimated Jaccard similarity of the full
signatures. Lifetime embedding-cache hit/miss counts are kept in the meta table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ragline.errors import ConfigError, StoreError
from ragline.neardup import NearDupConfig, band_keys, best_match
from ragline.state.base import DocRecord, EmbeddingCacheBase, FileRecord
from ragline.store.local.db import chunked, connect

_COUNTERS = ("cache:hits", "cache:misses")


class SQLiteLedger:
    def __init__(self, db: sqlite3.Connection, namespace: str):
        self.db = db
        self.namespace = namespace

    # ----- files -------------------------------------------------------------------------
    def file(self, uri: str) -> FileRecord | None:
        row = self.db.execute(
            "SELECT uri, stat_key, version, state, stage, error, attempts FROM files "
            "WHERE namespace = ? AND uri = ?", (self.namespace, uri)).fetchone()
        return FileRecord(*row) if row else None

    def files_under(self, root_uri: str) -> list[FileRecord]:
        rows = self.db.execute(
            "SELECT uri, stat_key, version, state, stage, error, attempts FROM files "
            "WHERE namespace = ? AND (uri = ? OR substr(uri, 1, ?) = ?)",
            (self.namespace, root_uri, len(root_uri), root_uri)).fetchall()
        return [FileRecord(*r) for r in rows]

    def record_file(self, uri: str, stat_key: str, version: str | None, state: str, *,
                    kind: str | None = None, stage: str | None = None, error: str | None = None) -> None:
        previous = self.file(uri)
        attempts = (previous.attempts + 1) if previous and state == "failed" else 0
        self.db.execute(
            "INSERT OR REPLACE INTO files (namespace, uri, stat_key, version, kind, state, stage, error,"
            " attempts, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (self.namespace, uri, stat_key, version, kind, state, stage, error, attempts, time.time()))

    def reread_file(self, uri: str) -> None:
        """Clear the file's stat key and version: the next run reads, and so re-ingests, it."""
        self.db.execute("UPDATE files SET stat_key = '', version = NULL WHERE namespace = ? AND uri = ?",
                        (self.namespace, uri))

    def forget_file(self, uri: str) -> None:
        self.db.execute("DELETE FROM files WHERE namespace = ? AND uri = ?", (self.namespace, uri))

    # ----- documents ---------------------------------------------------------------------
    _DOC_COLUMNS = "doc_id, uri, file_uri, version, text_hash, duplicate_of, chunk_ids"

    def _doc(self, row: tuple) -> DocRecord:
        doc_id, uri, file_uri, version, text_hash, duplicate_of, chunk_ids = row
        return DocRecord(doc_id, uri, file_uri, version, text_hash, duplicate_of, tuple(json.loads(chunk_ids)))

    def document(self, doc_id: str) -> DocRecord | None:
        row = self.db.execute(f"SELECT {self._DOC_COLUMNS} FROM documents WHERE doc_id = ? AND namespace = ?",
                              (doc_id, self.namespace)).fetchone()
        return self._doc(row) if row else None

    def documents_of_file(self, file_uri: str) -> dict[str, DocRecord]:
        rows = self.db.execute(f"SELECT {self._DOC_COLUMNS} FROM documents WHERE namespace = ? "
                               "AND file_uri = ?", (self.namespace, file_uri)).fetchall()
        return {r[0]: self._doc(r) for r in rows}

    def doc_ids_of_file(self, file_uri: str) -> set[str]:
        """Ids only: a JSONL file can hold millions of documents."""
        return {r[0] for r in self.db.execute("SELECT doc_id FROM documents WHERE namespace = ? AND file_uri = ?",
                                              (self.namespace, file_uri))}

    def count_documents_of_file(self, file_uri: str) -> int:
        return self.db.execute("SELECT count(*) FROM documents WHERE namespace = ? AND file_uri = ?",
                               (self.namespace, file_uri)).fetchone()[0]

    def documents_by_uri_prefix(self, prefix: str) -> list[DocRecord]:
        rows = self.db.execute(f"SELECT {self._DOC_COLUMNS} FROM documents WHERE namespace = ? "
                               "AND substr(uri, 1, ?) = ?", (self.namespace, len(prefix), prefix))
        return [self._doc(r) for r in rows]

    def original_of(self, text_hash: str, exclude_doc: str) -> DocRecord | None:
        row = self.db.execute(
            f"SELECT {self._DOC_COLUMNS} FROM documents WHERE namespace = ? AND text_hash = ? "
            "AND duplicate_of IS NULL AND doc_id != ? LIMIT 1",
            (self.namespace, text_hash, exclude_doc)).fetchone()
        return self._doc(row) if row else None

    def record_document(self, *, doc_id: str, uri: str, file_uri: str, version: str, text_hash: str,
                        title: str | None, kind: str | None, duplicate_of: str | None,
                        chunk_ids: Iterable[str], metadata: dict) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO documents (doc_id, namespace, uri, file_uri, version, text_hash, title,"
            " kind, duplicate_of, chunk_ids, metadata, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (doc_id, self.namespace, uri, file_uri, version, text_hash, title, kind, duplicate_of,
             json.dumps(list(chunk_ids)), json.dumps(metadata, ensure_ascii=False, default=str),
             time.time()))

    def remove_documents(self, doc_ids: list[str]) -> list[str]:
        """Forget documents; duplicates of them lose their original and are re-ingested next run.
        Returns the file uris of those orphaned duplicates."""
        orphaned: list[str] = []
        for part in chunked(doc_ids):
            marks = ",".join("?" * len(part))
            orphaned += [r[0] for r in self.db.execute(
                f"SELECT file_uri FROM documents WHERE duplicate_of IN ({marks}) AND namespace = ?",
                (*part, self.namespace))]
            self.db.execute(f"DELETE FROM documents WHERE duplicate_of IN ({marks}) AND namespace = ?",
                            (*part, self.namespace))
            self.db.execute(f"DELETE FROM documents WHERE doc_id IN ({marks}) AND namespace = ?",
                            (*part, self.namespace))
        for file_uri in set(orphaned):
            # Clearing the stat key makes the next run read, and so re-ingest, that file.
            self.db.execute("UPDATE files SET stat_key = '', version = NULL WHERE namespace = ? AND uri = ?",
                            (self.namespace, file_uri))
        return orphaned

    def all_documents(self) -> list[DocRecord]:
        rows = self.db.execute(f"SELECT {self._DOC_COLUMNS} FROM documents WHERE namespace = ?",
                               (self.namespace,)).fetchall()
        return [self._doc(r) for r in rows]

    def counts(self) -> dict[str, int]:
        docs = self.db.execute(
            "SELECT count(*), sum(duplicate_of IS NOT NULL) FROM documents WHERE namespace = ?",
            (self.namespace,)).fetchone()
        files = dict(self.db.execute("SELECT state, count(*) FROM files WHERE namespace = ? GROUP BY state",
                                     (self.namespace,)).fetchall())
        return {"documents": docs[0] or 0, "duplicates": docs[1] or 0,
                "files_stored": files.get("stored", 0), "files_failed": files.get("failed", 0),
                "files_skipped": files.get("skipped", 0)}

    # ----- dead letters ------------------------------------------------------------------
    def dead_letter(self, uri: str, stage: str, reason: str) -> None:
        self.db.execute("INSERT INTO dead_letter (namespace, uri, stage, reason, at) VALUES (?,?,?,?,?)",
                        (self.namespace, uri, stage, reason, time.time()))

    def last_dead_letter(self, uri: str) -> tuple[str, str] | None:
        """(stage, reason) of the newest dead letter of ``uri``."""
        return self.db.execute("SELECT stage, reason FROM dead_letter WHERE namespace = ? AND uri = ? "
                               "ORDER BY id DESC LIMIT 1", (self.namespace, uri)).fetchone()

    def dead_letters(self, limit: int = 100) -> list[tuple[str, str, str]]:
        return self.db.execute("SELECT uri, stage, reason FROM dead_letter WHERE namespace = ? "
                               "ORDER BY id DESC LIMIT ?", (self.namespace, limit)).fetchall()


class SQLiteEmbeddingCache(EmbeddingCacheBase):
    def __init__(self, db: sqlite3.Connection, model_id: str, revision: str):
        super().__init__(model_id, revision)
        self.db = db

    def _fetch(self, keys: list[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for part in chunked(keys):
            marks = ",".join("?" * len(part))
            found.update(self.db.execute(f"SELECT key, vector FROM embed_cache WHERE key IN ({marks})", part))
        return found

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
        rows = self.db.execute("SELECT model, count(*), sum(length(vector) + length(key)) FROM embed_cache "
                               "GROUP BY model ORDER BY count(*) DESC")
        counts = dict(self.db.execute(f"SELECT key, value FROM meta WHERE key IN {_COUNTERS}").fetchall())
        return self._stats(rows, counts)

    def clear(self, model: str | None = None) -> int:
        """Delete every entry, or only those of one model (``model_id@revision`` as in stats)."""
        if model is None:
            removed = self.db.execute("DELETE FROM embed_cache").rowcount
            self.db.execute(f"DELETE FROM meta WHERE key IN {_COUNTERS}")
        else:
            removed = self.db.execute("DELETE FROM embed_cache WHERE model = ?", (model,)).rowcount
        return removed


class SQLiteNearDupIndex:
    def __init__(self, db: sqlite3.Connection, namespace: str, config: NearDupConfig):
        self.db, self.namespace, self.config = db, namespace, config
        self.b, self.r = config.bands()
        self.layout = f"{config.num_perm}:{config.shingle}:{self.b}x{self.r}"
        self._check_layout()

    def _check_layout(self) -> None:
        """Bands built under another threshold are rebuilt from the stored signatures."""
        key = f"{self.namespace}:lsh_layout"
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row and row[0] == self.layout:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM lsh_bands WHERE namespace = ?", (self.namespace,))
            rows = self.db.execute("SELECT doc_id, signature FROM minhash WHERE namespace = ?",
                                   (self.namespace,)).fetchall()
            for doc_id, blob in rows:
                signature = np.frombuffer(blob, dtype=np.uint32)
                if len(signature) == self.config.num_perm:
                    self._insert_bands(doc_id, signature)
                else:
                    self.db.execute("DELETE FROM minhash WHERE namespace = ? AND doc_id = ?",
                                    (self.namespace, doc_id))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, self.layout))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def band_keys(self, signature: np.ndarray) -> list[int]:
        return band_keys(signature, self.b, self.r)

    def candidates(self, signature: np.ndarray) -> list[tuple[str, np.ndarray]]:
        keys = self.band_keys(signature)
        # One indexed lookup per band (an OR of the bands would make SQLite scan the namespace).
        sql = " UNION ".join(["SELECT doc_id FROM lsh_bands WHERE namespace = ? AND band = ? AND key = ?"] * len(keys))
        params: list[object] = []
        for band, key in enumerate(keys):
            params += [self.namespace, band, key]
        doc_ids = {r[0] for r in self.db.execute(sql, params)}
        if not doc_ids:
            return []
        found = []
        for part in chunked(sorted(doc_ids)):
            marks = ",".join("?" * len(part))
            found += [(d, np.frombuffer(s, dtype=np.uint32)) for d, s in self.db.execute(
                f"SELECT doc_id, signature FROM minhash WHERE namespace = ? AND doc_id IN ({marks})",
                (self.namespace, *part))]
        return sorted(found, key=lambda pair: pair[0])

    def query(self, doc_id: str, signature: np.ndarray) -> tuple[str, float] | None:
        """The most similar stored document at or above the threshold (not ``doc_id`` itself)."""
        return best_match(self.candidates(signature), doc_id, signature, self.config.threshold)

    def add(self, doc_id: str, signature: np.ndarray) -> None:
        self.remove([doc_id])
        self.db.execute("INSERT INTO minhash (namespace, doc_id, signature) VALUES (?, ?, ?)",
                        (self.namespace, doc_id, signature.astype(np.uint32).tobytes()))
        self._insert_bands(doc_id, signature)

    def _insert_bands(self, doc_id: str, signature: np.ndarray) -> None:
        self.db.executemany("INSERT INTO lsh_bands (namespace, band, key, doc_id) VALUES (?, ?, ?, ?)",
                            [(self.namespace, band, key, doc_id)
                             for band, key in enumerate(self.band_keys(signature))])

    def remove(self, doc_ids: list[str]) -> None:
        for part in chunked(list(doc_ids)):
            marks = ",".join("?" * len(part))
            self.db.execute(f"DELETE FROM minhash WHERE namespace = ? AND doc_id IN ({marks})",
                            (self.namespace, *part))
            self.db.execute(f"DELETE FROM lsh_bands WHERE namespace = ? AND doc_id IN ({marks})",
                            (self.namespace, *part))

    def size(self) -> int:
        return self.db.execute("SELECT count(*) FROM minhash WHERE namespace = ?",
                               (self.namespace,)).fetchone()[0]


class SQLiteState:
    """The ledger, cache, near-dup index and meta in one SQLite file."""

    def __init__(self, db: sqlite3.Connection, uri: str, *,
                 transaction: Callable[[], AbstractContextManager[None]] | None = None, owned: bool = False):
        self.db, self.uri = db, uri
        self.fused = transaction is not None
        self._store_transaction = transaction
        self._owned = owned
        self._lock = threading.RLock()
        self._depth = 0

    @classmethod
    def in_store(cls, store: Any) -> SQLiteState:
        """The local store's own file: writes join the store's transaction (one commit)."""
        return cls(store.db, "sqlite", transaction=store.transaction)

    @classmethod
    def open(cls, path: Path) -> SQLiteState:
        """``sqlite:PATH``: a state file of its own (created on first open)."""
        try:
            db = connect(Path(path))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the state file {path}: {exc}") from exc
        return cls(db, f"sqlite:{path}", owned=True)

    def ledger(self, namespace: str) -> SQLiteLedger:
        return SQLiteLedger(self.db, namespace)

    def embedding_cache(self, model_id: str, revision: str) -> SQLiteEmbeddingCache:
        return SQLiteEmbeddingCache(self.db, model_id, revision)

    def near_dup(self, namespace: str, config: NearDupConfig) -> SQLiteNearDupIndex:
        return SQLiteNearDupIndex(self.db, namespace, config)

    def get_meta(self, namespace: str, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (f"{namespace}:{key}",)).fetchone()
        return row[0] if row else None

    def set_meta(self, namespace: str, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"{namespace}:{key}", value))

    def meta_items(self, namespace: str, prefix: str) -> list[tuple[str, str]]:
        start = f"{namespace}:{prefix}"
        # A key range, not LIKE (prefixes may hold % and _); keys compare as bytes.
        rows = self.db.execute("SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
                               (start, start + "\U0010ffff")).fetchall()
        return [(key[len(namespace) + 1:], value) for key, value in rows]

    def delete_meta(self, namespace: str, key: str) -> bool:
        return self.db.execute("DELETE FROM meta WHERE key = ?", (f"{namespace}:{key}",)).rowcount > 0

    # ----- removal journal (the commit protocol's step 3; see ragline.state.base) -----------
    def journal_removal(self, namespace: str, token: str, payload: str) -> None:
        self.set_meta(namespace, f"removal:{token}", payload)

    def pending_removals(self, namespace: str) -> list[tuple[str, str]]:
        prefix = f"{namespace}:removal:"
        rows = self.db.execute("SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
                               (prefix, prefix[:-1] + ";")).fetchall()
        return [(key[len(prefix):], value) for key, value in rows]

    def clear_removal(self, namespace: str, token: str) -> None:
        self.db.execute("DELETE FROM meta WHERE key = ?", (f"{namespace}:removal:{token}",))

    def transaction(self) -> AbstractContextManager[None]:
        if self._store_transaction is not None:
            return self._store_transaction()
        return self._own_transaction()

    @contextmanager
    def _own_transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self.db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0 and self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                try:
                    self.db.execute("COMMIT")
                except BaseException:
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        if self._owned:
            self.db.close()


def read_meta(path: Path, namespace: str, key: str) -> str | None:
    """One meta value of an SQLite state file, read without opening (or creating) anything."""
    if not path.exists():
        return None
    row = None
    # immutable=1 second: a store on a read-only mount has no WAL side files and cannot make them.
    for mode in ("mode=ro", "mode=ro&immutable=1"):
        try:
            with sqlite3.connect(f"file:{quote(str(path))}?{mode}", uri=True) as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"{namespace}:{key}",)).fetchone()
            break
        except sqlite3.Error:
            continue
    return row[0] if row else None


def open_sqlite_state(rest: str, store: Any) -> SQLiteState:
    """``sqlite`` (the local store's file) or ``sqlite:PATH``."""
    if not rest:
        if getattr(store, "db", None) is None or not isinstance(store.db, sqlite3.Connection):
            raise ConfigError("this store keeps no SQLite file of its own: give the state a file "
                              "(--state sqlite:PATH) or a server (--state postgresql://...)")
        return SQLiteState.in_store(store)
    return SQLiteState.open(Path(rest))


def _read_meta(rest: str, store_uri: str, namespace: str, key: str) -> str | None:
    from ragline.state import local_state_file

    path = Path(rest) if rest else local_state_file(store_uri)
    return read_meta(path, namespace, key) if path is not None else None


def _backend() -> Any:
    from ragline.state import StateBackend

    return StateBackend(open_sqlite_state, _read_meta)


# The registry entry of "sqlite" (ragline.registry).
BACKEND = _backend()
