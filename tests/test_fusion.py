"""Table tests for the fusion functions in ragline.search (worked by hand in the comments)."""

from __future__ import annotations

import pytest

from ragline.records import Chunk, Hit
from ragline.search import best_chunk_per_doc, rrf, score_fusion


def hit(chunk_id: str, score: float = 0.0, doc_id: str | None = None) -> Hit:
    chunk = Chunk(chunk_id=chunk_id, doc_id=doc_id or chunk_id, index=0, text=chunk_id, start=0, end=1,
                  token_count=1, content_hash=chunk_id)
    return Hit(chunk=chunk, score=score, uri=f"file:///{chunk_id}")


A = [hit("x", 0.9), hit("y", 0.5), hit("w", 0.1)]   # e.g. dense
B = [hit("y", 10.0), hit("z", 4.0), hit("v", 2.0)]  # e.g. bm25


def ids(hits: list[Hit]) -> list[str]:
    return [h.chunk.chunk_id for h in hits]


def test_rrf_equal_and_weighted():
    # equal: y = 1/62 + 1/61 = 0.032522; x = 1/61 = 0.016393; z = 1/62 = 0.016129; w = 1/63; v = 1/63
    fused = rrf([A, B], ["dense", "bm25"], 5)
    assert ids(fused) == ["y", "x", "z", "v", "w"]          # v, w tie at 1/63: chunk id order
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[0].ranks == {"dense": 2, "bm25": 1}
    # bm25 weighted 3: z = 3/62 = 0.048387 now beats x = 1/61; y = 1/62 + 3/61 = 0.065310
    fused = rrf([A, B], ["dense", "bm25"], 3, weights=[1, 3])
    assert ids(fused) == ["y", "z", "v"]                    # v = 3/63 = 0.047619 > x = 0.016393
    assert fused[1].score == pytest.approx(3 / 62)
    with pytest.raises(ValueError):
        rrf([A, B], ["dense", "bm25"], 3, weights=[1])


def test_minmax_convex_combination():
    # min-max: A -> x 1, y 0.5, w 0; B -> y 1, z (4-2)/8 = 0.25, v 0. Equal weights (0.5 each):
    # y = 0.5*0.5 + 0.5*1 = 0.75; x = 0.5; z = 0.125; w = v = 0
    fused = score_fusion([A, B], ["dense", "bm25"], 5)
    assert ids(fused)[:3] == ["y", "x", "z"]
    assert [h.score for h in fused] == pytest.approx([0.75, 0.5, 0.125, 0.0, 0.0])
    # weights are normalised: (7, 3) == (0.7, 0.3). y = 0.7*0.5 + 0.3 = 0.65; x = 0.7; z = 0.075
    weighted = score_fusion([A, B], ["dense", "bm25"], 3, weights=[7, 3])
    assert ids(weighted) == ["x", "y", "z"]
    assert [h.score for h in weighted] == pytest.approx([0.7, 0.65, 0.075])


def test_zscore_convex_combination_gives_missing_hits_the_lists_floor():
    # A: mean 0.5, pstdev sqrt(0.32/3) = 0.326599 -> x 1.224745, y 0, w -1.224745 (floor)
    # B: mean 16/3, pstdev sqrt(34.6667/3) = 3.399346 -> y 1.372813, z -0.392232, v -0.980581 (floor)
    # y = 0.5*0 + 0.5*1.372813 = 0.686406; x = 0.5*1.224745 + 0.5*(-0.980581) = 0.122082
    # z = 0.5*(-1.224745) + 0.5*(-0.392232) = -0.808489; w = v = 0.5*(-1.224745 - 0.980581) = -1.102663
    fused = score_fusion([A, B], ["dense", "bm25"], 5, normalise="zscore")
    assert ids(fused) == ["y", "x", "z", "v", "w"]
    assert [h.score for h in fused] == pytest.approx([0.686406, 0.122082, -0.808489, -1.102663, -1.102663],
                                                     abs=1e-6)
    with pytest.raises(ValueError):
        score_fusion([A, B], ["dense", "bm25"], 5, normalise="rank")


def test_one_empty_list_and_constant_scores():
    assert ids(score_fusion([A, []], ["dense", "bm25"], 2)) == ["x", "y"]
    flat = [hit("p", 3.0), hit("q", 3.0)]                   # no spread: every hit scores 1 after min-max
    assert [h.score for h in score_fusion([flat], ["bm25"], 2)] == [1.0, 1.0]


def test_best_chunk_per_doc():
    hits = [hit("a1", 0.9, "A"), hit("b1", 0.8, "B"), hit("a2", 0.7, "A"), hit("c1", 0.6, "C")]
    assert ids(best_chunk_per_doc(hits)) == ["a1", "b1", "c1"]


def test_max_normalisation_divides_by_the_best_score_and_missing_hits_get_zero():
    # A / 0.9 -> x 1, y 0.5556, w 0.1111; B / 10 -> y 1, z 0.4, v 0.2. Equal weights:
    # y = 0.5*0.5556 + 0.5*1 = 0.7778; x = 0.5; z = 0.2; v = 0.1; w = 0.0556 (no credit from a list it is not in)
    fused = score_fusion([A, B], ["dense", "bm25"], 5, normalise="max")
    assert ids(fused) == ["y", "x", "z", "v", "w"]
    assert [h.score for h in fused] == pytest.approx([0.5 * 0.5 / 0.9 + 0.5, 0.5, 0.2, 0.1, 0.05 / 0.9])
