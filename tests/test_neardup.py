"""Near-duplicate removal: MinHash + LSH on word 5-shingles, persisted in the store."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ragline.neardup import NearDupConfig, minhash_signature, shingles, similarity
from tests.conftest import FIXTURES

NEAR = FIXTURES / "duplicates" / "near"
ARTICLE = (NEAR / "bugs-article.txt").read_text(encoding="utf-8")


def _variant_header_and_reflow(text: str) -> str:
    """The same article under another site header, re-wrapped at another width."""
    body = "\n\n".join(textwrap.fill(" ".join(p.split()), width=57) for p in text.split("\n\n"))
    return "Mirror of docs.python.org, fetched for offline reading\n\n" + body


def test_shingles_and_signature_basics():
    assert shingles("one two three four", 5) == set()
    assert len(shingles("a b c d e f", 5)) == 2
    assert minhash_signature("too short to judge", NearDupConfig()) is None
    a = minhash_signature(ARTICLE, NearDupConfig())
    b = minhash_signature(_variant_header_and_reflow(ARTICLE), NearDupConfig())
    other = minhash_signature((FIXTURES / "good" / "bsd-license.txt").read_text(), NearDupConfig())
    assert a is not None and b is not None and other is not None
    assert a.dtype == np.uint32 and len(a) == 128
    assert similarity(a, b) >= 0.9          # header + reflow: still a near-duplicate
    assert similarity(a, other) < 0.1       # a different text is not


def test_near_duplicates_are_recorded_and_not_embedded(tmp_path, engine_factory, hashing_embedder):
    folder = tmp_path / "docs"
    shutil.copytree(NEAR, folder)
    (folder / "zz-mirror.txt").write_text(_variant_header_and_reflow(ARTICLE), encoding="utf-8")
    shutil.copy(FIXTURES / "good" / "bsd-license.txt", folder / "licence.txt")
    with engine_factory() as engine:
        report = engine.ingest([folder])
        near = {Path(k).name: (Path(v["original"]).name, v["similarity"])
                for k, v in report.near_duplicates.items()}
        # Items go in uri order, so the first of the family is the original.
        assert set(near) == {"bugs-article-reflowed.txt", "bugs-article.txt", "zz-mirror.txt"}
        assert {orig for orig, _ in near.values()} == {"bugs-article-new-footer.txt"}
        assert all(score >= 0.9 for _, score in near.values())
        assert report.counts["new"] == 2 and report.counts["duplicate"] == 3
        assert report.dedup_rate == pytest.approx(3 / 5)
        docs = {Path(d.uri).name: d for d in engine.ledger.all_documents()}
        original = docs["bugs-article-new-footer.txt"]
        for name in near:
            assert docs[name].duplicate_of == original.doc_id and not docs[name].chunk_ids
        stored_uris = {c.metadata["uri"] for c in engine.store.get(
            [cid for d in docs.values() for cid in d.chunk_ids])}
        assert {Path(u).name for u in stored_uris} == {"bugs-article-new-footer.txt", "licence.txt"}
        assert report.to_dict()["dedup_rate"] == round(3 / 5, 4)


def test_lsh_state_persists_across_runs(tmp_path, engine_factory):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a-original.txt").write_text(ARTICLE, encoding="utf-8")
    with engine_factory() as engine:
        assert engine.ingest([folder]).counts["new"] == 1
    # A later run, in a new process-like engine: the near-duplicate is found through the
    # LSH bands stored in SQLite, not through anything held in memory.
    (folder / "b-mirror.txt").write_text(_variant_header_and_reflow(ARTICLE), encoding="utf-8")
    with engine_factory() as engine:
        report = engine.ingest([folder])
        assert list(report.near_duplicates) and Path(next(iter(report.near_duplicates))).name == "b-mirror.txt"
        assert report.counts["duplicate"] == 1 and report.chunks_embedded == 0
        assert engine.store.db.execute("SELECT count(*) FROM minhash").fetchone()[0] == 1
    # The original goes: its signature and bands go with it, and the orphaned copy is ingested
    # as an original in the same run.
    (folder / "a-original.txt").unlink()
    with engine_factory() as engine:
        report = engine.ingest([folder])
        docs = {Path(d.uri).name: d for d in engine.ledger.all_documents()}
        rows = engine.store.db.execute("SELECT doc_id FROM minhash").fetchall()
    assert report.counts["deleted"] >= 1 and set(docs) == {"b-mirror.txt"}
    assert docs["b-mirror.txt"].duplicate_of is None and docs["b-mirror.txt"].chunk_ids
    assert [r[0] for r in rows] == [docs["b-mirror.txt"].doc_id]
