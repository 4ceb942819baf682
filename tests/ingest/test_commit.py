"""Commit as a unit: chunks in the store, ledger rows after, replaced chunks removed, vanished
items forgotten."""

from __future__ import annotations

from ragline.ingest.batch import Batch, FileDone, PendingDoc
from ragline.ingest.commit import commit_batch, forget_vanished
from ragline.records import IngestReport, Outcome, SourceItem


def test_commit_then_replace_then_forget(units):
    engine, make = units
    store, state, ledger = engine.store, engine.state, engine.ledger
    unit = make("a", "Laminar flow over an airfoil. " * 40)
    item = SourceItem(uri=unit.doc.uri, stat_key="1:1:1")
    report = IngestReport(namespace="default")
    vectors = engine.embedder.embed([c.text for c in unit.chunks])
    batch = Batch(docs=[PendingDoc(unit.doc, unit.text_hash, item.uri, unit.chunks, (), Outcome.NEW)],
                  files=[FileDone(item, unit.doc.version, "text")])
    commit_batch(store, state, ledger, None, batch, vectors, report)
    ids = {c.chunk_id for c in unit.chunks}
    assert store.count() == len(ids) and report.chunks_written == len(ids) and report.counts["new"] == 1
    assert set(ledger.document(unit.doc.doc_id).chunk_ids) == ids
    assert ledger.file(item.uri).state == "stored"

    changed = make("a", "Turbulent flow over an airfoil. " * 40)
    old = ledger.document(unit.doc.doc_id).chunk_ids
    batch = Batch(docs=[PendingDoc(changed.doc, changed.text_hash, item.uri, changed.chunks, old, Outcome.CHANGED)])
    commit_batch(store, state, ledger, None, batch, engine.embedder.embed([c.text for c in changed.chunks]), report)
    new_ids = {c.chunk_id for c in changed.chunks}
    assert {c.chunk_id for c in store.get(list(ids | new_ids))} == new_ids  # the replaced version is gone

    forget_vanished(store, state, ledger, None, item.uri, report)
    assert store.count() == 0 and ledger.file(item.uri) is None and ledger.document(unit.doc.doc_id) is None
    assert report.counts["deleted"] == 1
