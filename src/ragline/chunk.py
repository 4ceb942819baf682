"""Token-aware chunking with the embedder's own tokenizer.

    spans = split(text, tokenizer, max_tokens=254, overlap=32)
    assert all(text[s.start:s.end] for s in spans)

``split`` is the pure core: it cuts at paragraph, then sentence, then line boundaries when one
falls in the last part of the window, and never yields a chunk above ``max_tokens`` tokens (as
counted by the tokenizer on the chunk's own text) nor above ``max_chars`` characters. The second
bound matters where the tokenizer gives up: WordPiece turns any word over 100 characters (a 5 MB
line without spaces, a hex or base64 blob) into one ``[UNK]`` token, which is then cut into
pieces of ``max_chars``. ``Chunker`` maps it over documents and adds lineage: ids, char offsets,
index, page and heading path.

A document is tokenized once: with a ``DocumentTokenizer`` (the model tokenizer), a chunk that
starts and ends at word boundaries takes its slice of the document's ids, which are exactly the
ids of its own text; only chunks cut inside a word are tokenized on their own text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ragline.errors import ConfigError
from ragline.ids import content_hash, make_chunk_id
from ragline.records import Chunk, Document
from ragline.settings import default

_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*$")

# The character bound per token of the chunk size: 16 x 256 = 4096 characters by default. Real
# text averages 4-5 characters per MiniLM token (CJK: 1-2), so only text the tokenizer cannot
# read (one [UNK] standing for a long blob) ever reaches it.
CHARS_PER_TOKEN = 16
# Characters tokenized at a time (see token_offsets).
TOKENIZE_SEGMENT = 1 << 16


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


@runtime_checkable
class DocumentTokenizer(TextTokenizer, Protocol):
    """A text tokenizer that also encodes a whole document once (``embed.tokenizer.ModelTokenizer``):
    each chunk cut at word boundaries takes its slice of the document's ids."""

    def encode_ids(self, text: str) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray | None]:
        """Char spans, ids and word numbers (None: words cannot be cut apart) of the tokens."""

    def carry(self, text: str, ids: np.ndarray) -> str: ...


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


class _Boundaries:
    """Every token gap of a document by ``_boundary_strength`` (3, 2, 1; 0 is not kept), found
    from the few places where text can end a paragraph, a sentence or a line rather than by asking
    each gap: a chunk's window looks at ~100 gaps, the text holds a handful of such places."""

    _TERMINATOR = re.compile(r"[.!?:;]")
    _CLOSERS = frozenset("\"')]")

    def __init__(self, text: str, starts: Sequence[int], ends: Sequence[int]):
        n = len(starts)

        def gap_at(position: int, width: int) -> int:
            """The token index after the gap that holds text[position:position + width], or 0."""
            i = bisect.bisect_right(starts, position)
            return i if 0 < i < n and ends[i - 1] <= position and position + width <= starts[i] else 0

        paragraph = {gap_at(m.start(), 2) for m in re.finditer(r"(?=\n\n)", text)}
        line = {gap_at(m.start(), 1) for m in re.finditer(r"\n", text)}
        sentence = set()
        for match in self._TERMINATOR.finditer(text):
            # The gap after a token that ends at the terminator or up to two closers after it
            # (the three characters before the gap end with a terminator and closers only).
            end = match.end()
            for _ in range(3):
                k = bisect.bisect_right(ends, end) - 1
                if 0 <= k < n - 1 and ends[k] == end and starts[k + 1] > end:
                    sentence.add(k + 1)
                if end >= len(text) or text[end] not in self._CLOSERS:
                    break
                end += 1
        paragraph.discard(0)
        sentence -= paragraph
        sentence.discard(0)
        line -= paragraph | sentence
        line.discard(0)
        self.ends = ends
        self.by_strength = {3: sorted(paragraph), 2: sorted(sentence), 1: sorted(line)}
        self.sentence_starts = sorted(paragraph | sentence)  # strength >= 2

    def best_cut(self, lo: int, hi: int) -> int:
        """Token index in (lo, hi] to end a chunk at (exclusive): the last gap of the strongest
        kind there, else ``hi``."""
        for strength in (3, 2, 1):
            gaps = self.by_strength[strength]
            k = bisect.bisect_right(gaps, hi) - 1
            if k >= 0 and gaps[k] > lo:
                return gaps[k]
        return hi

    def first_sentence_start(self, lo: int, hi: int) -> int | None:
        """The first token index in [lo, hi) after a paragraph or sentence end, if any."""
        k = bisect.bisect_left(self.sentence_starts, lo)
        return self.sentence_starts[k] if k < len(self.sentence_starts) and self.sentence_starts[k] < hi else None


