"""Dedup: is this document a copy (exact, or near by MinHash LSH) of one already stored or
waiting to be written in this run?

    dedup = Dedup(ledger, near)                    # near: the state's NearDupState, or None
    original = dedup.original_of(unit)             # Original(doc_id, uri, similarity) or None
    dedup.hold(pending)                            # decided (original or copy), waiting for its batch
    dedup.claim(doc_ids)                           # deletions waiting for their batch
    dedup.release(pending); dedup.unclaim(doc_ids) # the batch is written: the state knows it now

Exact copies are found by the hash of the text with whitespace collapsed (``dedup_hash``), near
ones by Jaccard similarity of word shingles over the LSH candidates. Documents of batches not
yet written are held here, so a copy of one in flight is caught in the same run, and the answer
never depends on whether an earlier document is still in flight or already written: the same
ordered documents give the same duplicates (and the same original for each) in one run or in
any split into several.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragline.ingest.batch import PendingDoc
from ragline.neardup import similarity
from ragline.parse_stage import DocUnit
from ragline.state.base import LedgerState, NearDupState

__all__ = ["Dedup", "Original"]


@dataclass(frozen=True)
class Original:
    doc_id: str
    uri: str
    similarity: float | None = None  # None: an exact copy


class Dedup:
    """One view of "what is stored once the batches in flight are written": a document in flight
    (an original held here, a duplicate, a deletion) is decided by its pending version, never by
    the row the state still has for it, and the nearest original is chosen by one rule over the
    originals in flight and stored together. So a document's answer is the same whether earlier
    documents are still in flight or were written by an earlier run (any split into runs)."""

    def __init__(self, ledger: LedgerState, near: NearDupState | None):
        self.ledger, self.near = ledger, near
        self._hashes: dict[str, PendingDoc] = {}                    # text hash -> unwritten original
        self._bands: dict[tuple[int, int], list[PendingDoc]] = {}   # LSH band -> unwritten originals
        self._claimed: dict[str, int] = {}  # doc id -> unwritten decisions about it (its state rows are stale)

    def original_of(self, unit: DocUnit) -> Original | None:
        """The document ``unit`` copies (never itself), exact first, then the nearest."""
        original = self._exact(unit)
        if original is None and unit.signature is not None and self.near is not None:
            original = self._nearest(unit)
        if original is not None and original.doc_id == unit.doc.doc_id:
            return None
        return original

    def hold(self, pending: PendingDoc) -> None:
        """A document decided and waiting for its batch: an original is a candidate from now on,
        and what the state says of its doc id (an older version) no longer counts."""
        self.claim([pending.doc.doc_id])
        if pending.duplicate_of is not None:
            return
        self._hashes[pending.text_hash] = pending
        if pending.signature is not None and self.near is not None:
            for band in enumerate(self.near.band_keys(pending.signature)):
                self._bands.setdefault(band, []).append(pending)

    def release(self, pending: PendingDoc) -> None:
        self.unclaim([pending.doc.doc_id])
        if self._hashes.get(pending.text_hash) is pending:
            del self._hashes[pending.text_hash]
        if pending.signature is not None and self.near is not None and pending.duplicate_of is None:
            for band in enumerate(self.near.band_keys(pending.signature)):
                left = [p for p in self._bands.get(band, ()) if p is not pending]
                if left:
                    self._bands[band] = left
                else:
                    self._bands.pop(band, None)

    def claim(self, doc_ids: list[str]) -> None:
        """Documents whose state rows a batch in flight replaces (held ones, deletions)."""
        for doc_id in doc_ids:
            self._claimed[doc_id] = self._claimed.get(doc_id, 0) + 1

    def unclaim(self, doc_ids: list[str]) -> None:
        for doc_id in doc_ids:
            left = self._claimed.get(doc_id, 0) - 1
            if left > 0:
                self._claimed[doc_id] = left
            else:
                self._claimed.pop(doc_id, None)

    def _exact(self, unit: DocUnit) -> Original | None:
        pending = self._hashes.get(unit.text_hash)
        if pending is not None and pending.doc.doc_id != unit.doc.doc_id:
            return Original(pending.doc.doc_id, pending.doc.uri)
        record = self.ledger.original_of(unit.text_hash, unit.doc.doc_id)
        if record is None or record.doc_id in self._claimed:  # replaced by a version in flight
            return None
        return Original(record.doc_id, record.uri)

    def _nearest(self, unit: DocUnit) -> Original | None:
        """The most similar original at or above the threshold, in flight or stored; equal
        similarities go to the smallest doc id (as ``best_match``), wherever the candidates are."""
        assert self.near is not None and unit.signature is not None
        threshold = self.near.config.threshold
        scored: dict[str, tuple[float, PendingDoc | None]] = {}
        for band in enumerate(self.near.band_keys(unit.signature)):  # unwritten originals
            for pending in self._bands.get(band, ()):
                if pending.doc.doc_id not in scored and pending.signature is not None:
                    scored[pending.doc.doc_id] = (similarity(unit.signature, pending.signature), pending)
        for doc_id, signature in self.near.candidates(unit.signature):  # stored originals
            if doc_id not in self._claimed and doc_id not in scored:
                scored[doc_id] = (similarity(unit.signature, signature), None)
        ranked = sorted((-score, doc_id) for doc_id, (score, _) in scored.items()
                        if score >= threshold and doc_id != unit.doc.doc_id)
        for negative, doc_id in ranked:
            held = scored[doc_id][1]
            if held is not None:
                return Original(doc_id, held.doc.uri, -negative)
            record = self.ledger.document(doc_id)
            if record is not None and record.duplicate_of is None:
                return Original(doc_id, record.uri, -negative)
        return None
