"""Choose a parser by sniffing content, then by extension."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

from ragline.errors import ParseError
from ragline.parse.base import ParsedDoc, SkippedInput, check_doc_chars
from ragline.parse.text import sniff_bom

EXTENSIONS = {
    ".txt": "text", ".text": "text", ".rst": "text", ".log": "text",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".pdf": "pdf",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
}


def looks_binary(data: bytes) -> bool:
    """NUL bytes or a high share of control bytes in the first 8 KiB mean 'not text'. A UTF-16
    or UTF-32 byte-order mark means the *decoded* characters are judged, not the bytes (whose
    zero high bytes would otherwise look like NULs)."""
    head = data[:8192]
    if not head:
        return False
    bom = sniff_bom(head)
    if bom is not None and bom[0] != "utf-8":
        text = head[bom[1]:].decode(bom[0], errors="replace")
        if not text:
            return False
        # Random bytes behind a BOM decode to invalid sequences (U+FFFD), private-use and
        # unassigned code points; real text has almost none of them.
        odd = sum(1 for ch in text if ch < "\t" or "\r" < ch < " " or ch == "\ufffd"
                  or unicodedata.category(ch) in ("Co", "Cn", "Cs"))
        return "\x00" in text or odd / len(text) > 0.1
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls / len(head) > 0.1


def _blank(data: bytes) -> bool:
    bom = sniff_bom(data)
    if bom is not None and bom[0] != "utf-8":
        return not data[bom[1]:].decode(bom[0], errors="replace").strip()
    # Bytes of ASCII spaces, NO-BREAK SPACE (c2 a0), IDEOGRAPHIC SPACE (e3 80 80) and the BOM (ef bb bf).
    return not data.strip(b" \t\r\n\x0b\x0c\xc2\xa0\xe3\x80\xef\xbb\xbf")


def detect_kind(data: bytes, name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if data.startswith(b"%PDF-"):
        return "pdf"
    kind = EXTENSIONS.get(suffix)
    if kind is None:
        raise SkippedInput(f"unsupported file type {suffix or '(no extension)'!r}")
    if kind == "pdf":
        raise ParseError("corrupt PDF: the file does not start with a %PDF header")
    if looks_binary(data):
        raise SkippedInput(f"binary content in a {suffix} file")
    return kind


def parse_bytes(data: bytes, name: str, *, max_bytes: int | None = None,
                max_chars: int | None = None) -> ParsedDoc:
    """Parse one file's bytes; more than ``max_chars`` characters of text fail with ``TooLarge``
    (a PDF stops extracting at the page that crosses it)."""
    return check_doc_chars(_parse(data, name, max_bytes, max_chars), max_chars)


def _parse(data: bytes, name: str, max_bytes: int | None, max_chars: int | None) -> ParsedDoc:
    if not data:
        raise SkippedInput("empty file")
    if max_bytes is not None and len(data) > max_bytes:
        raise ParseError(f"file too large: {len(data) / 2**20:.1f} MiB > limit "
                         f"{max_bytes / 2**20:.1f} MiB (raise --max-file-size to ingest it)")
    kind = detect_kind(data, name)
    if kind != "pdf" and _blank(data):
        raise SkippedInput("no text content (only whitespace)")
    if kind == "text":
        from ragline.parse.text import parse_text
        return parse_text(data)
    if kind == "markdown":
        from ragline.parse.markdown import parse_markdown
        return parse_markdown(data)
    if kind == "html":
        from ragline.parse.html import parse_html
        return parse_html(data)
    if kind == "pdf":
        from ragline.parse.pdf import parse_pdf
        return parse_pdf(data, max_chars=max_chars)
    raise ParseError(f"{kind} files hold many records; read them with the JSONL source")
