"""Parsers turn the bytes of one source item into cleaned text with structure.

    parsed = parse_bytes(data, name="guide.md")
    parsed.text, parsed.sections   # NFC-normalised text; heading paths / pages with char spans

The kind is chosen by content sniffing first (a PDF is a PDF whatever its name), then by extension.
Unknown or binary files raise ``SkippedInput``; broken ones raise ``ParseError`` with a reason.
"""

from ragline.parse.base import (
                                DEFAULT_MAX_DOC_CHARS,
                                Block,
                                ParsedDoc,
                                SkippedInput,
                                TooLarge,
                                assemble,
                                check_doc_chars,
)
from ragline.parse.detect import detect_kind, parse_bytes

__all__ = ["DEFAULT_MAX_DOC_CHARS", "Block", "ParsedDoc", "SkippedInput", "TooLarge", "assemble",
           "check_doc_chars", "detect_kind", "parse_bytes"]
