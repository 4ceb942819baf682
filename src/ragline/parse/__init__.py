"""Parsers turn the bytes of one source item into cleaned text with structure.

    parsed = parse_bytes(data, name="guide.md")
    parsed.text, parsed.sections   # NFC-normalised text; heading paths / pages with char spans

The kind is chosen by content sniffing first (a PDF is a PDF whatever its name), then by extension.
Unknown or binary files raise ``SkippedInput``; broken ones raise ``ParseError`` with a reason.
"""

from ragline.parse.base import Block, ParsedDoc, SkippedInput, assemble
from ragline.parse.detect import detect_kind, parse_bytes

__all__ = ["Block", "ParsedDoc", "SkippedInput", "assemble", "detect_kind", "parse_bytes"]
