"""Property tests over what a source can hand the engine: file names of any bytes, JSONL lines of
any JSON. Each example is a fresh store; the properties are the issue's: no exception escapes a
run, every input is ingested or reported, ``verify`` is clean, and a second run is a no-op.

Example counts: ``pytest --hypothesis-show-statistics tests/sources/test_source_properties.py``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote_to_bytes

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rich.console import Console

from ragline.engine import Engine
from ragline.progress import print_report
from ragline.sources.folder import path_uri

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    database=None)
WORDS = ["sparse", "dense", "vector", "index", "ledger", "chunk", "token", "query", "store", "shard",
         "merge", "graph", "cosine", "recall", "batch", "cache", "fusion", "rank", "delete", "verify"]


def _utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _name_ok(name: bytes) -> bool:
    return b"\x00" not in name and b"/" not in name and name not in (b".", b"..")


file_names = st.binary(min_size=1, max_size=40).filter(_name_ok)
suffixes = st.sampled_from([b".txt", b".md", b".html", b".jsonl", b"", b".xyz", b".TXT"])


def _text(i: int, seed: int) -> str:
    words = [WORDS[(seed * 7 + i * 13 + k * k) % len(WORDS)] for k in range(12)]
    return f"Document {i} seed {seed}: " + " ".join(words) + "."


def _check_report(report) -> None:
    """The report survives every name: exact JSON and the printed form."""
    data = report.to_dict()
    json.loads(json.dumps(data, ensure_ascii=False).encode("utf-8"))
    print_report(Console(file=io.StringIO(), width=160), report)


def _rerun_is_noop(engine: Engine, paths: list[Path], first) -> None:
    again = engine.ingest(paths)
    assert again.chunks_embedded == again.chunks_written == again.chunks_deleted == 0
    assert again.counts["new"] == again.counts["changed"] == again.counts["deleted"] == 0
    assert again.counts["unchanged"] == first.counts["new"] + first.counts["duplicate"] + first.counts["unchanged"]
    assert sorted((f.uri, f.stage) for f in again.failed) == sorted((f.uri, f.stage) for f in first.failed)
    assert sorted(s.uri for s in again.skipped) == sorted(s.uri for s in first.skipped)
    _check_report(again)


@PROPERTY
@given(names=st.lists(st.tuples(file_names, suffixes), min_size=1, max_size=6,
                      unique_by=lambda t: t[0] + t[1]),
       seed=st.integers(0, 10**6))
def test_any_file_names(hashing_embedder, names, seed):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        root.mkdir()
        expected: dict[str, str] = {}
        for i, (stem, suffix) in enumerate(names):
            raw = stem + suffix
            path = root / os.fsdecode(raw)
            text = _text(i, seed)
            if suffix == b".jsonl":
                path.write_text(json.dumps({"id": f"r{i}", "text": text}) + "\n")
            elif suffix == b".html":
                path.write_text(f"<html><body><p>{text}</p></body></html>")
            else:
                path.write_text(text)
            expected[path_uri(path)] = "hidden" if raw.startswith(b".") else "seen"
        with Engine.open(f"local:{Path(tmp) / 'store'}", embedder=hashing_embedder, parse_workers=0) as engine:
            first = engine.ingest([root])
            _check_report(first)
            stored = {d.uri.split("#", 1)[0] for d in engine.ledger.all_documents()}
            reported = {f.uri for f in first.failed} | {s.uri for s in first.skipped}
            for uri, what in expected.items():
                if what == "hidden":  # hidden files are left out by policy, never stored
                    assert uri not in stored and uri not in reported
                else:
                    assert (uri in stored) != (uri in reported), uri
                    # the uri maps back to exactly the bytes of the name
                    assert os.fsdecode(unquote_to_bytes(uri[len("file://"):])) in map(str, root.iterdir())
            assert not first.failed  # every file here is readable and valid
            event(f"names not UTF-8: {any(not _utf8(n + x) for n, x in names)}")
            event(f"files skipped: {'0' if not first.skipped else '1+'}")
            assert engine.verify()["drift"] == 0
            ids = sorted((d.doc_id, d.uri) for d in engine.ledger.all_documents())
            _rerun_is_noop(engine, [root], first)
            assert sorted((d.doc_id, d.uri) for d in engine.ledger.all_documents()) == ids
            assert engine.verify()["drift"] == 0


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
id_values = st.one_of(st.integers(-5, 5), st.sampled_from(["a", "b", "1", " ", "", "#x", "a b", "\ud800"]),
                      st.text(max_size=6), st.none(), st.floats(allow_nan=False), st.booleans())
record_objects = st.fixed_dictionaries(
    {}, optional={"id": id_values, "_id": id_values, "text": st.text(max_size=60) | json_values,
                  "title": st.text(max_size=10) | json_values,
                  "uri": json_values, "kind": json_values, "page": json_values, "lang": json_values})
metadata = {k: json_values for k in ("uri", "kind", "page", "heading", "path", "lang", "record_id")}
likely_valid = st.fixed_dictionaries(
    {"id": id_values, "text": st.builds(lambda w, t: f"{w} {t}", st.sampled_from(WORDS), st.text(max_size=40))},
    optional={"title": st.text(max_size=10), **metadata})
jsonl_lines = st.one_of(
    likely_valid.map(lambda r: json.dumps(r, ensure_ascii=False)),
    likely_valid.map(json.dumps),
    record_objects.map(lambda r: json.dumps(r, ensure_ascii=False)),
    record_objects.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=30).filter(lambda t: "\n" not in t),
)


@PROPERTY
@given(lines=st.lists(jsonl_lines, min_size=1, max_size=12))
def test_any_jsonl_records(hashing_embedder, lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        root.mkdir()
        data = "\n".join(lines).encode("utf-8", "surrogatepass")  # lone surrogates: invalid UTF-8 bytes
        (root / "records.jsonl").write_bytes(data)
        non_blank = sum(1 for line in data.split(b"\n") if line.strip())
        with Engine.open(f"local:{Path(tmp) / 'store'}", embedder=hashing_embedder, parse_workers=0,
                         batch_chunks=2) as engine:
            first = engine.ingest([root])
            _check_report(first)
            # Every non-blank line is a document, a duplicate of one, or reported with its line.
            assert first.counts["new"] + first.counts["duplicate"] + len(first.failed) == non_blank
            for failure in first.failed:
                assert "line" in failure.reason and "None" not in failure.uri
            docs = engine.ledger.all_documents()
            assert len(docs) == first.counts["new"] + first.counts["duplicate"]
            event(f"documents stored: {'0' if not docs else '1-2' if len(docs) < 3 else '3+'}")
            event(f"lines reported: {'0' if not first.failed else '1+'}")
            event(f"duplicate ids reported: {any('duplicate id' in f.reason for f in first.failed)}")
            assert len({d.uri for d in docs}) == len(docs)
            # No orphan chunks: the store holds exactly the chunks the ledger knows.
            assert engine.store.count() == sum(len(d.chunk_ids) for d in docs)
            assert engine.verify()["drift"] == 0
            _rerun_is_noop(engine, [root], first)
            assert engine.verify()["drift"] == 0
