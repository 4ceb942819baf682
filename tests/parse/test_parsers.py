from __future__ import annotations

import pytest

from ragline.errors import ParseError
from ragline.parse import SkippedInput, parse_bytes
from tests.conftest import FIXTURES, SAMPLES


def parse(rel: str):
    path = FIXTURES / rel
    return parse_bytes(path.read_bytes(), path.name)


def test_markdown_keeps_heading_paths():
    doc = parse("good/psmisc-README.md")
    assert doc.title == "psmisc"
    headings = {" > ".join(s.heading) for s in doc.sections}
    assert "psmisc > Getting latest source > GitLab" in headings
    for section in doc.sections:
        assert doc.text[section.start:section.end].strip()


def test_html_boilerplate_removed_title_kept():
    doc = parse("good/tutorial-whatnow.html")
    assert doc.title.startswith("13. What Now?")
    assert "Reading this tutorial has probably reinforced" in doc.text
    for boilerplate in ("Previous topic", "Show Source", "Report a Bug", "Navigation", "¶"):
        assert boilerplate not in doc.text


def test_html_headings_become_sections():
    path = SAMPLES / "docs/python/library-tomllib.html"
    doc = parse_bytes(path.read_bytes(), path.name)
    assert any(s.heading[-1:] == ("Examples",) for s in doc.sections)


def test_deeply_nested_html_loses_nothing():
    doc = parse("edge/deep_nested.html")
    for text in ("nested scope: The ability to refer", "Flat is better than nested.",
                 "The nonlocal statement allows writing to outer scopes"):
        assert text in doc.text


def test_pdf_pages_and_title():
    doc = parse("good/tutorial-interpreter.pdf")
    assert doc.kind == "pdf" and doc.title == "Using the Python Interpreter"
    assert [s.page for s in doc.sections] == [1, 2]
    assert "interpreter" in doc.text.lower()


def test_partly_scanned_pdf_flagged_needs_ocr():
    doc = parse("edge/partly_scanned.pdf")
    assert doc.metadata["needs_ocr"] is True and doc.metadata["pages_without_text"] == 1
    assert "docstring" in doc.text
    assert any("no text layer" in w for w in doc.warnings)


@pytest.mark.parametrize("rel, error, reason", [
    ("bad/corrupt.pdf", ParseError, "corrupt PDF"),
    ("bad/encrypted.pdf", ParseError, "encrypted PDF"),
    ("bad/scanned.pdf", ParseError, "no text layer"),
    ("bad/binary.txt", SkippedInput, "binary"),
    ("bad/empty.txt", SkippedInput, "empty"),
    ("bad/whitespace_only.md", SkippedInput, "whitespace"),
    ("bad/unknown.xyz", SkippedInput, "unsupported file type"),
])
def test_bad_inputs_fail_with_a_reason(rel, error, reason):
    with pytest.raises(error, match=reason):
        parse(rel)


def test_pdf_sniffed_whatever_the_name():
    data = (FIXTURES / "good/tutorial-interpreter.pdf").read_bytes()
    assert parse_bytes(data, "misnamed.txt").kind == "pdf"


def test_invalid_utf8_is_replaced_and_reported():
    doc = parse("encoding/invalid_utf8.txt")
    assert "U+0000–U+10FFFF" in doc.text
    assert "\ufffd" in doc.text
    assert doc.warnings and "invalid UTF-8" in doc.warnings[0]


def test_latin1_decoded_as_western_european():
    doc = parse("encoding/latin1.txt")
    assert "façon" in doc.text and "à tous" in doc.text and "ŕ" not in doc.text


def test_bom_and_crlf_normalised():
    doc = parse("encoding/utf8_bom_crlf.txt")
    assert doc.text.startswith("universal newlines") and "\r" not in doc.text


def test_unicode_nfc_and_control_characters():
    doc = parse("encoding/unicode_nfd_controls.md")
    assert "Marc-André Lemburg" in doc.text and "Martin von Löwis" in doc.text
    assert "e\u0301" not in doc.text
    assert not any(ch in doc.text for ch in "\x01\x07\x08\x0b\x0c\x1b\x7f")


def test_size_limit_reports_how_to_raise_it():
    with pytest.raises(ParseError, match="--max-file-size"):
        parse_bytes(b"x" * 2048, "big.txt", max_bytes=1024)


@pytest.mark.parametrize("name, data", [
    ("long.txt", b"word " * 30_000),
    ("line.txt", b"x" * 150_000),                                         # one line, no spaces
    ("deep.html", b"<html><body>" + b"<div>nested text " * 20_000 + b"</body></html>"),
    ("doc.md", b"# Title\n\n" + b"A paragraph of markdown text.\n\n" * 5_000),
])
def test_every_parsers_output_is_held_to_the_character_limit(name, data):
    from ragline.parse import TooLarge

    with pytest.raises(TooLarge, match=r"^too_large: [\d,]+ characters of \w+ text, over the limit of "
                                       r"100,000 characters per document"):
        parse_bytes(data, name, max_chars=100_000)
    assert len(parse_bytes(data, name, max_chars=10_000_000).text) > 100_000
