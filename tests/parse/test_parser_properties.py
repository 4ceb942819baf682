"""Property tests over parser inputs: text in many encodings (UTF-16/32 with a BOM included),
random bytes, HTML and Markdown fragments, PDF-looking bytes.

``parse_bytes`` only ever raises ``ParseError`` (``SkippedInput`` included), and a folder of such
files ingests with every file stored or reported, ``verify`` clean and a no-op second run.
Example counts: ``pytest --hypothesis-show-statistics tests/parse/test_parser_properties.py``.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rich.console import Console

from ragline.engine import Engine
from ragline.errors import ParseError
from ragline.parse import SkippedInput, parse_bytes
from ragline.progress import print_report

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be",
             "latin-1", "cp1252"]
BOM = {"utf-16-le": "\ufeff", "utf-16-be": "\ufeff", "utf-32-le": "\ufeff", "utf-32-be": "\ufeff"}
TAGS = ["p", "div", "h1", "h2", "li", "ul", "table", "tr", "td", "pre", "script", "style", "nav",
        "footer", "main", "article", "title", "a", "span", "br"]


def encoded(text: str, codec: str) -> bytes:
    return (BOM.get(codec, "") + text).encode(codec, errors="replace")


html_fragments = st.recursive(
    st.text(max_size=30),
    lambda inner: st.builds(lambda tag, body, close: f"<{tag}>{''.join(body)}" + (f"</{tag}>" if close else ""),
                            st.sampled_from(TAGS), st.lists(inner, max_size=3), st.booleans()),
    max_leaves=12)
markdown_lines = st.one_of(
    st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 7), st.text(max_size=20)),
    st.sampled_from(["```", "~~~", "---", "", "* item", "> quote", "| a | b |"]),
    st.text(max_size=40))
markdown_docs = st.lists(markdown_lines, max_size=12).map("\n".join)
texts = st.one_of(st.text(max_size=200), html_fragments, markdown_docs)

inputs = st.one_of(
    st.tuples(texts, st.sampled_from(ENCODINGS)).map(lambda t: encoded(*t)),
    st.binary(max_size=300),
    st.tuples(st.sampled_from([b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff",
                               b"\xef\xbb\xbf", b"%PDF-1.4\n"]), st.binary(max_size=200)).map(b"".join),
)
names = st.sampled_from(["a.txt", "a.md", "a.html", "a.htm", "a.pdf", "a.rst", "a.xyz", "a"])


@settings(max_examples=50, deadline=None, database=None)
@given(data=inputs, name=names)
def test_parse_bytes_raises_only_parse_errors(data, name):
    try:
        doc = parse_bytes(data, name, max_bytes=2**20)
    except SkippedInput:
        event("skipped")
        return
    except ParseError:
        event("failed")
        return
    event(f"parsed as {doc.kind}")
    doc.text.encode("utf-8")  # valid text: no lone surrogate can reach the store
    assert doc.text and doc.text == doc.text.strip()
    for section in doc.sections:
        assert 0 <= section.start < section.end <= len(doc.text)


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.tuples(inputs, names), min_size=1, max_size=6))
def test_any_parser_inputs_ingest_or_report(hashing_embedder, files):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        root.mkdir()
        uris = []
        for i, (data, name) in enumerate(files):
            path = root / f"{i}-{name}"
            path.write_bytes(data)
            uris.append(path.as_uri())
        with Engine.open(f"local:{Path(tmp) / 'store'}", embedder=hashing_embedder, parse_workers=0) as engine:
            first = engine.ingest([root])
            json.dumps(first.to_dict(), ensure_ascii=False).encode("utf-8")
            print_report(Console(file=io.StringIO(), width=160), first)
            stored = {d.uri for d in engine.ledger.all_documents()}
            reported = {f.uri for f in first.failed} | {s.uri for s in first.skipped}
            for uri in uris:
                assert (uri in stored) != (uri in reported), uri
            event(f"stored: {'0' if not stored else '1+'}; reported: {'0' if not reported else '1+'}")
            assert engine.verify()["drift"] == 0
            again = engine.ingest([root])
            assert again.chunks_embedded == again.chunks_written == again.chunks_deleted == 0
            assert again.counts["new"] == again.counts["changed"] == again.counts["deleted"] == 0
            assert sorted(f.uri for f in again.failed) == sorted(f.uri for f in first.failed)
            assert sorted(s.uri for s in again.skipped) == sorted(s.uri for s in first.skipped)
            assert engine.verify()["drift"] == 0
