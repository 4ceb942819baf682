"""Write small PDFs by hand (zlib-compressed content streams), for parser and hostile-input tests.

    data = make_pdf([page_text("Hello world")] * 3)
    bomb = make_pdf([page_text("A" * 50_000_000)])   # a few tens of KiB on disk
"""

from __future__ import annotations

import zlib


def page_text(text: str, size: int = 10) -> bytes:
    """A page content stream that draws ``text`` (ASCII) as one line in Helvetica."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"BT /F1 %d Tf 20 700 Td (" % size + escaped.encode("latin-1") + b") Tj ET"


def make_pdf(contents: list[bytes]) -> bytes:
    """A PDF with one page per content stream, each stream Flate-compressed; pages with the same
    content share one stream object (so a bomb of many pages stays a few KiB)."""
    unique = list(dict.fromkeys(contents))
    n_pages = len(contents)
    first_stream = 4 + n_pages
    stream_of = {content: first_stream + i for i, content in enumerate(unique)}
    kids = " ".join(f"{4 + i} 0 R" for i in range(n_pages))
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>",
                            f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode(),
                            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for content in contents:
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {stream_of[content]} 0 R "
                       f"/Resources << /Font << /F1 3 0 R >> >> >>".encode())
    for content in unique:
        stream = zlib.compress(content, 9)
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream
                       + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
