"""SQLite, the source of truth of the embedded store: chunks, vectors, ledger, cache, change log.

WAL mode: one writer and many readers. Every change to the chunk set appends to ``changes``
in the same transaction, so derived indexes can catch up from the sequence they last applied.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ragline.errors import StoreError
from ragline.store.filters import metadata_numbers
from ragline.store.local._layout import NAMESPACE_SCHEMA

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    -- AUTOINCREMENT: a row id is never reused, so each appears in the change log as at most
    -- one 'add' and one 'del', and the log can be applied in batches in any order.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    token_count INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE INDEX IF NOT EXISTS chunks_ns ON chunks (namespace, id);
CREATE TABLE IF NOT EXISTS chunk_tags (chunk INTEGER NOT NULL, tag TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunk_tags_tag ON chunk_tags (tag, chunk);
CREATE INDEX IF NOT EXISTS chunk_tags_chunk ON chunk_tags (chunk);
-- Numeric (and ISO-date, as UNIX seconds) metadata values, for range filters.
CREATE TABLE IF NOT EXISTS chunk_nums (chunk INTEGER NOT NULL, key TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS chunk_nums_key ON chunk_nums (key, value, chunk);
CREATE INDEX IF NOT EXISTS chunk_nums_chunk ON chunk_nums (chunk);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'del')),
    chunk INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_ns ON changes (namespace, seq);
CREATE TABLE IF NOT EXISTS files (
    namespace TEXT NOT NULL,
    uri TEXT NOT NULL,
    stat_key TEXT NOT NULL,
    version TEXT,
    kind TEXT,
    state TEXT NOT NULL,
    stage TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (namespace, uri)
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    uri TEXT NOT NULL,
    file_uri TEXT NOT NULL,
    version TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    title TEXT,
    kind TEXT,
    duplicate_of TEXT,
    chunk_ids TEXT NOT NULL,
    metadata TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_file ON documents (namespace, file_uri);
CREATE INDEX IF NOT EXISTS documents_text ON documents (namespace, text_hash);
CREATE TABLE IF NOT EXISTS embed_cache (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minhash (
    namespace TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (namespace, doc_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lsh_bands (namespace TEXT NOT NULL, band INTEGER NOT NULL, key INTEGER NOT NULL,
                                      doc_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lsh_bands_key ON lsh_bands (namespace, band, key);
CREATE INDEX IF NOT EXISTS lsh_bands_doc ON lsh_bands (namespace, doc_id);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    uri TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""

class SQLiteFailure(StoreError, sqlite3.OperationalError):
    """The database file itself failed (disk full, I/O error, read-only, locked too long): a
    StoreError for callers (the CLI prints one line and exits 2), still a sqlite3 error for the
    code that handles those."""


# Error names (prefixes) that say the file or its disk failed, not the statement.
_FILE_FAILURES = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_BUSY",
                  "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_PERM", "SQLITE_LOCKED")


class _Connection(sqlite3.Connection):
    """Translates file failures at the backend boundary, for every user of the connection
    (store, ledger, embedding cache, near-dup index)."""

    def _failure(self, exc: sqlite3.Error) -> BaseException:
        name = getattr(exc, "sqlite_errorname", "") or ""
        if isinstance(exc, SQLiteFailure) or not name.startswith(_FILE_FAILURES):
            return exc
        failure = SQLiteFailure(f"{getattr(self, 'path', 'store database')}: {exc}")
        failure.sqlite_errorcode, failure.sqlite_errorname = exc.sqlite_errorcode, name  # type: ignore[attr-defined]
        return failure

    def execute(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(*args)
        except sqlite3.Error as exc:
            failure = self._failure(exc)
            if failure is exc:
                raise
            raise failure from exc

    def executemany(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executemany(*args)
        except sqlite3.Error as exc:
            failure = self._failure(exc)
            if failure is exc:
                raise
            raise failure from exc

    def executescript(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executescript(*args)
        except sqlite3.Error as exc:
            failure = self._failure(exc)
            if failure is exc:
                raise
            raise failure from exc


# SQLite's default limit on bound variables is 32766 since 3.32; stay well below it.
MAX_VARIABLES = 900


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open (creating when needed) the store's database. ``read_only`` opens a store on a
    read-only mount or file: SQLite may then neither write nor create its WAL side files, so it
    opens the file as immutable, and nothing is created or migrated."""
    if read_only:
        uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30,
                               factory=_Connection)
        conn.path = path  # type: ignore[attr-defined]
        return conn
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30,
                           factory=_Connection)
    conn.path = path  # type: ignore[attr-defined]
    _set_wal(conn)
    # NORMAL in WAL mode survives any process crash; only a power loss can drop the last commits.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-65536")
    # Schema and migrations in one write transaction: processes that open a new store at the same
    # moment take turns, and the second finds the first's work done (an ALTER run twice fails).
    conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + NAMESPACE_SCHEMA)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(embed_cache)")}
        if "model" not in columns:  # stores made before the cache recorded its model
            conn.execute("ALTER TABLE embed_cache ADD COLUMN model TEXT")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    _migrate_chunk_nums(conn)
    return conn


def _set_wal(conn: sqlite3.Connection, patience_s: float = 30.0) -> None:
    """Switch to WAL. Switching needs a moment alone with the file and SQLite answers 'locked'
    at once (no busy wait) while another process opens or creates the same new store, so retry."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _migrate_chunk_nums(conn: sqlite3.Connection) -> None:
    """Fill ``chunk_nums`` from the chunks of a store written before range filters existed."""
    if conn.execute("SELECT 1 FROM meta WHERE key = 'chunk_nums'").fetchone():
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not conn.execute("SELECT 1 FROM meta WHERE key = 'chunk_nums'").fetchone():
            conn.execute("DELETE FROM chunk_nums")
            last = 0
            while True:
                rows = conn.execute("SELECT id, metadata FROM chunks WHERE id > ? ORDER BY id LIMIT 4096",
                                    (last,)).fetchall()
                if not rows:
                    break
                conn.executemany("INSERT INTO chunk_nums VALUES (?, ?, ?)",
                                 [(rowid, key, number) for rowid, metadata in rows
                                  for key, number in metadata_numbers(json.loads(metadata))])
                last = rows[-1][0]
            conn.execute("INSERT INTO meta VALUES ('chunk_nums', '1')")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def chunked(values: list, size: int = MAX_VARIABLES):  # type: ignore[no-untyped-def]
    for start in range(0, len(values), size):
        yield values[start:start + size]


# The chunk table's ``vector`` column: float16 bytes (searches and rescoring read them as float32).
def encode_vector(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def decode_vectors(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)
