"""The local runner composes the units: JSONL items arriving through ingest_items are record
containers too, and a record container's bad lines are reported again on an unchanged re-run."""

from __future__ import annotations

import json

from ragline.records import SourceItem


def test_a_jsonl_upload_is_ingested_record_by_record(engine_factory):
    lines = [json.dumps({"id": i, "text": f"note {i} on {w} in wind tunnels"}) for i, w in enumerate(["gusts", "stall"])]
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
