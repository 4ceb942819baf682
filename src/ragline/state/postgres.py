"""The PostgreSQL state backend (``postgresql://...``): one state shared by many workers and servers.

    state = PostgresState("postgresql://ragline@db.internal/ragline")
    ledger = state.ledger("default")

psycopg 3, one connection per state object, autocommit outside ``transaction()``. The schema
(tables prefixed ``ragline_``) is created on first open, under an advisory lock, so processes
that open a new database at the same moment take turns and the later ones find it done. Ledger,
near-dup and meta rows carry their namespace; the embedding cache is shared by every namespace
and keyed exactly as the SQLite one (``xxh3_128(model id, revision, text hash)``), so both
backends agree on what is cached. Writes are batched: arrays with ``= ANY``/``unnest`` for
lookups, deletions and LSH bands (one round trip each), ``executemany`` (pipelined) for the
cache. PostgreSQL text cannot hold NUL characters: free text (titles, errors, reasons) has them
replaced by U+FFFD; URIs are percent-encoded by the sources and never hold one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ragline.errors import ConfigError, StoreError
from ragline.neardup import NearDupConfig, band_keys, best_match
from ragline.state._prefetch import Prefetch
from ragline.state.base import DocRecord, EmbeddingCacheBase, FileRecord

SCHEMA_VERSION = 1
_SCHEMA_LOCK = 0x7261676C696E65  # "ragline": the advisory lock key of schema creation
_MAX_CODE_POINT = chr(0x10FFFF)
_COUNTERS = ["cache:hits", "cache:misses"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS ragline_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS ragline_files (
    namespace text NOT NULL,
    uri text COLLATE "C" NOT NULL,
    stat_key text NOT NULL,
    version text,
    kind text,
    state text NOT NULL,
    stage text,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    updated_at double precision NOT NULL,
    PRIMARY KEY (namespace, uri)
);
CREATE TABLE IF NOT EXISTS ragline_documents (
    namespace text NOT NULL,
    doc_id text NOT NULL,
    uri text COLLATE "C" NOT NULL,
    file_uri text COLLATE "C" NOT NULL,
    version text NOT NULL,
    text_hash text NOT NULL,
    title text,
    kind text,
    duplicate_of text,
    chunk_ids text NOT NULL,
    metadata text NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (namespace, doc_id)
);
CREATE INDEX IF NOT EXISTS ragline_documents_file ON ragline_documents (namespace, file_uri);
CREATE INDEX IF NOT EXISTS ragline_documents_uri ON ragline_documents (namespace, uri);
CREATE INDEX IF NOT EXISTS ragline_documents_text ON ragline_documents (namespace, text_hash);
CREATE INDEX IF NOT EXISTS ragline_documents_dup ON ragline_documents (namespace, duplicate_of);
CREATE TABLE IF NOT EXISTS ragline_embed_cache (key bytea PRIMARY KEY, vector bytea NOT NULL, model text);
CREATE INDEX IF NOT EXISTS ragline_embed_cache_model ON ragline_embed_cache (model);
CREATE TABLE IF NOT EXISTS ragline_minhash (
    namespace text NOT NULL,
    doc_id text NOT NULL,
    signature bytea NOT NULL,
    PRIMARY KEY (namespace, doc_id)
);
CREATE TABLE IF NOT EXISTS ragline_lsh_bands (
    namespace text NOT NULL, band integer NOT NULL, key bigint NOT NULL, doc_id text NOT NULL);
CREATE INDEX IF NOT EXISTS ragline_lsh_bands_key ON ragline_lsh_bands (namespace, band, key);
CREATE INDEX IF NOT EXISTS ragline_lsh_bands_doc ON ragline_lsh_bands (namespace, doc_id);
CREATE TABLE IF NOT EXISTS ragline_dead_letter (
    id bigserial PRIMARY KEY,
    namespace text NOT NULL,
    uri text NOT NULL,
    stage text NOT NULL,
    reason text NOT NULL,
    at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS ragline_dead_letter_uri ON ragline_dead_letter (namespace, uri, id);
"""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError('the postgresql:// state needs psycopg 3: pip install "ragline[postgres]"') from exc
    return psycopg


