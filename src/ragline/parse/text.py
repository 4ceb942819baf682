"""Plain text with encoding detection: a BOM (UTF-8, UTF-16 or UTF-32, either byte order) decides;
else UTF-8; else a best guess.

    text, warnings = decode("\ufeffhello".encode("utf-16-le"))   # -> "hello", []

Invalid bytes never crash a run: they are replaced and reported as a warning on the document.
"""

from __future__ import annotations

import codecs

from ragline.errors import ParseError
from ragline.parse.base import Block, ParsedDoc, assemble

# Longest first: the UTF-32 LE BOM (FF FE 00 00) starts with the UTF-16 LE one (FF FE).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def sniff_bom(data: bytes) -> tuple[str, int] | None:
    """(codec, BOM length) when ``data`` starts with a Unicode byte-order mark."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            # FF FE 00 00 is also UTF-16 LE text whose first character is U+0000; a text file
            # never starts with NUL, so read it as UTF-32 LE.
            return codec, len(bom)
    return None


def _decode_bom(data: bytes, codec: str, skip: int) -> tuple[str, list[str]]:
    body = data[skip:]
    unit = 4 if codec.startswith("utf-32") else 2 if codec.startswith("utf-16") else 1
    try:
        return body.decode(codec), []
    except UnicodeDecodeError:
        text = body.decode(codec, errors="replace")
        what = "a truncated final character" if len(body) % unit else "undecodable sequence(s)"
        return text, [f"invalid {codec.upper()}: {what} replaced with U+FFFD"]


def decode(data: bytes) -> tuple[str, list[str]]:
    """Decode bytes to text and say what was not clean about it."""
    bom = sniff_bom(data)
    if bom is not None and bom[0] != "utf-8":
        return _decode_bom(data, *bom)
    if bom is not None:
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    lossy = data.decode("utf-8", errors="replace")
    bad = lossy.count("\ufffd")
    # A few bad bytes in otherwise UTF-8 text: keep UTF-8 and say how many were replaced.
    if bad <= max(8, len(lossy) // 1000):
        return lossy, [f"invalid UTF-8: {bad} undecodable byte sequence(s) replaced with U+FFFD"]
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise ParseError("undecodable text: not UTF-8 and no other encoding fits")
    # Among equally plausible single-byte guesses, Western European (cp1252, a superset of
    # printable Latin-1) is by far the most common; charset-normalizer's ranking can pick
    # cp1250 and turn "à" into "ŕ".
    for match in matches:
        if match.encoding in ("cp1252", "latin_1", "iso8859_15") and match.chaos <= best.chaos + 0.05:
            best = match
            break
    return str(best), [f"not UTF-8: decoded as {best.encoding}"]


def parse_text(data: bytes) -> ParsedDoc:
    text, warnings = decode(data)
    return assemble("text", [Block(text)], warnings=warnings)
