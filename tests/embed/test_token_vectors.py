"""embed_tokens: the per-token vectors MaxSim re-ranking uses, for both embedders."""

from __future__ import annotations

import numpy as np
import pytest

TEXTS = ["Sorting HOW TO", "", "copy.deepcopy() copies nested objects, unlike copy.copy()",
         "The Zen of Python, by Tim Peters. Beautiful is better than ugly. " * 3]


@pytest.mark.parametrize("name", ["onnx_embedder", "hashing_embedder"])
def test_one_unit_vector_per_real_token_in_order(name, request):
    embedder = request.getfixturevalue(name)
    tokens = embedder.embed_tokens(TEXTS)
    assert [t.shape for t in tokens] == [(n, embedder.dim) for n in embedder.count(TEXTS)]
    for array in tokens:
        assert array.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-5)
    # Batching (sorted by length, grouped by token budget) must not reorder the output.
    for text, batched in zip(TEXTS, tokens):
        np.testing.assert_allclose(embedder.embed_tokens([text])[0], batched, atol=2e-4)


def test_onnx_token_vectors_are_contextual(onnx_embedder):
    """The same word in two contexts gets two different vectors (it is the hidden state, not a
    lookup table), and the hidden states' mean points where the pooled sentence vector does."""
    bank_river, bank_money = onnx_embedder.embed_tokens(["the river bank", "the bank loan"])
    assert float(bank_river[2] @ bank_money[1]) < 0.95
    text = "a sentence about sorting lists in Python"
    pooled = onnx_embedder.embed([text])[0]
    mean = onnx_embedder.embed_tokens([text])[0].mean(axis=0)
    assert float(pooled @ mean / np.linalg.norm(mean)) > 0.8


def test_special_ids_leave_out_the_unknown_token(hashing_embedder):
    special = hashing_embedder.tokenizer.special_ids()
    assert {0, 101, 102} <= special and 100 not in special   # [PAD] [CLS] [SEP], not [UNK]