def _text(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd") if value else value


def _prefix_range(prefix: str) -> tuple[str, str, int, str]:
    """(low, high, length, prefix): an index range scan, then the exact test."""
    return prefix, prefix + _MAX_CODE_POINT, len(prefix), prefix


class PostgresLedger:
    _DOC_COLUMNS = "doc_id, uri, file_uri, version, text_hash, duplicate_of, chunk_ids"
    _FILE_COLUMNS = "uri, stat_key, version, state, stage, error, attempts"

    def __init__(self, state: PostgresState, namespace: str):
        self.state, self.namespace = state, namespace
        # Batched look-ups (PrefetchingLedger): one round trip for a parsed file's documents.
        self._documents: Prefetch[str] = Prefetch(self._load_documents, lambda: state.writes)
        self._originals: Prefetch[str] = Prefetch(self._load_originals, lambda: state.writes)

    def prefetch_documents(self, doc_ids: Sequence[str], text_hashes: Sequence[str]) -> None:
        self._documents.want(doc_ids)
        self._originals.want(text_hashes)

    def _load_documents(self, doc_ids: list[str]) -> dict[str, DocRecord]:
        rows = self._rows(f"SELECT {self._DOC_COLUMNS} FROM ragline_documents WHERE namespace = %s AND "
                          "doc_id = ANY(%s)", (self.namespace, doc_ids))
        return {r[0]: self._doc(r) for r in rows}

    def _load_originals(self, text_hashes: list[str]) -> dict[str, set[str]]:
        rows = self._rows("SELECT text_hash, array_agg(doc_id) FROM ragline_documents WHERE namespace = %s AND "
                          "text_hash = ANY(%s) AND duplicate_of IS NULL GROUP BY text_hash",
                          (self.namespace, text_hashes))
        return {text_hash: set(doc_ids) for text_hash, doc_ids in rows}

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        return self.state.execute(sql, params).fetchall()

    def _doc(self, row: tuple) -> DocRecord:
        doc_id, uri, file_uri, version, text_hash, duplicate_of, chunk_ids = row
        return DocRecord(doc_id, uri, file_uri, version, text_hash, duplicate_of, tuple(json.loads(chunk_ids)))

    # ----- files -------------------------------------------------------------------------
    def file(self, uri: str) -> FileRecord | None:
        rows = self._rows(f"SELECT {self._FILE_COLUMNS} FROM ragline_files WHERE namespace = %s AND uri = %s",
                          (self.namespace, uri))
        return FileRecord(*rows[0]) if rows else None

    def files_under(self, root_uri: str) -> list[FileRecord]:
        rows = self._rows(f"SELECT {self._FILE_COLUMNS} FROM ragline_files WHERE namespace = %s AND "
                          "uri >= %s AND uri <= %s AND left(uri, %s) = %s",
                          (self.namespace, *_prefix_range(root_uri)))
        return [FileRecord(*r) for r in rows]

    def record_file(self, uri: str, stat_key: str, version: str | None, state: str, *,
                    kind: str | None = None, stage: str | None = None, error: str | None = None) -> None:
        # attempts: consecutive failures, counted in the same statement (no read first).
        self.state.execute(
            "INSERT INTO ragline_files AS f (namespace, uri, stat_key, version, kind, state, stage, error,"
            " attempts, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,0,%s) ON CONFLICT (namespace, uri) DO UPDATE"
            " SET stat_key = excluded.stat_key, version = excluded.version, kind = excluded.kind,"
            " state = excluded.state, stage = excluded.stage, error = excluded.error,"
            " attempts = CASE WHEN excluded.state = 'failed' THEN f.attempts + 1 ELSE 0 END,"
            " updated_at = excluded.updated_at",
            (self.namespace, uri, stat_key, version, kind, state, stage, _text(error), time.time()))

    def reread_file(self, uri: str) -> None:
        self.state.execute("UPDATE ragline_files SET stat_key = '', version = NULL WHERE namespace = %s AND uri = %s",
                           (self.namespace, uri))

    def forget_file(self, uri: str) -> None:
        self.state.execute("DELETE FROM ragline_files WHERE namespace = %s AND uri = %s", (self.namespace, uri))

    # ----- documents ---------------------------------------------------------------------
    def document(self, doc_id: str) -> DocRecord | None:
        prefetched, record = self._documents.get(doc_id)
        if prefetched:
            return record  # type: ignore[no-any-return]
        rows = self._rows(f"SELECT {self._DOC_COLUMNS} FROM ragline_documents WHERE namespace = %s AND doc_id = %s",
                          (self.namespace, doc_id))
        return self._doc(rows[0]) if rows else None

    def documents_of_file(self, file_uri: str) -> dict[str, DocRecord]:
        rows = self._rows(f"SELECT {self._DOC_COLUMNS} FROM ragline_documents WHERE namespace = %s "
                          "AND file_uri = %s", (self.namespace, file_uri))
        return {r[0]: self._doc(r) for r in rows}

    def doc_ids_of_file(self, file_uri: str) -> set[str]:
        return {r[0] for r in self._rows("SELECT doc_id FROM ragline_documents WHERE namespace = %s "
                                         "AND file_uri = %s", (self.namespace, file_uri))}

    def count_documents_of_file(self, file_uri: str) -> int:
        return int(self._rows("SELECT count(*) FROM ragline_documents WHERE namespace = %s AND file_uri = %s",
                              (self.namespace, file_uri))[0][0])

    def documents_by_uri_prefix(self, prefix: str) -> list[DocRecord]:
        rows = self._rows(f"SELECT {self._DOC_COLUMNS} FROM ragline_documents WHERE namespace = %s AND "
                          "uri >= %s AND uri <= %s AND left(uri, %s) = %s",
                          (self.namespace, *_prefix_range(prefix)))
        return [self._doc(r) for r in rows]

    def original_of(self, text_hash: str, exclude_doc: str) -> DocRecord | None:
        prefetched, holders = self._originals.get(text_hash)
        if prefetched and not (holders or set()) - {exclude_doc}:
            return None  # (when there is one, the query below picks it as it always did)
        rows = self._rows(f"SELECT {self._DOC_COLUMNS} FROM ragline_documents WHERE namespace = %s AND "
                          "text_hash = %s AND duplicate_of IS NULL AND doc_id <> %s LIMIT 1",
                          (self.namespace, text_hash, exclude_doc))
        return self._doc(rows[0]) if rows else None

    def record_document(self, *, doc_id: str, uri: str, file_uri: str, version: str, text_hash: str,
                        title: str | None, kind: str | None, duplicate_of: str | None,
                        chunk_ids: Iterable[str], metadata: dict) -> None:
        self.state.execute(
            "INSERT INTO ragline_documents (namespace, doc_id, uri, file_uri, version, text_hash, title, kind,"
            " duplicate_of, chunk_ids, metadata, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT (namespace, doc_id) DO UPDATE SET uri = excluded.uri, file_uri = excluded.file_uri,"
            " version = excluded.version, text_hash = excluded.text_hash, title = excluded.title,"
            " kind = excluded.kind, duplicate_of = excluded.duplicate_of, chunk_ids = excluded.chunk_ids,"
            " metadata = excluded.metadata, updated_at = excluded.updated_at",
            (self.namespace, doc_id, uri, file_uri, version, text_hash, _text(title), kind, duplicate_of,
             json.dumps(list(chunk_ids)), json.dumps(metadata, ensure_ascii=True, default=str), time.time()))

    def remove_documents(self, doc_ids: list[str]) -> list[str]:
        """Forget documents; duplicates of them lose their original and are re-ingested next run.
        Returns the file uris of those orphaned duplicates."""
        if not doc_ids:
            return []
        ids = list(doc_ids)
        with self.state.transaction():
            orphaned = [r[0] for r in self._rows(
                "DELETE FROM ragline_documents WHERE namespace = %s AND duplicate_of = ANY(%s) RETURNING file_uri",
                (self.namespace, ids))]
            self.state.execute("DELETE FROM ragline_documents WHERE namespace = %s AND doc_id = ANY(%s)",
                               (self.namespace, ids))
            if orphaned:
                self.state.execute("UPDATE ragline_files SET stat_key = '', version = NULL "
                                   "WHERE namespace = %s AND uri = ANY(%s)", (self.namespace, sorted(set(orphaned))))
        return orphaned

    def all_documents(self) -> list[DocRecord]:
        rows = self._rows(f"SELECT {self._DOC_COLUMNS} FROM ragline_documents WHERE namespace = %s",
                          (self.namespace,))
        return [self._doc(r) for r in rows]

    def counts(self) -> dict[str, int]:
        docs = self._rows("SELECT count(*), count(duplicate_of) FROM ragline_documents WHERE namespace = %s",
                          (self.namespace,))[0]
        files = dict(self._rows("SELECT state, count(*) FROM ragline_files WHERE namespace = %s GROUP BY state",
                                (self.namespace,)))
        return {"documents": int(docs[0]), "duplicates": int(docs[1]),
                "files_stored": int(files.get("stored", 0)), "files_failed": int(files.get("failed", 0)),
                "files_skipped": int(files.get("skipped", 0))}

    # ----- dead letters ------------------------------------------------------------------
    def dead_letter(self, uri: str, stage: str, reason: str) -> None:
        self.state.execute("INSERT INTO ragline_dead_letter (namespace, uri, stage, reason, at) "
                           "VALUES (%s,%s,%s,%s,%s)", (self.namespace, uri, stage, _text(reason), time.time()))

    def last_dead_letter(self, uri: str) -> tuple[str, str] | None:
        rows = self._rows("SELECT stage, reason FROM ragline_dead_letter WHERE namespace = %s AND uri = %s "
                          "ORDER BY id DESC LIMIT 1", (self.namespace, uri))
        return (rows[0][0], rows[0][1]) if rows else None

    def dead_letters(self, limit: int = 100) -> list[tuple[str, str, str]]:
        return [(u, s, r) for u, s, r in self._rows(
            "SELECT uri, stage, reason FROM ragline_dead_letter WHERE namespace = %s ORDER BY id DESC LIMIT %s",
            (self.namespace, limit))]


class PostgresEmbeddingCache(EmbeddingCacheBase):
    def __init__(self, state: PostgresState, model_id: str, revision: str):
        super().__init__(model_id, revision)
        self.state = state

    def _fetch(self, keys: list[bytes]) -> dict[bytes, bytes]:
        return {bytes(k): bytes(v) for k, v in self.state.execute(
            "SELECT key, vector FROM ragline_embed_cache WHERE key = ANY(%s)", (keys,)).fetchall()}

    def store(self, text_hashes: Sequence[str], vectors: np.ndarray) -> None:
        rows = {self.key(h): np.asarray(v, dtype=np.float32).tobytes() for h, v in zip(text_hashes, vectors)}
        if not rows:
            return
        # One statement for the batch: arrays unnested server-side (no round trip per row).
        self.state.execute("INSERT INTO ragline_embed_cache (key, vector, model) "
                           "SELECT k, v, %s FROM unnest(%s::bytea[], %s::bytea[]) AS t(k, v) "
                           "ON CONFLICT (key) DO NOTHING", (self.model, list(rows), list(rows.values())))

    def size(self) -> int:
        return int(self.state.execute("SELECT count(*) FROM ragline_embed_cache").fetchone()[0])

    def record_counts(self, hits: int, misses: int) -> None:
        for key, value in zip(_COUNTERS, (hits, misses)):
            self.state.execute("INSERT INTO ragline_meta AS m (key, value) VALUES (%s, %s) ON CONFLICT (key) "
                               "DO UPDATE SET value = (m.value::bigint + excluded.value::bigint)::text",
                               (key, str(value)))

    def stats(self) -> dict[str, Any]:
        rows = self.state.execute("SELECT model, count(*), sum(length(vector) + length(key)) FROM ragline_embed_cache "
                                  "GROUP BY model ORDER BY count(*) DESC").fetchall()
        counts = dict(self.state.execute("SELECT key, value FROM ragline_meta WHERE key = ANY(%s)",
                                         (_COUNTERS,)).fetchall())
        return self._stats(rows, counts)

    def clear(self, model: str | None = None) -> int:
        with self.state.transaction():
            # (Counted by a query: in pipeline mode a statement's rowcount is not known yet.)
            if model is None:
                removed = self.state.execute("WITH gone AS (DELETE FROM ragline_embed_cache RETURNING 1) "
                                             "SELECT count(*) FROM gone").fetchone()[0]
                self.state.execute("DELETE FROM ragline_meta WHERE key = ANY(%s)", (_COUNTERS,))
            else:
                removed = self.state.execute("WITH gone AS (DELETE FROM ragline_embed_cache WHERE model = %s "
                                             "RETURNING 1) SELECT count(*) FROM gone", (model,)).fetchone()[0]
        return int(removed)


class PostgresNearDupIndex:
    def __init__(self, state: PostgresState, namespace: str, config: NearDupConfig):
        self.state, self.namespace, self.config = state, namespace, config
        self.b, self.r = config.bands()
        self._candidates: Prefetch[bytes] = Prefetch(self._load_candidates, lambda: state.writes)
        self._announced: dict[bytes, np.ndarray] = {}
        self.layout = f"{config.num_perm}:{config.shingle}:{self.b}x{self.r}"
        self._check_layout()

    def _check_layout(self) -> None:
        """Bands built under another threshold are rebuilt from the stored signatures."""
        key = f"{self.namespace}:lsh_layout"
        if self.state.get_raw_meta(key) == self.layout:
            return
        with self.state.transaction():
            self.state.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_SCHEMA_LOCK % 2**31, key))
            if self.state.get_raw_meta(key) == self.layout:
                return  # another process rebuilt them while this one waited
            self.state.execute("DELETE FROM ragline_lsh_bands WHERE namespace = %s", (self.namespace,))
            rows = self.state.execute("SELECT doc_id, signature FROM ragline_minhash WHERE namespace = %s",
                                      (self.namespace,)).fetchall()
            for doc_id, blob in rows:
                signature = np.frombuffer(bytes(blob), dtype=np.uint32)
                if len(signature) == self.config.num_perm:
                    self._insert_bands(doc_id, signature)
                else:
                    self.state.execute("DELETE FROM ragline_minhash WHERE namespace = %s AND doc_id = %s",
                                       (self.namespace, doc_id))
            self.state.set_raw_meta(key, self.layout)

    def band_keys(self, signature: np.ndarray) -> list[int]:
        return band_keys(signature, self.b, self.r)

    def prefetch_candidates(self, signatures: Sequence[np.ndarray]) -> None:
        self._announced = {np.asarray(s).tobytes(): np.asarray(s) for s in signatures}
        self._candidates.want(self._announced)

    def _load_candidates(self, blobs: list[bytes]) -> dict[bytes, list[tuple[str, np.ndarray]]]:
        """The candidates of many signatures in one round trip (``candidates`` for each)."""
        numbers: list[int] = []
        bands: list[int] = []
        keys: list[int] = []
        for i, blob in enumerate(blobs):
            band_keys_of = self.band_keys(self._announced[blob])
            numbers += [i] * len(band_keys_of)
            bands += list(range(len(band_keys_of)))
            keys += band_keys_of
        rows = self.state.execute(
            "SELECT DISTINCT q.i, m.doc_id, m.signature"
            " FROM unnest(%s::int[], %s::int[], %s::bigint[]) AS q(i, band, key)"
            " JOIN ragline_lsh_bands b ON b.namespace = %s AND b.band = q.band AND b.key = q.key"
            " JOIN ragline_minhash m ON m.namespace = %s AND m.doc_id = b.doc_id",
            (numbers, bands, keys, self.namespace, self.namespace)).fetchall()
        found: dict[bytes, list[tuple[str, np.ndarray]]] = {}
        for i, doc_id, blob in rows:
            found.setdefault(blobs[i], []).append((doc_id, np.frombuffer(bytes(blob), dtype=np.uint32)))
        return {key: sorted(pairs, key=lambda pair: pair[0]) for key, pairs in found.items()}

    def candidates(self, signature: np.ndarray) -> list[tuple[str, np.ndarray]]:
        prefetched, found = self._candidates.get(np.asarray(signature).tobytes())
        if prefetched:
            return found or []
        keys = self.band_keys(signature)
        # One round trip: the bands' (band, key) pairs joined against the index, then signatures.
        rows = self.state.execute(
            "SELECT m.doc_id, m.signature FROM ragline_minhash m WHERE m.namespace = %s AND m.doc_id IN ("
            " SELECT b.doc_id FROM ragline_lsh_bands b JOIN unnest(%s::int[], %s::bigint[]) AS q(band, key)"
            " ON b.band = q.band AND b.key = q.key WHERE b.namespace = %s)",
            (self.namespace, list(range(len(keys))), keys, self.namespace)).fetchall()
        return sorted(((d, np.frombuffer(bytes(s), dtype=np.uint32)) for d, s in rows), key=lambda pair: pair[0])

    def query(self, doc_id: str, signature: np.ndarray) -> tuple[str, float] | None:
        """The most similar stored document at or above the threshold (not ``doc_id`` itself)."""
        return best_match(self.candidates(signature), doc_id, signature, self.config.threshold)

    def add(self, doc_id: str, signature: np.ndarray) -> None:
        # One statement (one round trip): the old bands go, the signature is upserted, new bands come.
        keys = self.band_keys(signature)
        self.state.execute(
            "WITH gone AS (DELETE FROM ragline_lsh_bands WHERE namespace = %s AND doc_id = %s),"
            " signature AS (INSERT INTO ragline_minhash (namespace, doc_id, signature) VALUES (%s, %s, %s)"
            " ON CONFLICT (namespace, doc_id) DO UPDATE SET signature = excluded.signature)"
            " INSERT INTO ragline_lsh_bands (namespace, band, key, doc_id)"
            " SELECT %s, band, key, %s FROM unnest(%s::int[], %s::bigint[]) AS t(band, key)",
            (self.namespace, doc_id, self.namespace, doc_id, signature.astype(np.uint32).tobytes(),
             self.namespace, doc_id, list(range(len(keys))), keys))

    def _insert_bands(self, doc_id: str, signature: np.ndarray) -> None:
        keys = self.band_keys(signature)
        self.state.execute("INSERT INTO ragline_lsh_bands (namespace, band, key, doc_id) "
                           "SELECT %s, band, key, %s FROM unnest(%s::int[], %s::bigint[]) AS t(band, key)",
                           (self.namespace, doc_id, list(range(len(keys))), keys))

    def remove(self, doc_ids: list[str]) -> None:
        if not doc_ids:
            return
        ids = list(doc_ids)
        self.state.execute("DELETE FROM ragline_minhash WHERE namespace = %s AND doc_id = ANY(%s)",
                           (self.namespace, ids))
        self.state.execute("DELETE FROM ragline_lsh_bands WHERE namespace = %s AND doc_id = ANY(%s)",
                           (self.namespace, ids))

    def size(self) -> int:
        return int(self.state.execute("SELECT count(*) FROM ragline_minhash WHERE namespace = %s",
                                      (self.namespace,)).fetchone()[0])


