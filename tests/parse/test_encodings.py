"""UTF-16 and UTF-32 with a byte-order mark, both byte orders, are text in every parser that reads text."""

from __future__ import annotations

import random

import pytest

from ragline.parse import SkippedInput, parse_bytes
from ragline.parse.detect import looks_binary
from ragline.parse.text import decode
from ragline.sources.jsonl import iter_jsonl_records
from tests.conftest import FIXTURES

CODECS = ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
SAMPLE = "Beautiful is better than ugly.\nCaf\u00e9 \u2014 na\u00efve \U0001F40D \u2603\n"


def with_bom(text: str, codec: str) -> bytes:
    return ("\ufeff" + text).encode(codec)


@pytest.mark.parametrize("rel, kind, expected", [
    ("encoding/utf16le_bom.txt", "text", "serialized as a sequence of bytes"),
    ("encoding/utf16be_bom.md", "markdown", "Tab Completion and History Editing"),
    ("encoding/utf32le_bom.html", "html", "Copyright \u00a9 2000 BeOpen.com"),
    ("encoding/utf32be_bom.txt", "text", "io.BytesIO and"),
])
def test_bom_fixtures_parse_as_text(rel, kind, expected):
    path = FIXTURES / rel
    doc = parse_bytes(path.read_bytes(), path.name)
    assert doc.kind == kind and expected in doc.text
    assert "\ufeff" not in doc.text and "\x00" not in doc.text and not doc.warnings
    if kind == "text" and "16" in rel:
        assert "U+0000\u2013U+10FFFF" in doc.text and "\r" not in doc.text
    if kind == "markdown":
        assert any(s.heading[-1:] == ("Tab Completion and History Editing",) for s in doc.sections)
    if kind == "html":
        assert doc.title.startswith("Copyright") and "\U0001F40D" in doc.text


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("name, wrap", [
    ("a.txt", lambda t: t),
    ("a.md", lambda t: "# Zen\n\n" + t),
    ("a.html", lambda t: f"<html><head><title>Zen</title></head><body><p>{t}</p></body></html>"),
])
def test_every_text_parser_reads_every_bom(codec, name, wrap):
    doc = parse_bytes(with_bom(wrap(SAMPLE), codec), name)
    assert "Caf\u00e9 \u2014 na\u00efve \U0001F40D" in doc.text and not doc.warnings
    assert not looks_binary(with_bom(wrap(SAMPLE), codec))


@pytest.mark.parametrize("codec", CODECS)
def test_jsonl_reads_every_bom(codec):
    lines = '{"id": 1, "text": "Caf\u00e9 \U0001F40D"}\n{"id": "b", "text": "two"}\n'
    records = list(iter_jsonl_records(with_bom(lines, codec), "file:///x.jsonl"))
    assert [r.error for r in records] == [None, None]
    assert records[0].text == "Caf\u00e9 \U0001F40D" and records[1].uri.endswith("#b")


def test_jsonl_fixture_in_utf16(engine_factory, tmp_path):
    import shutil

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(FIXTURES / "edge/utf16le_bom.jsonl", corpus)
    with engine_factory() as engine:
        report = engine.ingest([corpus])
        assert report.counts["new"] == 2 and not report.failed
        assert engine.search("Caf\u00e9", 1, mode="bm25")[0].uri.endswith("#utf16-1")


@pytest.mark.parametrize("codec", CODECS)
def test_bom_whitespace_only_is_skipped_not_failed(codec):
    with pytest.raises(SkippedInput, match="whitespace"):
        parse_bytes(with_bom(" \n\t\u3000\u00a0\n", codec), "blank.txt")


@pytest.mark.parametrize("codec", CODECS)
def test_broken_utf16_utf32_is_replaced_and_reported(codec):
    data = with_bom(SAMPLE, codec)[:-1]  # a truncated last character
    text, warnings = decode(data)
    assert text.startswith("Beautiful is better") and warnings and "replaced" in warnings[0]
    lone = ("\ufeffab".encode(codec) + ("\ud800".encode(codec, "surrogatepass") if "16" in codec
                                          else b"\x00\x00\xd8\x00"[::-1 if codec.endswith("le") else 1])
            + "cd".encode(codec))
    text, warnings = decode(lone)
    assert text.startswith("ab") and text.endswith("cd") and "\ufffd" in text and warnings
    text.encode("utf-8")


def test_random_bytes_behind_a_bom_are_binary():
    rng = random.Random(7)
    for bom in (b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        blob = bom + bytes(rng.getrandbits(8) for _ in range(4096))
        assert looks_binary(blob), bom
