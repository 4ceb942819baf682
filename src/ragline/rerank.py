"""MaxSim (late-interaction, ColBERT-style) re-ranking of a candidate list.

    scores = maxsim_scores(query_tokens, [chunk_tokens_a, chunk_tokens_b])
    hits = rerank_maxsim(candidates, query_tokens, store.multivectors(ids), k=10)

MaxSim(q, d) = sum over the query's token vectors of the largest dot product with any of the
chunk's token vectors (Khattab & Zaharia 2020). With L2-normalised vectors each term is a cosine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ragline.records import Hit

RERANKERS = ("maxsim",)


def maxsim_scores(query_tokens: np.ndarray, docs: Sequence[np.ndarray]) -> np.ndarray:
    """MaxSim score of each document (each a non-empty (tokens, dim) array) for the query.

    All documents' token vectors are stacked so the similarities come from one matrix product;
    ``np.maximum.reduceat`` then takes each document's per-query-token maximum over its rows.
    """
    if not len(docs):
        return np.zeros(0, dtype=np.float32)
    query = np.asarray(query_tokens, dtype=np.float32)
    if query.ndim != 2 or not len(query):
        raise ValueError("the query needs at least one token vector (a 2-d array)")
    lengths = np.array([len(d) for d in docs])
    if (lengths == 0).any():
        raise ValueError("every document needs at least one token vector")
    # One pass both stacks and widens stored float16 (numpy has no fast float16 matmul).
    stacked = np.concatenate(docs, dtype=np.float32)
    similarities = stacked @ query.T                       # (all doc tokens, query tokens)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    best = np.maximum.reduceat(similarities, starts, axis=0)  # (docs, query tokens)
    return best.sum(axis=1)


def rerank_maxsim(candidates: Sequence[Hit], query_tokens: np.ndarray,
                  multivectors: Mapping[str, np.ndarray], k: int) -> list[Hit]:
    """Re-order candidates by MaxSim and keep ``k``.

    The rule for candidates without multi-vectors (ingested before ``--multivector``): they
    keep their retriever order and score, after every re-ranked candidate. Ties in MaxSim keep
    the retriever's order. Re-ranked hits carry the MaxSim score and a ``maxsim`` rank.
    """
    scored = [h for h in candidates if len(multivectors.get(h.chunk.chunk_id, ()))]
    rest = [h for h in candidates if not len(multivectors.get(h.chunk.chunk_id, ()))]
    scores = maxsim_scores(query_tokens, [multivectors[h.chunk.chunk_id] for h in scored])
    order = np.argsort(-scores, kind="stable")
    reranked = [Hit(chunk=scored[i].chunk, score=float(scores[i]), uri=scored[i].uri,
                    ranks={**scored[i].ranks, "maxsim": rank})
                for rank, i in enumerate(order, start=1)]
    return (reranked + list(rest))[:k]


__all__ = ["RERANKERS", "maxsim_scores", "rerank_maxsim"]