def _connect(uri: str) -> Any:
    psycopg = _psycopg()
    try:
        return psycopg.connect(uri, autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to the PostgreSQL state at {_redact(uri)}: {exc}") from exc


def _redact(uri: str) -> str:
    """The URI without its password (for messages)."""
    scheme, sep, rest = uri.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return uri
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


class PostgresState:
    """Ledger, embedding cache, near-dup index and meta in one PostgreSQL database."""

    fused = False

    def __init__(self, uri: str):
        self.uri = _redact(uri)
        self.conn = _connect(uri)
        self._lock = threading.RLock()
        self._depth = 0
        self.writes = 0  # statements that may have changed something: batched look-ups reload after one
        try:
            self._create_schema()
        except BaseException:
            self.conn.close()
            raise

    def _create_schema(self) -> None:
        with self._lock, self.conn.transaction():  # (not pipelined: the script is many statements)
            # Several processes may open a new database at once: they take turns here.
            self.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self.execute(SCHEMA)
            self.execute("INSERT INTO ragline_meta (key, value) VALUES ('schema_version', %s) "
                         "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        psycopg = _psycopg()
        with self._lock:
            if not sql.startswith("SELECT"):
                self.writes += 1
            try:
                return self.conn.execute(sql, params)
            except psycopg.OperationalError as exc:
                raise StoreError(f"PostgreSQL state {self.uri}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One PostgreSQL transaction; nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                # Pipeline mode: the writes of a batch go out without waiting for each answer
                # (a read inside syncs first); errors still roll the whole transaction back.
                with self.conn.pipeline(), self.conn.transaction():
                    yield
            finally:
                self._depth = 0

    def ledger(self, namespace: str) -> PostgresLedger:
        return PostgresLedger(self, namespace)

    def embedding_cache(self, model_id: str, revision: str) -> PostgresEmbeddingCache:
        return PostgresEmbeddingCache(self, model_id, revision)

    def near_dup(self, namespace: str, config: NearDupConfig) -> PostgresNearDupIndex:
        return PostgresNearDupIndex(self, namespace, config)

    def get_raw_meta(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM ragline_meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def set_raw_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO ragline_meta (key, value) VALUES (%s, %s) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def get_meta(self, namespace: str, key: str) -> str | None:
        return self.get_raw_meta(f"{namespace}:{key}")

    def set_meta(self, namespace: str, key: str, value: str) -> None:
        self.set_raw_meta(f"{namespace}:{key}", value)

    def meta_items(self, namespace: str, prefix: str) -> list[tuple[str, str]]:
        start = f"{namespace}:{prefix}"
        rows = self.execute("SELECT key, value FROM ragline_meta WHERE starts_with(key, %s) "
                            "ORDER BY key COLLATE \"C\"", (start,)).fetchall()
        return [(key[len(namespace) + 1:], value) for key, value in rows]

    def delete_meta(self, namespace: str, key: str) -> bool:
        # RETURNING, not rowcount: inside a pipelined transaction only a fetch waits for the result.
        return bool(self.execute("DELETE FROM ragline_meta WHERE key = %s RETURNING key",
                                 (f"{namespace}:{key}",)).fetchall())

    # ----- removal journal (the commit protocol's step 3; see ragline.state.base) -----------
    def journal_removal(self, namespace: str, token: str, payload: str) -> None:
        self.set_raw_meta(f"{namespace}:removal:{token}", payload)

    def pending_removals(self, namespace: str) -> list[tuple[str, str]]:
        prefix = f"{namespace}:removal:"
        rows = self.execute("SELECT key, value FROM ragline_meta WHERE starts_with(key, %s) ORDER BY key COLLATE \"C\"",
                            (prefix,)).fetchall()
        return [(key[len(prefix):], value) for key, value in rows]

    def clear_removal(self, namespace: str, token: str) -> None:
        self.execute("DELETE FROM ragline_meta WHERE key = %s", (f"{namespace}:removal:{token}",))

    def close(self) -> None:
        self.conn.close()


def read_meta(uri: str, store_uri: str, namespace: str, key: str) -> str | None:
    """One meta value, without creating the schema (None when the database has none yet)."""
    conn = _connect(uri)
    try:
        if conn.execute("SELECT to_regclass('ragline_meta')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT value FROM ragline_meta WHERE key = %s", (f"{namespace}:{key}",)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def _backend() -> Any:
    from ragline.state import StateBackend

    return StateBackend(lambda rest, store: PostgresState(rest), read_meta)


# The registry entry of "postgresql" and "postgres" (ragline.registry).
BACKEND = _backend()
