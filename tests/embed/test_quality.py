"""Table tests for the drift metrics that decide whether a faster embedder may be the default."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.embed.quality import drift, mean_cosine_error, topk_overlap


def unit(rows):
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_identical_vectors_have_no_error_and_full_overlap():
    rng = np.random.default_rng(0)
    docs, queries = unit(rng.normal(size=(50, 8))), unit(rng.normal(size=(5, 8)))
    assert mean_cosine_error(docs, docs) == pytest.approx(0.0, abs=1e-6)
    assert topk_overlap(queries, docs, queries, docs, k=10) == 1.0


def test_cosine_error_is_one_minus_cosine_averaged():
    reference = unit([[1, 0], [1, 0]])
    candidate = unit([[0, 1], [1, 1]])  # cos 0 and cos 1/sqrt(2)
    assert mean_cosine_error(reference, candidate) == pytest.approx((1 + (1 - 2 ** -0.5)) / 2, abs=1e-6)
    # Scale does not matter: only directions are compared.
    assert mean_cosine_error(reference, 3 * candidate) == pytest.approx(mean_cosine_error(reference, candidate))


def test_cosine_error_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        mean_cosine_error(np.ones((2, 3)), np.ones((3, 3)))


def test_overlap_counts_shared_members_not_order():
    # One query along x; documents at decreasing cosine with it.
    docs = unit([[1, 0], [0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
    query = unit([[1, 0]])
    # The candidate ranks docs 0, 1, 2 in reverse order: the same top-3 set, so full overlap.
    reordered = unit([[0.8, 0.2], [0.9, 0.1], [1, 0], [0.1, 0.9]])
    assert topk_overlap(query, docs, query, reordered, k=3) == 1.0
    # The candidate swaps doc 2 (rank 3) for doc 3: two of the reference's three survive.
    swapped = docs.copy()
    swapped[[2, 3]] = swapped[[3, 2]]
    assert topk_overlap(query, docs, query, swapped, k=3) == pytest.approx(2 / 3)


def test_overlap_averages_over_queries():
    docs = unit([[1, 0], [0, 1], [-1, 0], [0, -1]])
    queries = unit([[1, 0.1], [0.1, 1]])
    moved = unit([[1, 0.1], [-1, 0.1]])  # the second query now points elsewhere
    assert topk_overlap(queries, docs, moved, docs, k=1) == pytest.approx(0.5)


def test_chunks_as_queries_leave_themselves_out():
    docs = unit([[1, 0], [0.99, 0.01], [0, 1], [0.01, 0.99]])
    # Without excluding self every document's top-1 is itself: a perturbed copy would still score 1.0.
    noisy = unit([[0.99, 0.01], [1, 0], [0.01, 0.99], [0, 1]])
    assert topk_overlap(docs, docs, noisy, noisy, k=1) == 1.0
    assert topk_overlap(docs, docs, noisy, noisy, k=1, exclude_self=True) == 1.0
    unrelated = unit([[1, 0], [0, 1], [0.99, 0.01], [0.01, 0.99]])
    assert topk_overlap(docs, docs, unrelated, unrelated, k=1, exclude_self=True) == 0.0


def test_small_noise_keeps_most_of_the_top_ten():
    rng = np.random.default_rng(1)
    docs, queries = unit(rng.normal(size=(500, 32))), unit(rng.normal(size=(40, 32)))
    slightly = unit(docs + rng.normal(scale=0.01, size=docs.shape))
    heavily = unit(docs + rng.normal(scale=0.5, size=docs.shape))
    small, large = (topk_overlap(queries, docs, queries, c, k=10) for c in (slightly, heavily))
    assert 0.9 <= small <= 1.0 and large < small
    assert mean_cosine_error(docs, slightly) < mean_cosine_error(docs, heavily)


def test_drift_row_is_zero_error_and_full_overlap_for_the_same_vectors_only():
    rng = np.random.default_rng(3)
    docs = rng.normal(size=(40, 16)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[:10] + 0.01
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    same = drift(docs, queries, docs, queries)
    assert same["cosine_error"] == pytest.approx(0.0, abs=1e-6) and same["max_cosine_error"] < 1e-6
    assert same["top10_queries"] == same["top10_chunks"] == 1.0
    shuffled = drift(docs, queries, docs[::-1].copy(), queries)
    assert shuffled["cosine_error"] > 0.1 and shuffled["top10_chunks"] < 1.0
