"""Dedup: is this document a copy (exact, or near by MinHash LSH) of one already stored or
waiting to be written in this run?

    dedup = Dedup(ledger, near)                    # near: the state's NearDupState, or None
    original = dedup.original_of(unit)             # Original(doc_id, uri, similarity) or None
    dedup.hold(pending)                            # an original now waiting for its batch
    dedup.release(pending)                         # its batch is written: the state knows it now

Exact copies are found by the hash of the text with whitespace collapsed (``dedup_hash``), near
ones by Jaccard similarity of word shingles over the LSH candidates. Documents of batches not
yet written are held here, so a copy of one in flight is caught in the same run.
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
    def __init__(self, ledger: LedgerState, near: NearDupState | None):
        self.ledger, self.near = ledger, near
        self._hashes: dict[str, PendingDoc] = {}                    # text hash -> unwritten original
        self._bands: dict[tuple[int, int], list[PendingDoc]] = {}   # LSH band -> unwritten originals

    def original_of(self, unit: DocUnit) -> Original | None:
        """The document ``unit`` copies (never itself), exact first, then the nearest."""
        original = self._exact(unit)
        if original is None and unit.signature is not None and self.near is not None:
            original = self._nearest(unit)
        if original is not None and original.doc_id == unit.doc.doc_id:
            return None
        return original

    def hold(self, pending: PendingDoc) -> None:
        self._hashes[pending.text_hash] = pending
        if pending.signature is not None and self.near is not None:
            for band in enumerate(self.near.band_keys(pending.signature)):
                self._bands.setdefault(band, []).append(pending)

    def release(self, pending: PendingDoc) -> None:
        if self._hashes.get(pending.text_hash) is pending:
            del self._hashes[pending.text_hash]
        if pending.signature is not None and self.near is not None:
            for band in enumerate(self.near.band_keys(pending.signature)):
                left = [p for p in self._bands.get(band, ()) if p is not pending]
                if left:
                    self._bands[band] = left
                else:
                    self._bands.pop(band, None)

    def _exact(self, unit: DocUnit) -> Original | None:
        pending = self._hashes.get(unit.text_hash)
        if pending is not None and pending.doc.doc_id != unit.doc.doc_id:
            return Original(pending.doc.doc_id, pending.doc.uri)
        record = self.ledger.original_of(unit.text_hash, unit.doc.doc_id)
        return Original(record.doc_id, record.uri) if record else None

    def _nearest(self, unit: DocUnit) -> Original | None:
        assert self.near is not None and unit.signature is not None
        best: Original | None = None
        candidates: dict[int, PendingDoc] = {}
        for band in enumerate(self.near.band_keys(unit.signature)):  # unwritten originals
            for pending in self._bands.get(band, ()):
                candidates[id(pending)] = pending
        for pending in candidates.values():
            if pending.doc.doc_id == unit.doc.doc_id or pending.signature is None:
                continue
            score = similarity(unit.signature, pending.signature)
            if score >= self.near.config.threshold and (best is None or score > (best.similarity or 0.0)):
                best = Original(pending.doc.doc_id, pending.doc.uri, score)
        stored = self.near.query(unit.doc.doc_id, unit.signature)
        if stored is not None and (best is None or stored[1] > (best.similarity or 0.0)):
            record = self.ledger.document(stored[0])
            if record is not None and record.duplicate_of is None:
                best = Original(record.doc_id, record.uri, stored[1])
        return best
