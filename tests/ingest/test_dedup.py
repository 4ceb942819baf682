"""Dedup as a unit: exact and near copies among documents in flight and in the state."""

from __future__ import annotations

from ragline.ingest.batch import PendingDoc
from ragline.ingest.dedup import Dedup
from ragline.neardup import NearDupConfig
from ragline.records import Outcome

TEXT = ("The boundary layer on the flat plate stays laminar up to a Reynolds number of about half a "
        "million, after which transition begins near the leading edge and spreads downstream. ") * 3


def pending(unit):
    return PendingDoc(unit.doc, unit.text_hash, unit.doc.uri, unit.chunks, (), Outcome.NEW, signature=unit.signature)


def test_exact_copy_in_flight_then_released(units):
    engine, make = units
    dedup = Dedup(engine.ledger, None)
    original, copy = make("a", TEXT), make("b", "  " + TEXT.replace(". ", ".\n"))  # re-wrapped: same words
    assert dedup.original_of(original) is None
    held = pending(original)
    dedup.hold(held)
    found = dedup.original_of(copy)
    assert (found.doc_id, found.uri, found.similarity) == (original.doc.doc_id, original.doc.uri, None)
    assert dedup.original_of(original) is None  # never a copy of itself
    dedup.release(held)
    assert dedup.original_of(copy) is None      # not written: the state does not know it either


def test_exact_copy_of_a_stored_document(units):
    engine, make = units
    original = make("a", TEXT)
    with engine.state.transaction():
        engine.ledger.record_document(doc_id=original.doc.doc_id, uri=original.doc.uri, file_uri=original.doc.uri,
                                      version="v", text_hash=original.text_hash, title=None, kind="text",
                                      duplicate_of=None, chunk_ids=[], metadata={})
    found = Dedup(engine.ledger, None).original_of(make("b", TEXT))
    assert found is not None and found.doc_id == original.doc.doc_id


def test_near_copy_in_flight_and_stored(units):
    engine, make = units
    near = engine.state.near_dup(engine.config.namespace, NearDupConfig(threshold=0.8))
    dedup = Dedup(engine.ledger, near)
    original = make("a", TEXT + "Measured in the 1950s.")
    variant = make("b", TEXT + "Measured in the 1960s.")
    other = make("c", "Heat transfer to a blunt body in hypersonic flow, measured with thin-film gauges. " * 5)
    held = pending(original)
    dedup.hold(held)
    found = dedup.original_of(variant)
    assert found is not None and found.doc_id == original.doc.doc_id and 0.8 <= found.similarity < 1.0
    assert dedup.original_of(other) is None
    dedup.release(held)
    assert dedup.original_of(variant) is None
    with engine.state.transaction():  # written: now the state answers
        engine.ledger.record_document(doc_id=original.doc.doc_id, uri=original.doc.uri, file_uri=original.doc.uri,
                                      version="v", text_hash=original.text_hash, title=None, kind="text",
                                      duplicate_of=None, chunk_ids=[], metadata={})
        near.add(original.doc.doc_id, original.signature)
    found = dedup.original_of(variant)
    assert found is not None and found.doc_id == original.doc.doc_id and found.similarity >= 0.8
