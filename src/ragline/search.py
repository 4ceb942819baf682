"""Fusion of retriever result lists.

    fused = rrf([dense_hits, bm25_hits], names=["dense", "bm25"], k=10)

Reciprocal rank fusion (Cormack et al. 2009): score = sum over lists of 1 / (rrf_k + rank).
"""

from __future__ import annotations

from collections.abc import Sequence

from ragline.records import Hit

RRF_K = 60


def rrf(result_lists: Sequence[Sequence[Hit]], names: Sequence[str], k: int,
        rrf_k: int = RRF_K) -> list[Hit]:
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    ranks: dict[str, dict[str, int]] = {}
    for name, hits in zip(names, result_lists, strict=True):
        for rank, hit in enumerate(hits, start=1):
            chunk_id = hit.chunk.chunk_id
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (rrf_k + rank)
            first.setdefault(chunk_id, hit)
            ranks.setdefault(chunk_id, {})[name] = rank
    ordered = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
    return [Hit(chunk=first[cid].chunk, score=scores[cid], uri=first[cid].uri, ranks=ranks[cid])
            for cid in ordered]
