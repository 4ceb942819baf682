"""Markdown: the text is kept as written, split into blocks at ATX headings (``#`` .. ``######``)
so every chunk knows its heading path. Headings inside fenced code blocks are not headings."""

from __future__ import annotations

import re

from ragline.parse.base import Block, ParsedDoc, assemble
from ragline.parse.text import decode

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def markdown_blocks(text: str) -> tuple[list[Block], str | None]:
    """Split Markdown into heading-led blocks; returns the blocks and the first H1 as a title."""
    text = _FRONT_MATTER.sub("", text.replace("\r\n", "\n"))
    blocks: list[Block] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    title: str | None = None
    in_fence = False

    def flush() -> None:
        if lines:
            blocks.append(Block("\n".join(lines), heading=tuple(h for _, h in stack)))
            lines.clear()

    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level, heading = len(match.group(1)), match.group(2).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
            if title is None and level == 1:
                title = heading
            lines.append(heading)
        else:
            lines.append(line)
    flush()
    return blocks, title


def parse_markdown(data: bytes) -> ParsedDoc:
    text, warnings = decode(data)
    blocks, title = markdown_blocks(text)
    return assemble("markdown", blocks, title=title, warnings=warnings)
