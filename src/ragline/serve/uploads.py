"""Uploads: a body size limit enforced while it streams, names that never become paths, and the
content type sniffed from the bytes.

    request = limited_request(request, max_bytes=20 * 2**20)   # PayloadTooLarge past the limit
    item = upload_item("tenant-a", "../../etc/passwd", data)    # uri upload://tenant-a/..%2F..%2Fetc%2Fpasswd?as=.txt

A file's name is only ever part of its document's uri (percent-encoded, so ``/`` and ``..`` are
plain characters); the bytes stay in memory and go to the parsers as ``SourceItem.data``. The
client's content type and extension are not trusted: PDF and HTML are recognised by their bytes,
and the parser is chosen by the sniffed kind (the extension only tells Markdown and JSONL from
plain text, which bytes cannot).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from ragline.parse.detect import EXTENSIONS, looks_binary
from ragline.records import SourceItem

Message = MutableMapping[str, Any]
_HTML = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<\?xml[^>]*>\s*<html)", re.IGNORECASE)
# The extension that makes the parser take each sniffed kind.
_KIND_EXTENSION = {"pdf": ".pdf", "html": ".html", "markdown": ".md", "jsonl": ".jsonl", "text": ".txt"}
MAX_NAME_CHARS = 255


class PayloadTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


def limited_request(request: Request, max_bytes: int) -> Request:
    """The same request, whose body raises ``PayloadTooLarge`` as soon as more than ``max_bytes``
    have arrived (or at once when Content-Length says so): nothing past the limit is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(max_bytes)
    received = 0
    receive: Callable[[], Awaitable[Message]] = request.receive

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise PayloadTooLarge(max_bytes)
        return message

    return Request(request.scope, limited_receive)


def sniff_kind(data: bytes, name: str) -> str:
    """The parser for ``data``: from its bytes; the name's extension only picks among text kinds."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if looks_binary(data):
        return "binary"
    if _HTML.match(data[:1024]):
        return "html"
    claimed = EXTENSIONS.get(PurePosixPath(name).suffix.lower())
    return claimed if claimed in ("markdown", "jsonl") else "text"


def clean_name(name: str | None, fallback: str) -> str:
    """The name as given (no path handling at all), without control characters, at most 255 chars."""
    name = "".join(ch for ch in (name or "") if ch >= " " and ch != "\x7f").strip()
    return (name or fallback)[:MAX_NAME_CHARS]


def upload_uri(namespace: str, name: str, kind: str) -> str:
    """``upload://<namespace>/<percent-encoded name>``, plus ``?as=<ext>`` when the name's own
    extension would pick another parser than the sniffed kind."""
    uri = f"upload://{quote(namespace, safe='')}/{quote(name, safe='')}"
    extension = _KIND_EXTENSION.get(kind)
    if extension is not None and EXTENSIONS.get(PurePosixPath(name).suffix.lower()) != kind:
        uri += f"?as={extension}"
    return uri


def upload_item(namespace: str, name: str, data: bytes, *, title: str | None = None,
                metadata: dict[str, Any] | None = None) -> SourceItem:
    kind = sniff_kind(data, name)
    return SourceItem(uri=upload_uri(namespace, name, kind), data=data, size=len(data),
                      title=title, metadata={"name": name, "kind": kind, **(metadata or {})})


__all__ = ["PayloadTooLarge", "clean_name", "limited_request", "sniff_kind", "upload_item", "upload_uri"]
