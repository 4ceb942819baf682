"""Shared shapes for parsers: a parser yields blocks, ``assemble`` cleans and joins them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragline.clean import clean_text
from ragline.errors import ParseError
from ragline.records import Section


class SkippedInput(ParseError):
    """The input is not something ragline ingests (binary, unknown type); not an error in it."""


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
