"""JSONL records: id rules, duplicates, reserved keys, bad lines on every run, streaming."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest
from rich.console import Console

from ragline.progress import print_report
from ragline.sources.folder import path_uri
from ragline.sources.jsonl import RESERVED_KEYS, escape_id, iter_jsonl_records


def records(lines: list[str], **kw):
    return list(iter_jsonl_records("\n".join(lines).encode(), "file:///c.jsonl", **kw))


@pytest.mark.parametrize("value, rid", [("a", "a"), (7, "7"), (-3, "-3"), (10**30, str(10**30)),
                                        ("x y#%", "x y#%")])
def test_ids_accepted_by_the_rule(value, rid):
    (record,) = records([json.dumps({"id": value, "text": "t"})])
    assert record.error is None and record.metadata["record_id"] == rid
    assert record.uri == "file:///c.jsonl#" + escape_id(rid)


@pytest.mark.parametrize("value, reason", [(None, "got null"), (1.5, "got float"), (True, "got bool"),
                                           ([1], "got list"), ({"a": 1}, "got dict"), ("  ", "blank")])
def test_other_ids_rejected_with_a_reason(value, reason):
    (record,) = records([json.dumps({"id": value, "text": "t"})])
    assert record.error and reason in record.error and "line 1" in record.error
    assert "None" not in record.uri


def test_escape_id_is_injective_and_valid_utf8():
    ids = ["a b", "a%20b", "a#b", "a%23b", "\ud800", "%ED%A0%80", "é", "\n"]
    escaped = [escape_id(i) for i in ids]
    assert len(set(escaped)) == len(ids)
    for e in escaped:
        e.encode("utf-8")
        assert "#" not in e and " " not in e


def test_reserved_keys_kept_apart():
    fields = {k: f"mine-{k}" for k in RESERVED_KEYS if k != "title"}
    (record,) = records([json.dumps({"id": "r", "text": "t", **fields, "record_uri": "taken"})])
    for key in fields:
        if key == "record_id":
            assert record.metadata["record_record_id"] == "mine-record_id"
            continue
        assert key not in record.metadata or record.metadata[key] != f"mine-{key}"
    assert record.metadata["record_id"] == "r"
    assert record.metadata["record_uri"] == "taken" and record.metadata["record_record_uri"] == "mine-uri"


def test_lone_surrogates_never_reach_the_store():
    line = '{"id": "\\ud800x", "text": "a \\udfff b", "title": "\\ud83d", "m\\udc00": "\\ud800"}'
    (record,) = records([line])
    for text in (record.uri, record.text, record.title, *record.metadata, *map(str, record.metadata.values())):
        text.encode("utf-8")


@pytest.mark.parametrize("line", ["1" * 5000, "[" * 100_000, '{"text": ' + "[" * 100_000])
def test_pathological_json_is_a_bad_line(line):
    (record,) = records([line])
    assert record.error and "line 1" in record.error


def test_record_size_limit_applies_per_line():
    big = json.dumps({"id": "big", "text": "x" * 5000})
    out = records([json.dumps({"id": "a", "text": "ok"}), big, json.dumps({"id": "b", "text": "ok"})],
                  max_record_bytes=1000)
    assert [r.error is None for r in out] == [True, False, True]
    assert "too large on line 2" in out[1].error


class _Lines(io.RawIOBase):
    """A file of ``n`` records of ~500 bytes made on the fly: the test holds none of it."""

    def __init__(self, n: int):
        self.n, self.i, self.pending = n, 0, bytearray()
        self.filler = b"lorem ipsum " * 40

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while len(self.pending) < len(buffer) and self.i < self.n:
            self.pending += b'{"id": %d, "text": "record %d %s"}\n' % (self.i, self.i, self.filler)
            self.i += 1
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        del self.pending[:size]
        return size


def test_records_are_streamed_not_loaded():
    tracemalloc.start()
    try:
        count = sum(1 for r in iter_jsonl_records(_Lines(40_000), "file:///big.jsonl") if r.error is None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40_000
    assert peak < 2 * 2**20  # the file is ~20 MB


# ----- through the engine ------------------------------------------------------------------------
def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_duplicate_ids_reported_first_wins_no_orphans(tmp_path, engine_factory):
    corpus = tmp_path / "c"
    corpus.mkdir()
    data = corpus / "r.jsonl"
    _write(data, [json.dumps({"id": 1, "text": "first version of record one about sparse vectors"}),
                  json.dumps({"id": "2", "text": "record two is about dense retrieval"}),
                  json.dumps({"id": "1", "text": "second version of record one, ignored"}),
                  json.dumps({"id": 1, "text": "third version of record one, ignored too"})])
    with engine_factory(batch_chunks=1) as engine:  # one batch per record: the worst case for orphans
        report = engine.ingest([corpus])
        dups = [f for f in report.failed if "duplicate id" in f.reason]
        assert [f.uri.rsplit("#", 1)[1] for f in dups] == ["line=3", "line=4"]
        docs = engine.ledger.all_documents()
        assert len(docs) == 2
        one = next(d for d in docs if d.uri.endswith("#1"))
        (chunk,) = engine.store.get(list(one.chunk_ids))
        assert chunk.text.startswith("first version")
        assert engine.store.count() == sum(len(d.chunk_ids) for d in docs)
        assert engine.verify()["drift"] == 0
        again = engine.ingest([corpus])
        assert [f.uri for f in again.failed] == [f.uri for f in dups]


def test_bad_lines_reported_on_every_run(tmp_path, engine_factory):
    corpus = tmp_path / "c"
    corpus.mkdir()
    data = corpus / "r.jsonl"
    _write(data, [json.dumps({"id": "ok", "text": "a good record"}), "{broken", json.dumps({"id": None, "text": "x"}),
                  json.dumps({"id": "[/x]", "text": "an id that looks like markup"}),
                  json.dumps({"id": "[/x]", "text": "the same id again"})])
    with engine_factory() as engine:
        first = engine.ingest([corpus])
        bad = sorted((f.uri, f.reason) for f in first.failed)
        assert len(bad) == 3 and first.counts["new"] == 2
        printed = io.StringIO()
        print_report(Console(file=printed, width=300), first)
        assert "duplicate id '[/x]' on line 5" in printed.getvalue()
        unchanged = engine.ingest([corpus])
        assert sorted((f.uri, f.reason) for f in unchanged.failed) == bad
        data.touch()  # new mtime, same bytes
        data.write_bytes(data.read_bytes())
        touched = engine.ingest([corpus])
        assert sorted((f.uri, f.reason) for f in touched.failed) == bad
        assert unchanged.chunks_embedded == touched.chunks_embedded == 0
        # Fixed: the problems are gone from the next reports.
        _write(data, [json.dumps({"id": "ok", "text": "a good record"})])
        fixed = engine.ingest([corpus])
        assert not fixed.failed and fixed.counts["deleted"] == 1
        assert not engine.ingest([corpus]).failed
        assert engine.verify()["drift"] == 0


def test_record_metadata_cannot_override_ragline_fields(tmp_path, engine_factory):
    corpus = tmp_path / "c"
    corpus.mkdir()
    _write(corpus / "r.jsonl", [json.dumps({"id": "a", "text": "hello metadata world", "uri": "http://evil",
                                            "kind": "pdf", "page": 99, "heading": "Fake", "path": "/etc/x",
                                            "lang": "en"})])
    with engine_factory() as engine:
        engine.ingest([corpus])
        (hit,) = engine.search("hello metadata", 1, mode="bm25")
        meta = hit.chunk.metadata
        assert hit.uri == path_uri(corpus / "r.jsonl") + "#a"
        assert meta["kind"] == "jsonl" and "page" not in meta and "heading" not in meta
        assert meta["path"] == "r.jsonl" and meta["record_path"] == "/etc/x"
        assert meta["record_uri"] == "http://evil" and meta["record_page"] == 99 and meta["lang"] == "en"


def test_big_jsonl_file_limit_is_per_record_and_streamed(tmp_path, engine_factory):
    corpus = tmp_path / "c"
    corpus.mkdir()
    data = corpus / "big.jsonl"
    filler = " " * (64 * 2**10)  # blank lines: the file is big, its records few
    with data.open("w") as handle:
        handle.write(json.dumps({"id": "a", "text": "the first record"}) + "\n")
        for _ in range(400):
            handle.write(filler + "\n")
        handle.write(json.dumps({"id": "big", "text": "y " * 2**20}) + "\n")
        handle.write(json.dumps({"id": "z", "text": "the last record"}) + "\n")
    assert data.stat().st_size > 25 * 2**20
    with engine_factory(max_file_bytes=2**20, parse_workers=0) as engine:
        tracemalloc.start()
        try:
            report = engine.ingest([corpus])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert report.counts["new"] == 2
        assert [f.uri.rsplit("#", 1)[1] for f in report.failed] == ["line=402"]
        assert "too large" in report.failed[0].reason
        assert peak < 8 * 2**20, peak  # the file is 26 MB; one line is 64 KB, the limit 1 MiB
