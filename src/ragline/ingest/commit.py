"""Commit: a batch's documents into the store, then the state (ledger, near-dup index), in the
one order that keeps the ledger behind the store, never ahead of it.

    with commit_scope(store, state) as removals:   # inside commit_batch
        upsert chunks -> ledger rows + removal journal -> near-dup index; then the replaced chunks go
    commit_batch(store, state, ledger, near, batch, vectors, report)
    forget_vanished(store, state, ledger, near, uri, report)     # a listed item that is gone

The local store with its own state fuses the two into one SQLite transaction; any other pair
(Milvus + PostgreSQL) commits the store's writes first and the state's after
(``ragline.state.commit_scope``), so a crash between them leaves work the re-run redoes,
idempotently (chunk ids are content ids). Every write of a run goes through this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ragline.ingest.batch import Batch
from ragline.records import IngestReport, Outcome
from ragline.state import commit_scope
from ragline.state.base import LedgerState, NearDupState, State

__all__ = ["commit_batch", "forget_vanished"]


def commit_batch(store: Any, state: State, ledger: LedgerState, near: NearDupState | None, batch: Batch,
                 vectors: np.ndarray | None, report: IngestReport) -> None:
    """Write one batch: its documents' chunks and ledger rows, its deletions and its items'
    ledger rows, all in one commit scope."""
    with commit_scope(store, state) as removals:
        offset = 0
        for pending in batch.docs:
            doc, n = pending.doc, len(pending.chunks)
            new_ids = {c.chunk_id for c in pending.chunks}
            if n:
                assert vectors is not None
                report.chunks_written += store.upsert(pending.chunks, vectors[offset:offset + n])
                offset += n
            # Removed only after the ledger marks the new version stored (the commit protocol).
            removals.replace(doc.doc_id, [cid for cid in pending.old_chunk_ids if cid not in new_ids])
            ledger.record_document(
                doc_id=doc.doc_id, uri=doc.uri, file_uri=pending.file_uri, version=doc.version,
                text_hash=pending.text_hash, title=doc.title, kind=doc.kind,
                duplicate_of=pending.duplicate_of, chunk_ids=[c.chunk_id for c in pending.chunks],
                metadata={k: v for k, v in doc.metadata.items() if k != "uri"})
            if near is not None:
                if pending.signature is not None and pending.duplicate_of is None:
                    near.add(doc.doc_id, pending.signature)
                else:
                    near.remove([doc.doc_id])
            report.count(pending.outcome)
        if batch.deleted_docs:
            removals.drop(batch.deleted_docs)
            ledger.remove_documents(batch.deleted_docs)
            if near is not None:
                near.remove(batch.deleted_docs)
            report.count(Outcome.DELETED, len(batch.deleted_docs))
        for done in batch.files:
            ledger.record_file(done.item.uri, done.item.stat_key, done.version, "stored", kind=done.kind,
                               error=done.problems)
    report.chunks_deleted += removals.removed


def forget_vanished(store: Any, state: State, ledger: LedgerState, near: NearDupState | None, uri: str,
                    report: IngestReport) -> None:
    """An item gone from its source: its documents leave the store, then the ledger forgets it."""
    docs = list(ledger.documents_of_file(uri))
    with commit_scope(store, state) as removals:
        if docs:
            removals.drop(docs)
            ledger.remove_documents(docs)
            if near is not None:
                near.remove(docs)
            report.count(Outcome.DELETED, len(docs))
        ledger.forget_file(uri)
    report.chunks_deleted += removals.removed
