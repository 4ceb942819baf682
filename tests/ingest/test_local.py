"""The local runner composes the units: JSONL items arriving through ingest_items are record
containers too, and a record container's bad lines are reported again on an unchanged re-run."""

from __future__ import annotations

import json

from ragline.records import SourceItem


def test_a_jsonl_upload_is_ingested_record_by_record(engine_factory):
    lines = [json.dumps({"id": i, "text": f"note {i} on {w} in wind tunnels"})
             for i, w in enumerate(["gusts", "stall"])]
    data = ("\n".join(lines) + "\nnot json\n").encode()
    with engine_factory() as engine:
        report = engine.ingest_items([SourceItem(uri="upload://batch.jsonl", data=data)])
        assert report.counts["new"] == 2
        assert [f.uri for f in report.failed] == ["upload://batch.jsonl#line=3"]
        assert sorted(d.uri for d in engine.ledger.all_documents()) == ["upload://batch.jsonl#0",
                                                                         "upload://batch.jsonl#1"]
        again = engine.ingest_items([SourceItem(uri="upload://batch.jsonl", data=data)])
        assert again.counts["unchanged"] == 2 and [f.uri for f in again.failed] == ["upload://batch.jsonl#line=3"]
        edited = data.replace(b"stall", b"buffet")
        changed = engine.ingest_items([SourceItem(uri="upload://batch.jsonl", data=edited)])
        assert changed.counts["changed"] == 1 and changed.counts["unchanged"] == 1


def test_a_new_container_format_is_one_records_in_rule(tmp_path, engine_factory):
    """The runner knows no format: a source that says ``*.tsv`` items hold records (id TAB text)
    gets them ingested record by record, with no change to the runner."""
    from ragline.ids import content_hash
    from ragline.sources.folder import FolderSource
    from ragline.sources.jsonl import JsonlRecord

    class TsvContainer:
        def __init__(self, item):
            self.item = item

        def version(self):
            return content_hash(self.item.read_bytes())

        def holds_records(self):
            return True

        def records(self):
            for n, line in enumerate(self.item.read_bytes().decode().splitlines(), 1):
                rid, _, text = line.partition("\t")
                yield JsonlRecord(uri=f"{self.item.uri}#{rid}", text=text, metadata={"record_id": rid}, line=n)

        def record_version(self, record):
            return content_hash(record.text)

    class TsvFolder(FolderSource):
        def records_in(self, item, *, max_record_bytes=None):
            return TsvContainer(item) if item.uri.endswith(".tsv") else super().records_in(item)

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.tsv").write_text("a\tPressure drag on a cylinder.\nb\tSkin friction on a flat plate.\n")
    with engine_factory() as engine:
        report = engine.ingest_sources([TsvFolder(corpus)])
        assert report.counts["new"] == 2 and not report.failed
        assert sorted(d.uri.rsplit("#", 1)[1] for d in engine.ledger.all_documents()) == ["a", "b"]
        (corpus / "notes.tsv").write_text("a\tPressure drag on a cylinder.\n")
        again = engine.ingest_sources([TsvFolder(corpus)])
        assert again.counts["unchanged"] == 1 and again.counts["deleted"] == 1
