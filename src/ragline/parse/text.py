"""Plain text with encoding detection: UTF-8 (with or without BOM), UTF-16, else a best guess.

Invalid bytes never crash a run: they are replaced and reported as a warning on the document.
"""

from __future__ import annotations

from ragline.errors import ParseError
from ragline.parse.base import Block, ParsedDoc, assemble


def decode(data: bytes) -> tuple[str, list[str]]:
    """Decode bytes to text and say what was not clean about it."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as exc:
            raise ParseError(f"invalid UTF-16: {exc}") from exc
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
