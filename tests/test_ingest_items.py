"""``Engine.ingest_items``: documents that arrive from elsewhere (uploads, queue messages) go
through the same stages as files from a folder, named by their own uri."""

from __future__ import annotations

from pathlib import Path

from ragline.records import SourceItem

GOOD = Path(__file__).parent / "fixtures" / "corpus" / "good"
BAD = Path(__file__).parent / "fixtures" / "corpus" / "bad"


def uploads(names, folder=GOOD, prefix="upload://tenant-a/"):
    return [SourceItem(uri=prefix + name, data=(folder / name).read_bytes(), metadata={"path": name})
            for name in names]


def store_rows(engine):
    """Every stored chunk, found through the ledger: (chunk id, doc id, text)."""
    ids = [cid for doc in engine.ledger.all_documents() for cid in doc.chunk_ids]
    chunks = engine.store.get(ids)
    assert len(chunks) == len(ids) == engine.store.count()
    return sorted((c.chunk_id, c.doc_id, c.text) for c in chunks)


def test_items_equal_the_same_files_from_a_folder(tmp_path, engine_factory):
    names = sorted(p.name for p in GOOD.iterdir())
    with engine_factory(tmp_path / "items") as engine:
        report = engine.ingest_items(uploads(names))
        assert report.counts["new"] >= len(names)
        assert not report.failed
        items_texts = sorted(t for _, _, t in store_rows(engine))
        hits = engine.search("interactive interpreter", k=3)
        assert hits and hits[0].chunk.metadata["path"] in names
        assert hits[0].uri.startswith("upload://tenant-a/")
        assert engine.verify()["drift"] == 0
    with engine_factory(tmp_path / "folder") as engine:
        engine.ingest([GOOD])
        assert sorted(t for _, _, t in store_rows(engine)) == items_texts


def test_same_bytes_again_change_nothing_and_new_bytes_replace(tmp_path, engine_factory):
    with engine_factory() as engine:
        engine.ingest_items(uploads(["bsd-license.txt", "psmisc-README.md"]))
        before = store_rows(engine)
        again = engine.ingest_items(uploads(["bsd-license.txt"]))
        assert again.counts.get("unchanged") == 1 and again.chunks_embedded == 0
        assert store_rows(engine) == before  # psmisc was not in this call and is kept
        changed = SourceItem(uri="upload://tenant-a/bsd-license.txt", data=b"A new licence text about ferrets.")
        report = engine.ingest_items([changed])
        assert report.counts.get("changed") == 1
        texts = [t for _, _, t in store_rows(engine)]
        assert any("ferrets" in t for t in texts)
        assert not any("Redistribution" in t for t in texts)  # the old version's chunks are gone
        assert engine.verify()["drift"] == 0


def test_delete_by_uri_then_upload_again_restores(engine_factory):
    with engine_factory() as engine:
        engine.ingest_items(uploads(["bsd-license.txt", "psmisc-README.md"]))
        full = store_rows(engine)
        removed = engine.delete(uris=["upload://tenant-a/bsd-license.txt"])
        assert removed > 0
        assert all("Redistribution" not in t for _, _, t in store_rows(engine))
        engine.ingest_items(uploads(["bsd-license.txt"]))
        assert store_rows(engine) == full


def test_bad_items_are_reported_and_dead_lettered(engine_factory):
    with engine_factory() as engine:
        items = uploads(["corrupt.pdf", "binary.txt"], folder=BAD) + uploads(["bsd-license.txt"])
        report = engine.ingest_items(items)
        problems = {f.uri.rsplit("/", 1)[-1]: f.reason for f in report.failed + report.skipped}
        assert "corrupt PDF" in problems["corrupt.pdf"]
        assert "binary" in problems["binary.txt"]
        letters = {uri.rsplit("/", 1)[-1] for uri, _stage, _reason in engine.ledger.dead_letters()}
        assert {"corrupt.pdf", "binary.txt"} <= letters
        assert any("Redistribution" in t for _, _, t in store_rows(engine))
