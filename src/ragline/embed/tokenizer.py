"""The model's own fast tokenizer, used both for chunking (offsets, counts) and for encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class ModelTokenizer:
    def __init__(self, path: Path, max_tokens: int):
        self.max_tokens = max_tokens
        self._plain = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._plain.no_padding()
        self._plain.no_truncation()
        self._encoder = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._encoder.no_padding()
        self._encoder.enable_truncation(max_length=max_tokens)

    @property
    def vocab_size(self) -> int:
        return self._plain.get_vocab_size(with_added_tokens=True)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self._plain.encode(text, add_special_tokens=False).offsets

    def count(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._plain.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Pad to the longest text of this batch (not to max_tokens): no padding waste."""
        encodings = self._encoder.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def special_ids(self) -> frozenset[int]:
        """Ids of the special tokens the tokenizer adds or pads with ([CLS], [SEP], [PAD]...);
        the unknown-word token stands for real text, so it is not one of them."""
        unk = getattr(self._encoder.model, "unk_token", None)
        return frozenset(i for i, token in self._encoder.get_added_tokens_decoder().items()
                         if token.special and token.content != unk)
