"""The streaming engine: results do not depend on input order or on which worker finished first;
memory stays bounded; the stage breakdown is reported."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.conftest import FIXTURES, SAMPLES


def _snapshot(store: Path) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(store / "ragline.db") as db:
        chunks = sorted(db.execute("SELECT chunk_id, doc_id, idx, text, start, end, metadata, vector FROM chunks"))
        docs = sorted(db.execute("SELECT doc_id, uri, version, chunk_ids, duplicate_of FROM documents"))
    return chunks, docs


def _corpus(root: Path) -> list[Path]:
    """Two folders whose files duplicate each other across folders, so who is 'first' matters."""
    a, b = root / "a", root / "b"
    shutil.copytree(FIXTURES, a)
    shutil.copytree(SAMPLES, b)
    shutil.copy(FIXTURES / "good" / "bsd-license.txt", b / "0-licence-copy.txt")
    article = (FIXTURES / "duplicates" / "near" / "bugs-article.txt").read_text(encoding="utf-8")
    for i in range(12):  # enough small files that the parse pool starts
        (b / f"note-{i:02d}.md").write_text(f"# Note {i}\n\n" + article.replace("bug", f"bug{i % 3}"),
                                            encoding="utf-8")
    return [a, b]


def test_input_order_and_parallelism_do_not_change_the_store(tmp_path, engine_factory):
    a, b = _corpus(tmp_path / "corpus")
    with engine_factory(store=tmp_path / "inline", parse_workers=0) as engine:
        inline = engine.ingest([a, b])
    with engine_factory(store=tmp_path / "pool", parse_workers=2) as engine:
        pooled = engine.ingest([b, a])
    assert inline.pipeline["parse_workers"] == 0 and pooled.pipeline["parse_workers"] == 2
    assert inline.counts == pooled.counts
    assert inline.duplicates == pooled.duplicates and inline.near_duplicates == pooled.near_duplicates
    assert inline.near_duplicates  # the families above really exercised the near-dup path
    first, second = _snapshot(tmp_path / "inline"), _snapshot(tmp_path / "pool")
    assert len(first[0]) > 50
    assert first == second


def test_stage_breakdown_is_reported(tmp_path, engine_factory):
    with engine_factory() as engine:
        report = engine.ingest([SAMPLES])
    pipeline = report.to_dict()["pipeline"]
    stages = pipeline["stages"]
    for stage in ("read", "parse", "chunk", "embed", "write", "index"):
        assert stage in stages, stage
    assert stages["embed"]["items"] == report.chunks_embedded > 0
    assert stages["read"]["items"] == len([p for p in SAMPLES.rglob("*") if p.is_file()])
    assert 0 < pipeline["embedder_busy_fraction"] <= 1
    assert pipeline["wall_s"] > 0
