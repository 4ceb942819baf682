"""A deterministic embedder for fast pipeline tests that are not about retrieval quality.

It uses the real model tokenizer (so chunking is identical) and maps token-id bags to vectors by
a fixed random projection: same text, same vector; overlapping texts, similar vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragline.embed.base import l2_normalise
from ragline.embed.model import DEFAULT_MODEL, resolve_model
from ragline.embed.tokenizer import ModelTokenizer, UsesModelTokenizer


class HashingEmbedder(UsesModelTokenizer):
    def __init__(self, dim: int = 64, model: str = DEFAULT_MODEL):
        spec = resolve_model(model)
        self.model_id = f"hashing-{dim}"
        self.revision = "2"
        self.dim = dim
        self.max_tokens = spec.max_tokens
        self.tokenizer = ModelTokenizer(spec.path, spec.max_tokens)
        self.calls = 0
        self.texts_embedded = 0
        self._vectors: np.ndarray | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if texts:
            table = self._table()
            for row, token_ids in enumerate(self.tokenizer.encode(list(texts))["input_ids"]):
                out[row] = table[token_ids[token_ids > 0]].sum(axis=0)
        return l2_normalise(out + 1e-6)

    def _table(self) -> np.ndarray:
        """One fixed pseudo-random vector per vocabulary id (the same in every process)."""
        if self._vectors is None:
            vocab = self.tokenizer.vocab_size
            self._vectors = np.random.default_rng(20240601).standard_normal((vocab, self.dim)).astype(np.float32)
        return self._vectors

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_vectors": None}

    def embed_tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One vector per token (its id's fixed random projection), special tokens dropped."""
        special = self.tokenizer.special_ids()
        out = []
        for text in texts:
            ids = self.tokenizer.encode([text])["input_ids"][0] if text else np.zeros(0, int)
            rows = self._table()[[int(t) for t in ids if int(t) not in special]]
            out.append(l2_normalise(rows.reshape(len(rows), self.dim)))
        return out

    def close(self) -> None:
        pass