def _boundaries(text: str, offsets: list[tuple[int, int]]) -> _Boundaries:
    return _Boundaries(text, [start for start, _ in offsets], [end for _, end in offsets])


def _segment_bounds(text: str, segment: int) -> list[tuple[int, int]]:
    """[start, stop) pieces of ``text`` of at most ``segment`` characters, each cut after
    whitespace where there is some."""
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        stop = min(start + segment, len(text))
        if stop < len(text):
            cut = max(text.rfind(" ", start, stop), text.rfind("\n", start, stop), text.rfind("\t", start, stop))
            if cut >= start:
                stop = cut + 1
        bounds.append((start, stop))
        start = stop
    return bounds


def token_offsets(text: str, tokenizer: Tokenizer, segment: int = TOKENIZE_SEGMENT) -> list[tuple[int, int]]:
    """``tokenizer.offsets(text)``, computed a segment at a time, each cut after whitespace.

    The fast tokenizer keeps ~160 bytes of alignment data per character while it works, so a
    5M-character document peaked at ~720 MB; segments bound that to the segment's share. Tokens
    never cross whitespace, so cutting there changes nothing. A run of over ``segment`` characters
    without whitespace (a blob) is cut where it reaches that length; its tokens there may differ
    from one pass over the whole run, but every bound of ``split`` still holds.
    """
    if len(text) <= segment:
        return tokenizer.offsets(text)
    offsets: list[tuple[int, int]] = []
    for start, stop in _segment_bounds(text, segment):
        offsets += [(a + start, b + start) for a, b in tokenizer.offsets(text[start:stop])]
    return offsets


def token_ids(text: str, tokenizer: DocumentTokenizer, segment: int = TOKENIZE_SEGMENT
              ) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray | None]:
    """``token_offsets`` with the ids and word numbers of the same tokens, from the same single
    encode. The word numbers are None where a segment was cut inside a run without whitespace:
    the tokens there are not those of the run's own text, so no chunk may take them."""
    if len(text) <= segment:
        return tokenizer.encode_ids(text)
    offsets: list[tuple[int, int]] = []
    ids: list[np.ndarray] = []
    words: list[np.ndarray] | None = []
    base = 0  # word numbers go on across segments (each cut after whitespace ends a word)
    for start, stop in _segment_bounds(text, segment):
        piece_offsets, piece_ids, piece_words = tokenizer.encode_ids(text[start:stop])
        offsets += [(a + start, b + start) for a, b in piece_offsets]
        ids.append(piece_ids)
        if words is not None and piece_words is not None and (
                stop == len(text) or text[stop - 1] in " \n\t" or text[stop] in " \n\t"):
            words.append(piece_words + base)
            base += int(piece_words[-1]) + 1 if len(piece_words) else 0
        else:
            words = None
    return (offsets, np.concatenate(ids) if ids else np.zeros(0, np.int32),
            None if words is None else np.concatenate(words) if words else np.zeros(0, np.int64))


