"""The fused hybrid path (candidate keys, pseudo-relevance feedback) against an oracle built
from the Hit-level API: the same answer, computed the slow way."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.search import hybrid_search, rrf, rrf_scores, top_with_ties
from ragline.store.local import LocalStore
from ragline.store.local.ann import VECTOR_DTYPES
from tests.store.contract import make_chunks, vectors_for

WORDS = ("shock wave boundary layer heat transfer flutter wing pressure supersonic nozzle jet "
         "panel cylinder cone plate vortex turbulent laminar mach").split()


@pytest.fixture(params=VECTOR_DTYPES)
def store(tmp_path, request):
    rng = np.random.default_rng(7)
    texts = [" ".join(rng.choice(WORDS, 8)) + f" item{i}" for i in range(600)]
    chunks = make_chunks("file:///corpus.txt", texts)
    store = LocalStore(tmp_path / "s", vector_dtype=request.param)
    store.upsert(chunks, vectors_for(chunks))
    store.flush()
    yield store
    store.close()


def oracle(store: LocalStore, vector: np.ndarray, query: str, k: int, depth: int,
           feedback_chunks: int, weight: float) -> list[tuple[str, float]]:
    """Hybrid search spelled out on chunk ids with search_vector / search_text / vectors."""
    dense = store.search_vector(vector, depth)
    sparse = store.search_text(query, depth)
    fused = rrf([dense, sparse], ["dense", "bm25"], len(dense) + len(sparse))
    if feedback_chunks:
        # Ties in RRF score go to the better single rank, then to the dense list's.
        fused.sort(key=lambda h: (-h.score, min(h.ranks.values()),
                                  0 if h.ranks.get("dense") == min(h.ranks.values()) else 1))
        top = [h.chunk.chunk_id for h in fused[:feedback_chunks]]
        moved = vector + weight * store.vectors(top).mean(axis=0)
        moved /= np.linalg.norm(moved)
        pool = list(dict.fromkeys([h.chunk.chunk_id for h in dense] + [h.chunk.chunk_id for h in sparse]))
        order = np.argsort(-(store.vectors(pool) @ moved), kind="stable")
        scores, _ = rrf_scores([[pool[i] for i in order], [h.chunk.chunk_id for h in sparse]])
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    else:
        ranked = [(h.chunk.chunk_id, h.score) for h in fused]
    return ranked[:k]


@pytest.mark.parametrize("feedback", [0, 3])
def test_hybrid_search_matches_the_oracle(store, feedback):
    rng = np.random.default_rng(1)
    for trial in range(5):
        query = " ".join(rng.choice(WORDS, 4))
        vector = rng.standard_normal(store.dim).astype(np.float32)
        vector /= np.linalg.norm(vector)
        hits = hybrid_search(store, vector, query, 10, depth=40, feedback_chunks=feedback, feedback_weight=0.75)
        expected = oracle(store, vector, query, 10, 40, feedback, 0.75)
        assert [h.chunk.chunk_id for h in hits] == [cid for cid, _ in expected]
        assert [h.score for h in hits] == pytest.approx([s for _, s in expected])
        assert all(h.ranks and set(h.ranks) <= {"dense", "bm25"} for h in hits)


def test_feedback_pulls_in_neighbours_of_the_agreed_top_hits(tmp_path):
    """A chunk that matches the query only through its closeness to the top fused hits rises."""
    dim = 8
    e = np.eye(dim, dtype=np.float32)

    def unit(v):
        return (v / np.linalg.norm(v)).astype(np.float32)

    texts = ["alpha beta gamma", "alpha beta", "delta epsilon", "zeta eta", "theta iota"]
    chunks = make_chunks("file:///x.txt", texts)
    vectors = np.stack([
        unit(e[0] + e[1]),          # top of both lists
        unit(e[0] + 0.9 * e[1]),    # also matched by BM25
        unit(0.45 * e[0] + e[1]),   # no query word; near the first two, far from the query
        unit(e[0] + e[3]),          # closer to the query vector than the third, but off-topic
        unit(e[4]),
    ])
    store = LocalStore(tmp_path / "s")
    store.upsert(chunks, vectors)
    store.flush()
    query = e[0]
    plain = [h.chunk.index for h in hybrid_search(store, query, "alpha beta", 5, depth=40, feedback_chunks=0)]
    moved = [h.chunk.index for h in hybrid_search(store, query, "alpha beta", 5, depth=40, feedback_chunks=2)]
    store.close()
    assert plain.index(3) < plain.index(2)   # without feedback the off-topic chunk is ahead
    assert moved.index(2) < moved.index(3)   # feedback from chunks 0 and 1 lifts chunk 2


def test_candidate_vectors_are_the_stored_ones(store):
    rowids = [rowid for rowid, _ in store.vector_candidates(vectors_for(make_chunks("file:///q", ["q"]))[0], 7)]
    chunk_ids = [store.fetch_chunks([r])[r].chunk_id for r in rowids]
    assert np.array_equal(store.candidate_vectors(rowids), store.vectors(chunk_ids))


def test_top_with_ties_keeps_everything_tied_at_the_cut():
    scores = {"a": 3.0, "b": 2.0, "c": 2.0, "d": 2.0, "e": 1.0}
    assert top_with_ties(scores, 2) == ["a", "b", "c", "d"]
    assert top_with_ties(scores, 1) == ["a"]
    assert top_with_ties(scores, 9) == ["a", "b", "c", "d", "e"]


def test_rrf_scores_by_hand():
    scores, ranks = rrf_scores([["x", "y"], ["y", "z"]], rrf_k=60)
    assert scores == pytest.approx({"x": 1 / 61, "y": 1 / 62 + 1 / 61, "z": 1 / 62})
    assert ranks == {"x": [1, 0], "y": [2, 1], "z": [0, 2]}
