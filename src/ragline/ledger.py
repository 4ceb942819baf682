"""The ledger: what ragline knows about every file and document of a namespace.

    ledger = Ledger(store.db, "default")
    ledger.file("file:///corpus/a.md")            # -> FileRecord | None

A document is recorded as stored only in the transaction that stored its chunks (local store),
or after the store acknowledged them (remote stores): the ledger is never ahead of the store.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ragline.store.local.db import chunked


@dataclass(frozen=True, slots=True)
class FileRecord:
    uri: str
    stat_key: str
    version: str | None
    state: str          # stored | failed | skipped
    stage: str | None
    error: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class DocRecord:
    doc_id: str
    uri: str
    file_uri: str
    version: str
    text_hash: str
    duplicate_of: str | None
    chunk_ids: tuple[str, ...]


class Ledger:
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

    def forget_file(self, uri: str) -> None:
        self.db.execute("DELETE FROM files WHERE namespace = ? AND uri = ?", (self.namespace, uri))

    # ----- documents ---------------------------------------------------------------------
    _DOC_COLUMNS = "doc_id, uri, file_uri, version, text_hash, duplicate_of, chunk_ids"

    def _doc(self, row: tuple) -> DocRecord:
        doc_id, uri, file_uri, version, text_hash, duplicate_of, chunk_ids = row
        return DocRecord(doc_id, uri, file_uri, version, text_hash, duplicate_of, tuple(json.loads(chunk_ids)))

    def document(self, doc_id: str) -> DocRecord | None:
        row = self.db.execute(f"SELECT {self._DOC_COLUMNS} FROM documents WHERE doc_id = ?",
                              (doc_id,)).fetchone()
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
            self.db.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", part)
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
