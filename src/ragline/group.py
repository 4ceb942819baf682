"""Document-level results: one hit per document, its best chunk, with its siblings' scores.

    docs = group_by_doc(chunk_hits, k=5)    # chunk hits in score order -> k document hits
    docs[0].doc_score, docs[0].doc_matches  # aggregate score; [(chunk_id, score), ...]

A document's score is its best chunk's score plus a decaying share of the others':
``s1 + s2/2 + s3/3 + ...`` (only positive scores count), so several good passages lift a
document above one with a single equally good passage, while the best passage dominates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ragline.records import Hit

GROUP_BY = ("doc",)


def doc_score(scores: Sequence[float]) -> float:
    """Aggregate of one document's chunk scores, given best first."""
    if not scores:
        raise ValueError("a document needs at least one chunk score")
    return scores[0] + sum(max(0.0, s) / rank for rank, s in enumerate(scores[1:], start=2))


def group_by_doc(hits: Sequence[Hit], k: int) -> list[Hit]:
    """The top ``k`` documents among ``hits`` (chunk hits, any order), best first."""
    by_doc: dict[str, list[Hit]] = {}
    for hit in hits:
        by_doc.setdefault(hit.chunk.doc_id, []).append(hit)
    grouped = []
    for doc_hits in by_doc.values():
        doc_hits.sort(key=lambda h: (-h.score, h.chunk.chunk_id))
        best = doc_hits[0]
        grouped.append(replace(best, doc_score=doc_score([h.score for h in doc_hits]),
                               doc_matches=tuple((h.chunk.chunk_id, h.score) for h in doc_hits)))
    grouped.sort(key=lambda h: (-(h.doc_score or 0.0), h.chunk.doc_id))
    return grouped[:k]


__all__ = ["GROUP_BY", "doc_score", "group_by_doc"]
