"""Fusion of retriever result lists.

    fused = rrf([dense_hits, bm25_hits], names=["dense", "bm25"], k=10)
    fused = score_fusion([dense_hits, bm25_hits], names=["dense", "bm25"], k=10, normalise="minmax")

Reciprocal rank fusion (Cormack et al. 2009): score = sum over lists of weight / (rrf_k + rank).
Score fusion (Bruch et al. 2023, "An Analysis of Fusion Functions for Hybrid Retrieval"): a convex
combination of each list's scores after normalisation (min-max or z-score); a hit missing from a
list gets that list's floor (0 after min-max or max, the list minimum's z-score after z-score).
"max" is theoretical-minimum normalisation with a minimum of 0: score / the list's best score.
``best_chunk_per_doc`` keeps one hit per document, so several chunks of one document do not crowd
the fused list.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from ragline.records import Hit

RRF_K = 60
NORMALISATIONS = ("minmax", "zscore", "max")


def _check(result_lists: Sequence[Sequence[Hit]], names: Sequence[str],
           weights: Sequence[float] | None) -> list[float]:
    if len(result_lists) != len(names):
        raise ValueError(f"{len(result_lists)} result lists but {len(names)} names")
    weights = [1.0] * len(names) if weights is None else list(weights)
    if len(weights) != len(names) or any(w < 0 for w in weights):
        raise ValueError(f"give one non-negative weight per result list, got {weights}")
    return weights


def _fused_hits(scores: dict[str, float], first: dict[str, Hit], ranks: dict[str, dict[str, int]],
                k: int) -> list[Hit]:
    ordered = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
    return [Hit(chunk=first[cid].chunk, score=scores[cid], uri=first[cid].uri, ranks=ranks[cid])
            for cid in ordered]


def chunk_key(hit: Hit) -> str:
    return hit.chunk.chunk_id


def doc_key(hit: Hit) -> str:
    return hit.chunk.doc_id


def rrf(result_lists: Sequence[Sequence[Hit]], names: Sequence[str], k: int,
        rrf_k: int = RRF_K, weights: Sequence[float] | None = None,
        key: Callable[[Hit], str] = chunk_key) -> list[Hit]:
    """Fuse by ``key``: chunk ids (default) or ``doc_key`` to fuse documents (pass lists already
    reduced by ``best_chunk_per_doc``, so ranks are document ranks)."""
    weights = _check(result_lists, names, weights)
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    ranks: dict[str, dict[str, int]] = {}
    for name, hits, weight in zip(names, result_lists, weights, strict=True):
        for rank, hit in enumerate(hits, start=1):
            chunk_id = key(hit)
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (rrf_k + rank)
            first.setdefault(chunk_id, hit)
            ranks.setdefault(chunk_id, {})[name] = rank
    return _fused_hits(scores, first, ranks, k)


def _minmax(values: list[float]) -> Callable[[float], float]:
    low, high = min(values), max(values)
    span = high - low
    return (lambda v: (v - low) / span) if span > 0 else (lambda v: 1.0)


def _zscore(values: list[float]) -> Callable[[float], float]:
    mean = statistics.fmean(values)
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return (lambda v: (v - mean) / spread) if spread > 0 else (lambda v: 0.0)


def _max(values: list[float]) -> Callable[[float], float]:
    """Theoretical-minimum min-max with a floor of 0 (BM25 >= 0; cosine treated as >= 0)."""
    high = max(values)
    return (lambda v: max(v, 0.0) / high) if high > 0 else (lambda v: 0.0)


def score_fusion(result_lists: Sequence[Sequence[Hit]], names: Sequence[str], k: int,
                 weights: Sequence[float] | None = None, normalise: str = "minmax",
                 key: Callable[[Hit], str] = chunk_key) -> list[Hit]:
    """Convex combination of normalised scores; weights are normalised to sum to 1."""
    if normalise not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalise!r}; use one of {', '.join(NORMALISATIONS)}")
    weights = _check(result_lists, names, weights)
    total = sum(weights) or 1.0
    scale = {"minmax": _minmax, "zscore": _zscore, "max": _max}[normalise]
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    ranks: dict[str, dict[str, int]] = {}
    floors: list[float] = []
    members: list[set[str]] = []
    for name, hits, weight in zip(names, result_lists, weights, strict=True):
        if not hits:
            floors.append(0.0)
            members.append(set())
            continue
        norm = scale([h.score for h in hits])
        # min-max and max map the floor to 0 already; a z-score's floor is the list's lowest.
        floors.append(min(norm(h.score) for h in hits) if normalise == "zscore" else 0.0)
        members.append({key(h) for h in hits})
        for rank, hit in enumerate(hits, start=1):
            chunk_id = key(hit)
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / total * norm(hit.score)
            first.setdefault(chunk_id, hit)
            ranks.setdefault(chunk_id, {})[name] = rank
    # A hit one retriever did not return scores that retriever's floor, not an absent term.
    for weight, floor, found in zip(weights, floors, members, strict=True):
        if floor:
            for chunk_id in scores.keys() - found:
                scores[chunk_id] += weight / total * floor
    return _fused_hits(scores, first, ranks, k)


def best_chunk_per_doc(hits: Sequence[Hit]) -> list[Hit]:
    """Keep each document's first (best) hit, in order; the rest of its chunks are dropped."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        if hit.chunk.doc_id not in seen:
            seen.add(hit.chunk.doc_id)
            kept.append(hit)
    return kept


__all__ = ["NORMALISATIONS", "RRF_K", "best_chunk_per_doc", "chunk_key", "doc_key", "rrf", "score_fusion"]
