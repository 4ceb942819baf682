from __future__ import annotations

import numpy as np
import pytest

from ragline.records import Chunk, Hit
from ragline.rerank import maxsim_scores, rerank_maxsim

E = np.eye(4, dtype=np.float32)  # e1..e4: orthonormal token vectors, so every dot product is known


def hit(chunk_id: str, score: float, rank: int) -> Hit:
    chunk = Chunk(chunk_id, "doc", 0, chunk_id, 0, 1, 1, chunk_id, {})
    return Hit(chunk=chunk, score=score, uri="", ranks={"dense": rank})


def test_maxsim_table():
    query = E[[0, 1]]
    docs = [E[[0, 1, 2]],                       # both query tokens matched exactly: 1 + 1
            E[[2, 3]],                          # neither: 0 + 0
            np.array([[0.6, 0.8, 0, 0]]),       # one token serves both: 0.6 + 0.8
            E[[0, 0, 0]]]                       # repeats do not add up: max is 1, then 0
    np.testing.assert_allclose(maxsim_scores(query, docs), [2.0, 0.0, 1.4, 1.0], atol=1e-6)


def test_maxsim_equals_the_definition_on_random_vectors():
    rng = np.random.default_rng(7)
    query = rng.standard_normal((5, 8))
    docs = [rng.standard_normal((n, 8)) for n in (1, 3, 17, 4)]
    expected = [sum(max(float(q @ d) for d in doc) for q in query) for doc in docs]
    np.testing.assert_allclose(maxsim_scores(query, docs), expected, rtol=1e-5)


def test_empty_inputs_are_refused_not_scored():
    with pytest.raises(ValueError):
        maxsim_scores(E[[0]], [E[[0]], np.zeros((0, 4))])
    with pytest.raises(ValueError):
        maxsim_scores(np.zeros((0, 4)), [E[[0]]])
    assert maxsim_scores(E[[0]], []).shape == (0,)


def test_chunks_without_multivectors_follow_in_their_order():
    candidates = [hit("a", 0.9, 1), hit("b", 0.8, 2), hit("c", 0.7, 3), hit("d", 0.6, 4)]
    multivectors = {"b": E[[2]], "d": E[[0]]}   # a and c have none
    out = rerank_maxsim(candidates, E[[0]], multivectors, k=4)
    assert [h.chunk.chunk_id for h in out] == ["d", "b", "a", "c"]
    assert [h.score for h in out] == [pytest.approx(1.0), pytest.approx(0.0), 0.9, 0.7]
    assert out[0].ranks == {"dense": 4, "maxsim": 1} and out[2].ranks == {"dense": 1}
    assert [h.chunk.chunk_id for h in rerank_maxsim(candidates, E[[0]], multivectors, k=1)] == ["d"]
