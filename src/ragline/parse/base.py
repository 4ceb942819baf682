"""Shared shapes for parsers: a parser yields blocks, ``assemble`` cleans and joins them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragline.clean import clean_text
from ragline.errors import ParseError
from ragline.records import Section


class SkippedInput(ParseError):
    """The input is not something ragline ingests (binary, unknown type); not an error in it."""


# Characters of text one document may yield (``--max-doc-chars``). Chunking holds ~30 bytes per
# character at its peak (README "Reliability and limits"), so this bounds a parse worker's memory
# whatever a small file expands to (a PDF whose compressed streams hold gigabytes of text).
DEFAULT_MAX_DOC_CHARS = 10_000_000


class TooLarge(ParseError):
    """The document yields more text than the per-document limit; its reason starts ``too_large:``."""

    def __init__(self, detail: str, max_chars: int):
        super().__init__(f"too_large: {detail}, over the limit of {max_chars:,} characters per "
                         "document (raise --max-doc-chars to ingest it)")


def check_doc_chars(parsed: ParsedDoc, max_chars: int | None) -> ParsedDoc:
    """Every parser's output passes here: a document over ``max_chars`` characters fails."""
    if max_chars is not None and len(parsed.text) > max_chars:
        raise TooLarge(f"{len(parsed.text):,} characters of {parsed.kind} text", max_chars)
    return parsed


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    page: int | None = None
    heading: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedDoc:
    kind: str
    text: str
    sections: tuple[Section, ...] = ()
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def assemble(kind: str, blocks: list[Block], *, title: str | None = None,
             metadata: dict[str, Any] | None = None, warnings: list[str] | None = None) -> ParsedDoc:
    """Clean each block, drop empty ones, join with blank lines and record each block's span."""
    parts: list[str] = []
    sections: list[Section] = []
    offset = 0
    for block in blocks:
        text = clean_text(block.text)
        if not text:
            continue
        if parts:
            offset += 2  # the "\n\n" separator
        sections.append(Section(offset, offset + len(text), block.page, block.heading))
        parts.append(text)
        offset += len(text)
    full = "\n\n".join(parts)
    if not full:
        raise ParseError("no text content after cleaning")
    return ParsedDoc(kind=kind, text=full, sections=tuple(sections),
                     title=clean_text(title) if title else None,
                     metadata=metadata or {}, warnings=warnings or [])
