"""Token-aware chunking with the embedder's own tokenizer.

    spans = split(text, tokenizer, max_tokens=254, overlap=32)
    assert all(text[s.start:s.end] for s in spans)

``split`` is the pure core: it cuts at paragraph, then sentence, then line boundaries when one
falls in the last part of the window, and never yields a chunk above ``max_tokens`` tokens (as
counted by the tokenizer on the chunk's own text). ``Chunker`` maps it over documents and adds
lineage: ids, char offsets, index, page and heading path.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ragline.errors import ConfigError
from ragline.ids import content_hash, make_chunk_id
from ragline.records import Chunk, Document

_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*$")


class Tokenizer(Protocol):
    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Char spans of the tokens of ``text``, without special tokens."""

    def count(self, texts: list[str]) -> list[int]:
        """Token counts of each text, without special tokens."""


@runtime_checkable
class TextTokenizer(Protocol):
    """A tokenizer that returns each text with its token ids (``embed.tokenizer.TokenizedText``):
    the chunk texts then reach the embedder already tokenized."""

    def tokenize(self, texts: Sequence[str]) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    token_count: int
    # The chunk's text as the tokenizer returned it (with its token ids), when it can.
    text: str | None = field(default=None, compare=False, repr=False)


def _boundary_strength(text: str, prev_end: int, next_start: int) -> int:
    """How good a place to cut is the gap between two tokens: 3 paragraph, 2 sentence, 1 line."""
    gap = text[prev_end:next_start]
    if "\n\n" in gap:
        return 3
    if gap and _SENTENCE_END.search(text[max(0, prev_end - 3):prev_end]):
        return 2
    if "\n" in gap:
        return 1
    return 0


def _best_cut(text: str, offsets: list[tuple[int, int]], lo: int, hi: int) -> int:
    """Token index in (lo, hi] to end a chunk at (exclusive), preferring strong boundaries."""
    best, best_strength = hi, 0
    for i in range(hi, lo, -1):
        if i >= len(offsets):
            return len(offsets)
        strength = _boundary_strength(text, offsets[i - 1][1], offsets[i][0])
        if strength > best_strength:
            best, best_strength = i, strength
            if strength == 3:
                break
    return best


def _cuts(text: str, offsets: list[tuple[int, int]], max_tokens: int, overlap: int,
          recount: Callable[[str], int] | None) -> list[tuple[int, int, int]]:
    """(char start, char end, token count) of each chunk. With ``recount``, each chunk is
    re-counted on its own text and shortened until it fits; without, the in-context count is used
    and the caller checks every chunk afterwards."""
    n = len(offsets)
    cuts: list[tuple[int, int, int]] = []
    start = 0
    while start < n:
        end = min(start + max_tokens, n)
        if end < n:
            # Only look for a natural boundary in the last 40% of the window.
            end = _best_cut(text, offsets, start + max(1, (max_tokens * 3) // 5), end)
        # Re-count on the chunk's own text: tokenisation at a cut can differ from in context.
        while True:
            char_start, char_end = offsets[start][0], offsets[end - 1][1]
            if recount is None:
                count = end - start
                break
            count = recount(text[char_start:char_end])
            if count <= max_tokens or end - start <= 1:
                break
            end -= max(1, count - max_tokens)
        cuts.append((char_start, char_end, count))
        if end >= n:
            break
        next_start = max(end - overlap, start + 1)
        if overlap:
            # Begin the overlap at a sentence start when one lies inside it.
            for i in range(next_start, end):
                if _boundary_strength(text, offsets[i - 1][1], offsets[i][0]) >= 2:
                    next_start = i
                    break
        start = next_start
    return cuts


def split(text: str, tokenizer: Tokenizer, max_tokens: int, overlap: int) -> list[Span]:
    if max_tokens < 8:
        raise ConfigError(f"max_tokens must be at least 8 (got {max_tokens})")
    if not 0 <= overlap < max_tokens // 2:
        raise ConfigError(f"overlap must be in [0, max_tokens/2) (got {overlap} for {max_tokens})")
    offsets = tokenizer.offsets(text)
    # Cut with the in-context counts, then count every chunk on its own text in one batched call
    # (which also gives the token ids the embedder needs). A chunk that came out longer on its
    # own than in context (rare: a cut inside a word) sends the document back to the careful
    # path, which re-counts each chunk as it goes; where none does, both give the same cuts.
    cuts = _cuts(text, offsets, max_tokens, overlap, recount=None)
    texts = [text[start:end] for start, end, _ in cuts]
    pieces: Sequence[str | None]
    if isinstance(tokenizer, TextTokenizer):
        pieces = tokenizer.tokenize(texts)
        counts = [len(piece.ids) for piece in pieces]  # type: ignore[attr-defined]
    else:
        pieces, counts = [None] * len(texts), tokenizer.count(texts)
    if any(count > max_tokens for count in counts):
        cuts = _cuts(text, offsets, max_tokens, overlap, recount=lambda chunk: tokenizer.count([chunk])[0])
        texts = [text[start:end] for start, end, _ in cuts]
        pieces = tokenizer.tokenize(texts) if isinstance(tokenizer, TextTokenizer) else [None] * len(texts)
        counts = [count for _, _, count in cuts]
    return [Span(start, end, count, piece) for (start, end, _), count, piece in zip(cuts, counts, pieces)]


@dataclass(frozen=True)
class ChunkerConfig:
    max_tokens: int = 256
    overlap: int = 32


class Chunker:
    """Maps ``split`` over documents; ``max_tokens`` is capped by the model's limit."""

    def __init__(self, tokenizer: Tokenizer, model_max_tokens: int, config: ChunkerConfig | None = None):
        config = config or ChunkerConfig()
        if config.max_tokens > model_max_tokens:
            raise ConfigError(f"chunk max_tokens={config.max_tokens} is above the model's limit of "
                              f"{model_max_tokens} tokens; lower --max-tokens")
        self.tokenizer = tokenizer
        self.config = config
        self.model_max_tokens = model_max_tokens
        # The embedder adds [CLS] and [SEP]; the chunk text itself must leave room for them.
        self.content_tokens = min(config.max_tokens, model_max_tokens - 2)

    def __call__(self, doc: Document) -> list[Chunk]:
        spans = split(doc.text, self.tokenizer, self.content_tokens, self.config.overlap)
        starts = [s.start for s in doc.sections]
        chunks = []
        for index, span in enumerate(spans):
            text = span.text if span.text is not None else doc.text[span.start:span.end]
            text_hash = content_hash(text)
            metadata = dict(doc.metadata)
            if doc.sections:
                section = doc.sections[max(0, bisect.bisect_right(starts, span.start) - 1)]
                if section.page is not None:
                    metadata["page"] = section.page
                    last = doc.sections[max(0, bisect.bisect_right(starts, span.end - 1) - 1)]
                    if last.page is not None and last.page != section.page:
                        metadata["page_end"] = last.page  # the chunk runs over a page break
                if section.heading:
                    metadata["heading"] = " > ".join(section.heading)
            chunks.append(Chunk(
                chunk_id=make_chunk_id(doc.doc_id, index, text_hash), doc_id=doc.doc_id,
                index=index, text=text, start=span.start, end=span.end,
                token_count=span.token_count, content_hash=text_hash, metadata=metadata,
            ))
        return chunks