def _split_long_token(text: str, tokenizer: Tokenizer, start: int, end: int, max_tokens: int,
                      max_chars: int) -> list[Span]:
    """Pieces of at most ``max_chars`` characters (and ``max_tokens`` tokens) of one token's span."""
    spans: list[Span] = []
    while start < end:
        stop = min(start + max_chars, end)
        while True:
            count = tokenizer.count([text[start:stop]])[0]
            if count <= max_tokens or stop - start <= 1:
                break
            stop = start + max(1, (stop - start) * max_tokens // count)
        spans.append(Span(start, stop, count))
        start = stop
    return spans


def _cuts(text: str, offsets: list[tuple[int, int]], tokenizer: Tokenizer, max_tokens: int, overlap: int,
          max_chars: int, recount: Callable[[str], int] | None,
          ranges: list[tuple[int, int] | None] | None = None) -> list[Span]:
    """Spans (without texts) of each chunk. With ``recount``, each chunk is re-counted on its own
    text and shortened until it fits; without, the in-context count is used and the caller checks
    every chunk afterwards. ``ranges`` receives each span's [start, end) token indices (None for
    a piece of one over-long token)."""
    n = len(offsets)
    boundaries = _boundaries(text, offsets)
    token_ends = boundaries.ends
    spans: list[Span] = []
    start = prev_end = 0
    while start < n:
        if offsets[start][1] - offsets[start][0] > max_chars:
            # One token longer than a whole chunk may be: cut its text, with no overlap.
            pieces = _split_long_token(text, tokenizer, offsets[start][0], offsets[start][1],
                                       max_tokens, max_chars)
            spans += pieces
            if ranges is not None:
                ranges += [None] * len(pieces)
            start += 1
            continue
        end = min(start + max_tokens, n)
        # The character bound: the tokens that end within max_chars of the chunk's start.
        end = min(end, bisect.bisect_right(token_ends, offsets[start][0] + max_chars, start, end))
        if end < n:
            # Only look for a natural boundary in the last 40% of the window, and past the end of
            # the previous chunk (a window shortened by max_chars may reach little further).
            end = boundaries.best_cut(max(start + max(1, ((end - start) * 3) // 5), prev_end), end)
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
        spans.append(Span(char_start, char_end, count))
        if ranges is not None:
            ranges.append((start, end))
        if end >= n:
            break
        prev_end = end
        next_start = max(end - overlap, start + 1)
        if overlap:
            # Begin the overlap at a sentence start when one lies inside it.
            sentence_start = boundaries.first_sentence_start(next_start, end)
            if sentence_start is not None:
                next_start = sentence_start
        # The next chunk must reach past this one within max_chars, or it would repeat it.
        while next_start < end and offsets[end][1] - offsets[next_start][0] > max_chars:
            next_start += 1
        start = next_start
    return spans


def split(text: str, tokenizer: Tokenizer, max_tokens: int, overlap: int,
          max_chars: int | None = None) -> list[Span]:
    """Spans of at most ``max_tokens`` tokens and ``max_chars`` characters (default
    ``CHARS_PER_TOKEN * max_tokens``), consecutive ones sharing about ``overlap`` tokens."""
    if max_tokens < 8:
        raise ConfigError(f"max_tokens must be at least 8 (got {max_tokens})")
    if not 0 <= overlap < max_tokens // 2:
        raise ConfigError(f"overlap must be in [0, max_tokens/2) (got {overlap} for {max_tokens})")
    max_chars = CHARS_PER_TOKEN * max_tokens if max_chars is None else max_chars
    if max_chars < 1:
        raise ConfigError(f"max_chars must be at least 1 (got {max_chars})")
    doc_ids: np.ndarray | None = None
    words: np.ndarray | None = None
    if isinstance(tokenizer, DocumentTokenizer):
        offsets, doc_ids, words = token_ids(text, tokenizer)
    else:
        offsets = token_offsets(text, tokenizer)
    # Cut with the in-context counts, then count every chunk on its own text (which also gives the
    # token ids the embedder needs): from the document's ids where both cuts fall between words,
    # else in one batched call. A chunk that came out longer on its own than in context (rare: a cut
    # inside a word) sends the document back to the careful path, which re-counts each chunk as
    # it goes; where none does, both give the same cuts.
    ranges: list[tuple[int, int] | None] = []
    spans = _cuts(text, offsets, tokenizer, max_tokens, overlap, max_chars, recount=None, ranges=ranges)
    texts = [text[span.start:span.end] for span in spans]
    pieces: list[str | None]
    counts: list[int]
    if words is not None:
        assert isinstance(tokenizer, DocumentTokenizer) and doc_ids is not None
        pieces, counts = _carried(texts, doc_ids, words, ranges, tokenizer)
    elif isinstance(tokenizer, TextTokenizer):
        pieces = list(tokenizer.tokenize(texts))
        counts = [len(piece.ids) for piece in pieces]  # type: ignore[union-attr]
    else:
        pieces, counts = [None] * len(texts), tokenizer.count(texts)
    if any(count > max_tokens for count in counts):
        spans = _cuts(text, offsets, tokenizer, max_tokens, overlap, max_chars,
                      recount=lambda chunk: tokenizer.count([chunk])[0])
        texts = [text[span.start:span.end] for span in spans]
        pieces = list(tokenizer.tokenize(texts)) if isinstance(tokenizer, TextTokenizer) else [None] * len(texts)
        counts = [span.token_count for span in spans]
    return [Span(span.start, span.end, count, piece) for span, count, piece in zip(spans, counts, pieces)]


def _carried(texts: list[str], doc_ids: np.ndarray, words: np.ndarray, ranges: list[tuple[int, int] | None],
             tokenizer: DocumentTokenizer) -> tuple[list[str | None], list[int]]:
    """Each chunk text with its ids and count: the document's ids from its first to its last token
    where both are cut from their neighbours at a word boundary (so the chunk's own text tokenizes
    to exactly those), else tokenized on its own, all such chunks in one call."""
    n = len(words)
    pieces: list[str | None] = [None] * len(texts)
    counts = [0] * len(texts)
    alone: list[int] = []
    for k, token_range in enumerate(ranges):
        if token_range is not None:
            start, end = token_range
            if (start == 0 or words[start - 1] != words[start]) and (end == n or words[end - 1] != words[end]):
                pieces[k], counts[k] = tokenizer.carry(texts[k], doc_ids[start:end]), end - start
                continue
        alone.append(k)
    if alone:
        for k, piece in zip(alone, tokenizer.tokenize([texts[k] for k in alone])):
            pieces[k], counts[k] = piece, len(piece.ids)  # type: ignore[attr-defined]
    return pieces, counts


@dataclass(frozen=True)
class ChunkerConfig:
    # Defaults: ragline.settings.ChunkSettings. max_chars None: CHARS_PER_TOKEN x max_tokens.
    max_tokens: int = default("chunk.max_tokens")
    overlap: int = default("chunk.overlap")
    max_chars: int | None = default("chunk.max_chars")

    @property
    def char_limit(self) -> int:
        return self.max_chars if self.max_chars is not None else CHARS_PER_TOKEN * self.max_tokens


class Chunker:
    """Maps ``split`` over documents; ``max_tokens`` is capped by the model's limit."""

    def __init__(self, tokenizer: Tokenizer, model_max_tokens: int, config: ChunkerConfig | None = None):
        config = config or ChunkerConfig()
        if config.max_chars is not None and config.max_chars < 1:
            raise ConfigError(f"chunk max_chars must be at least 1 (got {config.max_chars})")
        if config.max_tokens < 8:
            raise ConfigError(f"chunk max_tokens must be at least 8 (got {config.max_tokens}); raise --max-tokens")
        if config.max_tokens > model_max_tokens:
            raise ConfigError(f"chunk max_tokens={config.max_tokens} is above the model's limit of "
                              f"{model_max_tokens} tokens; lower --max-tokens")
        self.tokenizer = tokenizer
        self.config = config
        self.model_max_tokens = model_max_tokens
        # The embedder adds [CLS] and [SEP]; the chunk text itself must leave room for them.
        self.content_tokens = min(config.max_tokens, model_max_tokens - 2)
        if not 0 <= config.overlap < self.content_tokens // 2:
            raise ConfigError(f"chunk overlap must be in [0, {self.content_tokens // 2}) for max_tokens="
                              f"{config.max_tokens} (got {config.overlap}); lower --overlap")

    def __call__(self, doc: Document) -> list[Chunk]:
        spans = split(doc.text, self.tokenizer, self.content_tokens, self.config.overlap,
                      self.config.char_limit)
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
