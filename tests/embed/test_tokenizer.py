"""Texts tokenized once by the chunker encode to exactly the model inputs of a fresh tokenization."""

from __future__ import annotations

import pickle

import numpy as np

from ragline.embed.tokenizer import TokenizedText
from tests.conftest import SAMPLES


def _texts() -> list[str]:
    zen = (SAMPLES / "notes" / "zen-of-python.txt").read_text(encoding="utf-8")
    return ["", "a", "naïve café — 日本語 (x)", zen[:300], zen, zen * 3]  # the last one is truncated


def test_carried_ids_encode_like_the_text(hashing_embedder):
    tokenizer = hashing_embedder.tokenizer
    texts = _texts()
    pieces = hashing_embedder.tokenize(texts)
    assert all(isinstance(p, TokenizedText) for p in pieces) and pieces == texts
    fresh, carried = tokenizer.encode(texts), tokenizer.encode(pieces)
    assert fresh["input_ids"].shape[1] == tokenizer.max_tokens   # truncation was exercised
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(fresh[key], carried[key])
    mixed = tokenizer.encode([texts[0], pieces[1], texts[3], pieces[5]])
    np.testing.assert_array_equal(mixed["input_ids"], fresh["input_ids"][[0, 1, 3, 5]])
    assert tokenizer.count(pieces) == tokenizer.count(texts)
    np.testing.assert_array_equal(hashing_embedder.embed(pieces), hashing_embedder.embed(texts))


def test_ids_travel_with_the_text_and_only_to_their_own_tokenizer(hashing_embedder):
    piece = hashing_embedder.tokenize(["pickled between processes"])[0]
    copy = pickle.loads(pickle.dumps(piece))
    assert isinstance(copy, TokenizedText) and copy == piece
    np.testing.assert_array_equal(copy.ids, piece.ids)
    stranger = TokenizedText(str(piece), np.array([1, 2, 3], dtype=np.int32), "another tokenizer")
    assert hashing_embedder.count([stranger]) == hashing_embedder.count([str(piece)])
