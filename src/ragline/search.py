"""Fusion of retriever result lists, and the hybrid search built on it.

    hits = hybrid_search(store, query_vector, "query text", k=10, depth=40)   # what mode="hybrid" runs
    fused = rrf([dense_hits, bm25_hits], names=["dense", "bm25"], k=10)
    fused = score_fusion([dense_hits, bm25_hits], names=["dense", "bm25"], k=10, normalise="minmax")

Reciprocal rank fusion (Cormack et al. 2009): score = sum over lists of weight / (rrf_k + rank).
Score fusion (Bruch et al. 2023, "An Analysis of Fusion Functions for Hybrid Retrieval"): a convex
combination of each list's scores after normalisation (min-max or z-score); a hit missing from a
list gets that list's floor (0 after min-max or max, the list minimum's z-score after z-score).
"max" is theoretical-minimum normalisation with a minimum of 0: score / the list's best score.
``hybrid_search`` fuses a store's candidate keys (``rrf_scores``), refines the query vector from
the fused top (pseudo-relevance feedback) and reads only the chunks it returns.
``best_chunk_per_doc`` keeps one hit per document, so several chunks of one document do not crowd
the fused list.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np

from ragline.records import Hit
from ragline.store.base import Filter, Store

RRF_K = 60
K = TypeVar("K", bound=Hashable)
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


def rrf_scores(ranked: Sequence[Sequence[K]], weights: Sequence[float] | None = None,
               rrf_k: int = RRF_K) -> tuple[dict[K, float], dict[K, list[int]]]:
    """RRF over lists of keys, best first: each key's fused score, and its 1-based rank in each
    list (0 where a list did not return it). Keys can be anything hashable (chunk ids, row ids)."""
    weights = [1.0] * len(ranked) if weights is None else list(weights)
    scores: dict[K, float] = {}
    ranks: dict[K, list[int]] = {}
    for position, (keys, weight) in enumerate(zip(ranked, weights, strict=True)):
        for rank, key in enumerate(keys, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank)
            ranks.setdefault(key, [0] * len(ranked))[position] = rank
    return scores, ranks


def top_with_ties(scores: dict[K, float], k: int) -> list[K]:
    """The keys of the k best scores, plus any that tie with the k-th: the caller breaks ties
    by something stable (a chunk id) once it has fetched them."""
    ordered = sorted(scores, key=scores.__getitem__, reverse=True)
    if len(ordered) <= k:
        return ordered
    cut = scores[ordered[k - 1]]
    end = k
    while end < len(ordered) and scores[ordered[end]] == cut:
        end += 1
    return ordered[:end]


def best_fused(scores: dict[K, float], ranks: dict[K, list[int]], n: int) -> list[K]:
    """The n best keys of an RRF, ties broken by content, not by key: the better single rank
    first, then the earlier list's (a chunk first in one list ties with one first in another)."""
    def order(key: K) -> tuple[float, int, int]:
        best = min((rank, position) for position, rank in enumerate(ranks[key]) if rank)
        return (-scores[key], best[0], best[1])
    return sorted(scores, key=order)[:n]


def rrf(result_lists: Sequence[Sequence[Hit]], names: Sequence[str], k: int,
        rrf_k: int = RRF_K, weights: Sequence[float] | None = None,
        key: Callable[[Hit], str] = chunk_key) -> list[Hit]:
    """Fuse by ``key``: chunk ids (default) or ``doc_key`` to fuse documents (pass lists already
    reduced by ``best_chunk_per_doc``, so ranks are document ranks)."""
    weights = _check(result_lists, names, weights)
    first: dict[str, Hit] = {}
    for hits in result_lists:
        for hit in hits:
            first.setdefault(key(hit), hit)
    scores, positions = rrf_scores([[key(h) for h in hits] for hits in result_lists], weights, rrf_k)
    ranks = {cid: {name: rank for name, rank in zip(names, ranked, strict=True) if rank}
             for cid, ranked in positions.items()}
    return _fused_hits(scores, first, ranks, k)


def hybrid_search(store: Store, vector: np.ndarray, query: str, k: int, *, depth: int,
                  filter: Filter | None = None, feedback_chunks: int = 3, feedback_weight: float = 0.75
                  ) -> list[Hit]:
    """RRF of the store's dense and BM25 candidate lists, each ``depth`` deep.

    With feedback on (pseudo-relevance feedback, Rocchio 1971), the first fusion's top
    ``feedback_chunks`` move the query vector towards them: q' = q + w * mean(their vectors),
    re-normalised. q' then re-ranks every candidate either retriever found, and that ranking
    replaces the dense list in a second fusion with the same BM25 list. Re-ranking the pool
    costs a matrix product over at most 2 x depth stored vectors, not another ANN search.
    Fusion runs on the store's candidate keys, so only the k chunks returned are read.
    """
    dense, sparse = store.hybrid_candidates(vector, query, depth, filter)
    dense_keys, bm25_keys = [key for key, _ in dense], [key for key, _ in sparse]
    scores, ranks = rrf_scores([dense_keys, bm25_keys])
    if feedback_chunks > 0 and feedback_weight > 0 and scores:
        pool = list(dict.fromkeys(dense_keys + bm25_keys))
        vectors = store.candidate_vectors(pool)
        if len(vectors) == len(pool):  # (a row deleted meanwhile: keep the first fusion)
            row_of = {key: row for row, key in enumerate(pool)}
            top = best_fused(scores, ranks, feedback_chunks)
            moved = np.asarray(vector, dtype=np.float32) + \
                feedback_weight * vectors[[row_of[key] for key in top]].mean(axis=0)
            moved /= max(float(np.linalg.norm(moved)), 1e-12)
            order = np.argsort(-(vectors @ moved), kind="stable")
            scores, ranks = rrf_scores([[pool[row] for row in order.tolist()], bm25_keys])
    keep = top_with_ties(scores, k)
    chunks = store.fetch_chunks(keep)
    hits = [Hit(chunk=chunks[key], score=scores[key], uri=chunks[key].metadata.get("uri", ""),
                ranks={name: rank for name, rank in zip(("dense", "bm25"), ranks[key], strict=True) if rank})
            for key in keep if key in chunks]
    hits.sort(key=lambda hit: (-hit.score, hit.chunk.chunk_id))
    return hits[:k]


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


__all__ = ["NORMALISATIONS", "RRF_K", "best_chunk_per_doc", "best_fused", "chunk_key", "doc_key", "hybrid_search",
           "rrf", "rrf_scores", "score_fusion", "top_with_ties"]
