"""The model's own fast tokenizer, used both for chunking (offsets, counts) and for encoding.

    pieces = tokenizer.tokenize(["chunk one", "chunk two"])   # TokenizedText: a str with its ids
    tokenizer.encode(pieces)                                    # the model's inputs, no re-tokenizing

A document's text is tokenized once: the chunker encodes the whole document (``encode_ids``),
gives each chunk cut at word boundaries its slice of the ids (``carry``), and keeps them on the
chunk's text (``TokenizedText``); every embedder that encodes through this class (ONNX, OpenVINO, hashing)
builds the model's inputs from them instead of tokenizing the text again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
from tokenizers import Tokenizer


class TokenizedText(str):
    """A text that carries its token ids (without special tokens) and the tokenizer that made them.

    It is the plain string everywhere else (hashing, storage, equality); only a ``ModelTokenizer``
    with the same ``key`` uses the ids. Pickles with them, so they travel from parse workers.
    """

    ids: np.ndarray
    tokenizer: str

    def __new__(cls, text: str, ids: np.ndarray, tokenizer: str) -> Self:
        self = super().__new__(cls, text)
        self.ids, self.tokenizer = ids, tokenizer
        return self

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return TokenizedText, (str(self), self.ids, self.tokenizer)


# Pre-tokenizers whose word boundaries depend only on the characters at the boundary (whitespace,
# punctuation, a change from word to non-word characters): a text cut at a word boundary holds the
# same words, so the same tokens, as in context.
_LOCAL_WORD_SPLITTERS = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit"})


class ModelTokenizer:
    def __init__(self, path: Path, max_tokens: int):
        self.max_tokens = max_tokens
        self.key = f"{path.resolve() / 'tokenizer.json'}"
        self._plain = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._plain.no_padding()
        self._plain.no_truncation()
        self._encoder = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._encoder.no_padding()
        self._encoder.enable_truncation(max_length=max_tokens)
        self._specials: tuple[list[int], list[int], list[int], list[int], int] | None = None
        self._local_words = type(self._plain.pre_tokenizer).__name__ in _LOCAL_WORD_SPLITTERS

    @property
    def vocab_size(self) -> int:
        return self._plain.get_vocab_size(with_added_tokens=True)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self._plain.encode(text, add_special_tokens=False).offsets

    def encode_ids(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray | None]:
        """Char spans, ids and word numbers of the tokens of ``text`` (no special tokens), from one
        encode. A text that starts and ends at a word boundary (where the word number changes)
        tokenizes to exactly its tokens in context when the pre-tokenizer cuts words by what
        stands at the cut alone: whitespace, or a punctuation mark (BERT's, as all-MiniLM-L6-v2
        has). Other tokenizers (byte-level BPE, where a word carries the space before it) give no
        word numbers, and their chunks are tokenized on their own text."""
        encoding = self._plain.encode(text, add_special_tokens=False)
        words = np.asarray(encoding.word_ids, dtype=np.int64) if self._local_words else None
        return encoding.offsets, np.asarray(encoding.ids, dtype=np.int32), words

    def carry(self, text: str, ids: np.ndarray) -> TokenizedText:
        """``text`` with ``ids`` (its tokens as ``encode_ids`` of a text holding it gave them)."""
        return TokenizedText(text, ids, self.key)

    def _carries_ids(self, text: str) -> bool:
        return isinstance(text, TokenizedText) and text.tokenizer == self.key

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        """The texts with their token ids (no special tokens), in one batched call."""
        encodings = self._plain.encode_batch(list(texts), add_special_tokens=False)
        return [TokenizedText(text, np.asarray(e.ids, dtype=np.int32), self.key)
                for text, e in zip(texts, encodings)]

    def count(self, texts: list[str]) -> list[int]:
        if all(self._carries_ids(t) for t in texts):
            return [len(t.ids) for t in texts]  # type: ignore[attr-defined]
        return [len(e.ids) for e in self._plain.encode_batch(list(texts), add_special_tokens=False)]

    def _special_layout(self) -> tuple[list[int], list[int], list[int], list[int], int]:
        """What the post-processor wraps a single text in: (prefix ids, prefix type ids, suffix
        ids, suffix type ids, the text's type id), read off one probe encoding."""
        if self._specials is None:
            plain = self._plain.encode("probe", add_special_tokens=False)
            full = self._encoder.encode("probe")
            n = len(plain.ids)
            at = next(i for i in range(len(full.ids) - n + 1) if full.ids[i:i + n] == plain.ids)
            self._specials = (full.ids[:at], full.type_ids[:at], full.ids[at + n:], full.type_ids[at + n:],
                              full.type_ids[at] if n else 0)
        return self._specials

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Pad to the longest text of this batch (not to max_tokens): no padding waste.

        Texts that carry this tokenizer's ids are not tokenized again: the special tokens are
        added around their ids and the text truncated as the encoder would (to ``max_tokens``
        with the special tokens)."""
        rows: list[tuple[Sequence[int], Sequence[int]]] = [([], [])] * len(texts)
        fresh = [i for i, text in enumerate(texts) if not self._carries_ids(text)]
        for i, enc in zip(fresh, self._encoder.encode_batch([texts[i] for i in fresh]) if fresh else ()):
            rows[i] = (enc.ids, enc.type_ids)
        if len(fresh) < len(texts):
            prefix, prefix_types, suffix, suffix_types, text_type = self._special_layout()
            room = max(0, self.max_tokens - len(prefix) - len(suffix))
            for i, text in enumerate(texts):
                if self._carries_ids(text):
                    body = text.ids[:room].tolist()  # type: ignore[attr-defined]
                    rows[i] = (prefix + body + suffix, prefix_types + [text_type] * len(body) + suffix_types)
        width = max(len(row_ids) for row_ids, _ in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for row, (row_ids, row_types) in enumerate(rows):
            n = len(row_ids)
            ids[row, :n] = row_ids
            mask[row, :n] = 1
            types[row, :n] = row_types
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def special_ids(self) -> frozenset[int]:
        """Ids of the special tokens the tokenizer adds or pads with ([CLS], [SEP], [PAD]...);
        the unknown-word token stands for real text, so it is not one of them."""
        unk = getattr(self._encoder.model, "unk_token", None)
        return frozenset(i for i, token in self._encoder.get_added_tokens_decoder().items()
                         if token.special and token.content != unk)


class UsesModelTokenizer:
    """The Embedder protocol's tokenizer methods, for an embedder whose ``tokenizer`` is a
    ``ModelTokenizer`` (ONNX, OpenVINO, hashing, remote): chunks are cut by the tokens the model
    really sees, each document is encoded once (``encode_ids``, then ``carry`` per chunk), and
    the chunks' texts carry their ids so ``embed`` does not tokenize them again."""

    tokenizer: ModelTokenizer

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self.tokenizer.offsets(text)

    def count(self, texts: list[str]) -> list[int]:
        return self.tokenizer.count(texts)

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        return self.tokenizer.tokenize(texts)

    def encode_ids(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray | None]:
        return self.tokenizer.encode_ids(text)

    def carry(self, text: str, ids: np.ndarray) -> TokenizedText:
        return self.tokenizer.carry(text, ids)
