"""Dedup as a unit: exact and near copies among documents in flight and in the state."""

from __future__ import annotations

import dataclasses

import numpy as np

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


def _store(engine, near, unit, *, duplicate_of=None):
    """``unit`` as a written batch leaves it: its ledger row, and its bands if it is an original."""
    with engine.state.transaction():
        engine.ledger.record_document(doc_id=unit.doc.doc_id, uri=unit.doc.uri, file_uri=unit.doc.uri,
                                      version="v", text_hash=unit.text_hash, title=None, kind="text",
                                      duplicate_of=duplicate_of, chunk_ids=[], metadata={})
        if duplicate_of is None:
            near.add(unit.doc.doc_id, unit.signature)
        else:
            near.remove([unit.doc.doc_id])


def test_equally_near_originals_in_flight_or_stored_give_the_same_answer(units):
    """A tie goes to the smallest doc id whether the tied originals are stored or still in flight
    (it went to the one in flight before, so a split into runs named another original)."""
    engine, make = units
    near = engine.state.near_dup(engine.config.namespace, NearDupConfig(threshold=0.9))
    base = np.arange(128, dtype=np.uint32)
    left, right = base.copy(), base.copy()
    left[:10] += 1000
    right[-10:] += 1000                     # each 118/128 like the copy, 108/128 like the other
    a, b, copy = (dataclasses.replace(make(name, f"{name} {TEXT}"), signature=sig)
                  for name, sig in (("a", left), ("b", right), ("c", base)))
    first, second = sorted((a, b), key=lambda u: u.doc.doc_id)
    dedup = Dedup(engine.ledger, near)
    _store(engine, near, first)
    held = pending(second)                  # the larger doc id is the one in flight
    dedup.hold(held)
    found = dedup.original_of(copy)
    assert found is not None and (found.doc_id, found.similarity) == (first.doc.doc_id, 118 / 128)
    dedup.release(held)
    _store(engine, near, second)
    assert dedup.original_of(copy) == found  # both stored: the same answer


def test_a_stored_original_replaced_in_flight_no_longer_counts(units):
    """A document whose new version (a copy now) or deletion waits in flight is not the original
    of anything, although its stored row still says so until the batch is written."""
    engine, make = units
    near = engine.state.near_dup(engine.config.namespace, NearDupConfig(threshold=0.8))
    original = make("a", TEXT + "Measured in the 1950s.")
    variant = make("b", TEXT + "Measured in the 1960s.")
    exact = make("c", TEXT + "Measured in the 1950s.")
    other = make("o", "Heat transfer to a blunt body in hypersonic flow, measured with thin-film gauges. " * 5)
    _store(engine, near, original)
    dedup = Dedup(engine.ledger, near)
    assert dedup.original_of(variant).doc_id == dedup.original_of(exact).doc_id == original.doc.doc_id
    now_a_copy = PendingDoc(original.doc, original.text_hash, original.doc.uri, [], (), Outcome.DUPLICATE,
                            duplicate_of=other.doc.doc_id)
    dedup.hold(now_a_copy)
    assert dedup.original_of(variant) is None and dedup.original_of(exact) is None
    dedup.release(now_a_copy)
    _store(engine, near, original, duplicate_of=other.doc.doc_id)
    assert dedup.original_of(variant) is None and dedup.original_of(exact) is None  # written: the same
    _store(engine, near, original)
    dedup.claim([original.doc.doc_id])       # its deletion in flight
    assert dedup.original_of(variant) is None
    dedup.unclaim([original.doc.doc_id])
    assert dedup.original_of(variant).doc_id == original.doc.doc_id
