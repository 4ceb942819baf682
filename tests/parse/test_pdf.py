"""PDF extraction stops at the page that passes the per-document character limit."""

from __future__ import annotations

import pytest

from ragline.parse import TooLarge, parse_bytes
from ragline.parse.pdf import parse_pdf
from tests.parse.pdfgen import make_pdf, page_text

LINE = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 17  # ~1 kB per text op


def dense_page(ops: int) -> bytes:
    """A content stream of ``ops`` lines of ~1000 characters: compresses ~1000:1."""
    body = page_text(LINE, size=1)[:-len(b" ET")].split(b"(", 1)
    line = b"(" + body[1].split(b")", 1)[0] + b") Tj 0 -1 Td\n"
    return body[0] + line * ops + b"ET"


def test_generated_pdfs_parse_with_their_pages():
    doc = parse_pdf(make_pdf([page_text(f"Page {n} holds this sentence about lava.") for n in range(1, 4)]))
    assert [s.page for s in doc.sections] == [1, 2, 3] and "Page 2 holds" in doc.text


def test_a_decompression_bomb_stops_at_the_page_that_passes_the_limit():
    bomb = make_pdf([dense_page(300)] * 400)  # 400 pages x ~300k characters = ~120M characters
    assert len(bomb) < 200_000
    with pytest.raises(TooLarge, match=r"^too_large: the text layer passes [\d,]+ characters by page 4 of 400"):
        parse_pdf(bomb, max_chars=1_000_000)
    # through the one entry point every file takes, with the reason the report and dead letters show
    with pytest.raises(TooLarge, match="raise --max-doc-chars"):
        parse_bytes(bomb, "bomb.pdf", max_chars=1_000_000)


def test_under_the_limit_nothing_changes():
    data = make_pdf([dense_page(20)] * 3)
    assert parse_pdf(data, max_chars=100_000).text == parse_pdf(data).text
