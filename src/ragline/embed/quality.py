"""How far a faster embedder (int8, bf16, another runtime) drifts from a reference one.

    error = mean_cosine_error(reference_vectors, candidate_vectors)          # 0.0 = identical
    overlap = topk_overlap(ref_queries, ref_docs, cand_queries, cand_docs)   # 1.0 = same top-k

Both take L2-normalised float arrays, row i of each matrix being the same text.

``topk_overlap`` is the retrieval-level check: for every query it takes the k nearest documents
(by inner product) under the reference vectors and under the candidate vectors, each side using
its *own* query and document vectors, and counts how many of the reference's k the candidate also
returns (order ignored); the result is that count / k, averaged over queries. With k = 10, 0.97
means that on average 9.7 of the reference's 10 results survive.
"""

from __future__ import annotations

import numpy as np


def mean_cosine_error(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean over rows of 1 - cos(reference[i], candidate[i])."""
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    ref = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    cand = candidate / np.maximum(np.linalg.norm(candidate, axis=1, keepdims=True), 1e-12)
    return float(np.mean(1.0 - np.sum(ref * cand, axis=1)))


def topk_overlap(ref_queries: np.ndarray, ref_docs: np.ndarray, cand_queries: np.ndarray,
                 cand_docs: np.ndarray, k: int = 10, *, exclude_self: bool = False) -> float:
    """Mean fraction of the reference's top-k documents that the candidate's top-k also holds.

    ``exclude_self``: the queries are the documents themselves (row i of queries is document i),
    so each query's own row is left out of both rankings (it would be a free hit).
    """
    ref_scores = ref_queries.astype(np.float64) @ ref_docs.astype(np.float64).T
    cand_scores = cand_queries.astype(np.float64) @ cand_docs.astype(np.float64).T
    if exclude_self:
        np.fill_diagonal(ref_scores, -np.inf)
        np.fill_diagonal(cand_scores, -np.inf)
    ref_top = np.argsort(-ref_scores, axis=1, kind="stable")[:, :k]
    cand_top = np.argsort(-cand_scores, axis=1, kind="stable")[:, :k]
    shared = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(ref_top, cand_top)]
    return float(np.mean(shared) / k)


def drift(ref_docs: np.ndarray, ref_queries: np.ndarray, docs: np.ndarray, queries: np.ndarray,
          k: int = 10) -> dict[str, float]:
    """The quality row the precision benchmarks report for one candidate against the reference:
    mean and max cosine error over the documents, query top-k and document top-k overlap."""
    return {
        "cosine_error": mean_cosine_error(ref_docs, docs),
        "max_cosine_error": float(np.max(1 - np.sum(ref_docs * docs, axis=1))),
        f"top{k}_queries": topk_overlap(ref_queries, ref_docs, queries, docs, k),
        f"top{k}_chunks": topk_overlap(ref_docs, ref_docs, docs, docs, k, exclude_self=True),
    }


__all__ = ["drift", "mean_cosine_error", "topk_overlap"]
