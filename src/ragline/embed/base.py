"""The embedder protocol and the token-budget batching that every backend shares.

    for batch in token_budget_batches(token_counts, budget=16384, max_batch=256): ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

T = TypeVar("T")


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    revision: str
    max_tokens: int

    @property
    def dim(self) -> int: ...

    def offsets(self, text: str) -> list[tuple[int, int]]: ...

    def count(self, texts: list[str]) -> list[int]: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim), each row L2-normalised."""

    def close(self) -> None: ...


@runtime_checkable
class TokenEmbedder(Protocol):
    """An embedder that can also give one vector per token (late interaction, MaxSim)."""

    def embed_tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per text a float32 (tokens, dim) array of L2-normalised token vectors, without
        padding or the special tokens the tokenizer adds ([CLS], [SEP])."""


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    if size < 1:
        raise ValueError("batch size must be >= 1")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def token_budget_batches(lengths: Sequence[int], budget: int, max_batch: int) -> list[list[int]]:
    """Group indices so each batch's padded size (count x longest) stays within ``budget``.

    Indices are sorted by length first, so a batch holds texts of similar length and padding
    is small; callers restore the original order from the indices.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_if_added = max(longest, lengths[i])
        if current and (len(current) + 1) * longest_if_added > budget or len(current) >= max_batch:
            batches.append(current)
            current, longest_if_added = [], lengths[i]
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
