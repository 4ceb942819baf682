from __future__ import annotations

import json
import shutil

import pytest

from ragline.errors import QueryError
from ragline.sources.folder import file_uri


def report_of(engine, paths, **kw):
    return engine.ingest(paths, **kw).to_dict()


def test_fixture_corpus_bad_inputs_reported_rest_ingested(corpus, engine_factory):
    with engine_factory() as engine:
        report = engine.ingest([corpus])
        failed = {f.uri.rsplit("/", 1)[-1]: f.reason for f in report.failed}
        skipped = {s.uri.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
        assert "corrupt PDF" in failed["corrupt.pdf"]
        assert "encrypted PDF" in failed["encrypted.pdf"]
        assert "no text layer" in failed["scanned.pdf"]
        assert "binary" in skipped["binary.txt"]
        assert "empty" in skipped["empty.txt"]
        assert "unsupported" in skipped["unknown.xyz"]
        # Five bad JSONL lines, each reported with its line number; the valid records ingested.
        bad_lines = [f for f in report.failed if "bad_lines.jsonl#" in f.uri]
        assert len(bad_lines) == 5
        assert sum("line 3" in f.reason for f in bad_lines) == 1
        assert any(u.endswith("partly_scanned.pdf") for u in report.needs_ocr)
        assert any("invalid UTF-8" in w.reason for w in report.warnings)
        good = report.counts["new"]
        assert good >= 15
        stats = engine.stats()
        assert stats["chunks"] == stats["ann_vectors"] == stats["bm25_docs"] > 0
        # The dead-letter store remembers every failure with its reason.
        letters = {uri.rsplit("/", 1)[-1]: reason for uri, _stage, reason in engine.ledger.dead_letters()}
        assert "encrypted PDF" in letters["encrypted.pdf"]
        assert engine.verify()["drift"] == 0


def test_exact_duplicates_are_not_embedded_twice(corpus, engine_factory):
    with engine_factory(near_dup_threshold=0) as engine:  # exact dedup alone
        report = engine.ingest([corpus])
        pairs = {frozenset((k.rsplit("/", 1)[-1], v.rsplit("/", 1)[-1])) for k, v in report.duplicates.items()}
        assert frozenset(("bsd-license-copy.txt", "bsd-license.txt")) in pairs
        # Reflowed whitespace normalises to the same text: an exact duplicate after cleaning.
        assert frozenset(("bugs-article-reflowed.txt", "bugs-article.txt")) in pairs
        assert report.counts["duplicate"] == 2
        duplicates = [d for d in engine.ledger.all_documents() if d.duplicate_of]
        assert len(duplicates) == 2 and all(not d.chunk_ids for d in duplicates)


def test_rerun_reads_nothing_and_embeds_nothing(corpus, engine_factory, hashing_embedder, monkeypatch):
    with engine_factory() as engine:
        first = engine.ingest([corpus])
    reads = []
    from ragline.records import SourceItem

    original = SourceItem.open  # every read of a file (whole, or streamed for JSONL) opens it here
    monkeypatch.setattr(SourceItem, "open", lambda self: reads.append(self.uri) or original(self))
    calls = hashing_embedder.texts_embedded
    with engine_factory() as engine:
        again = engine.ingest([corpus])
    assert hashing_embedder.texts_embedded == calls
    assert again.chunks_written == 0 and again.chunks_embedded == 0
    assert again.counts["unchanged"] == first.counts["new"] + first.counts["duplicate"]
    assert again.counts["new"] == again.counts["changed"] == again.counts["deleted"] == 0
    assert reads == []


def test_touched_but_identical_file_is_hashed_not_reembedded(corpus, engine_factory):
    with engine_factory() as engine:
        engine.ingest([corpus])
        target = corpus / "good/bsd-license.txt"
        target.write_bytes(target.read_bytes())  # new mtime, same bytes
        report = engine.ingest([corpus])
        assert report.chunks_embedded == 0 and report.counts["changed"] == 0


def test_edit_reembeds_only_new_chunks_and_removes_old(corpus, engine_factory):
    target = corpus / "good/tutorial-whatnow.html"
    with engine_factory(max_tokens=64, overlap=0) as engine:
        engine.ingest([corpus])
        doc_uri = file_uri(target)
        (doc_id,) = engine.ledger.documents_of_file(doc_uri)
        before = set(engine.ledger.document(doc_id).chunk_ids)
        html = target.read_text()
        target.write_text(html.replace("Reading this tutorial has probably reinforced",
                                       "Zanzibar quokka reading this tutorial has probably reinforced"))
        report = engine.ingest([corpus])
        assert report.counts["changed"] == 1 and report.counts["new"] == 0
        assert 1 <= report.chunks_embedded < len(before)  # the unchanged chunks came from the cache
        assert report.cache_hits > 0
        assert engine.search("zanzibar quokka", 1, mode="bm25")[0].uri == doc_uri
        after = engine.ledger.document(next(iter(engine.ledger.documents_of_file(doc_uri)))).chunk_ids
        gone = before - set(after)
        assert gone and not engine.store.get(sorted(gone))
        assert engine.verify()["drift"] == 0


def test_deleted_file_leaves_sqlite_ann_and_bm25(corpus, engine_factory):
    target = corpus / "good/psmisc-README.md"
    with engine_factory() as engine:
        engine.ingest([corpus])
        uri = file_uri(target)
        assert engine.search("psmisc", 3, mode="bm25")[0].uri == uri
        target.unlink()
        report = engine.ingest([corpus])
        assert report.counts["deleted"] == 1
        assert all(h.uri != uri for h in engine.search("psmisc killall fuser", 20, mode="bm25"))
        assert all(h.uri != uri for h in engine.search("psmisc killall fuser", 50, mode="dense"))
        stats = engine.stats()
        assert stats["chunks"] == stats["ann_vectors"] == stats["bm25_docs"]
        assert engine.verify()["drift"] == 0


def test_jsonl_record_removed_is_deleted(corpus, engine_factory):
    records = corpus / "good/records.jsonl"
    with engine_factory() as engine:
        engine.ingest([corpus])
        assert engine.search("fichier", 5, mode="dense", filter={"lang": "fr"})
        lines = [line for line in records.read_text().splitlines() if '"lang": "fr"' not in line
                 and json.loads(line).get("lang") != "fr"]
        records.write_text("\n".join(lines) + "\n")
        report = engine.ingest([corpus])
        assert report.counts["deleted"] == 1 and report.counts["new"] == 0
        assert engine.search("fichier", 5, mode="dense", filter={"lang": "fr"}) == []


def test_big_file_reported_and_run_goes_on(corpus, engine_factory):
    big = corpus / "big.txt"
    line = b"All work and no play makes a very large text file indeed.\n"
    with big.open("wb") as handle:
        for _ in range(50 * 2**20 // len(line) + 1):
            handle.write(line)
    assert big.stat().st_size >= 50 * 2**20
    with engine_factory() as engine:
        report = engine.ingest([corpus])
        reasons = {f.uri.rsplit("/", 1)[-1]: f.reason for f in report.failed}
        assert "too large" in reasons["big.txt"] and "--max-file-size" in reasons["big.txt"]
        assert report.counts["new"] >= 15


def test_delete_by_source_and_by_doc(corpus, engine_factory):
    with engine_factory() as engine:
        engine.ingest([corpus])
        total = engine.store.count()
        removed = engine.delete(source=corpus / "good")
        assert removed > 0 and engine.store.count() == total - removed
        assert not engine.ledger.files_under(file_uri(corpus / "good") + "/")
        doc = engine.ledger.all_documents()[0]
        engine.delete(doc_ids=[doc.doc_id])
        assert engine.ledger.document(doc.doc_id) is None
        assert engine.verify()["drift"] == 0


@pytest.mark.parametrize("damage", ["delete_ann", "truncate_ann", "delete_ann_graph", "delete_bm25",
                                    "truncate_bm25"])
def test_verify_repair_fixes_damaged_derived_index(corpus, tmp_path, engine_factory, damage):
    store_path = tmp_path / "store"
    with engine_factory(store_path) as engine:
        engine.ingest([corpus])
    index_dir = store_path / "index" / "default"
    if damage == "delete_ann":
        (index_dir / "ann.npz").unlink()
    elif damage == "truncate_ann":
        data = (index_dir / "ann.npz").read_bytes()
        (index_dir / "ann.npz").write_bytes(data[: len(data) // 3])
    elif damage == "delete_ann_graph":
        for graph in index_dir.glob("ann-*.faiss"):
            graph.unlink()
    elif damage == "delete_bm25":
        shutil.rmtree(index_dir / "bm25")
    else:
        for segment in (index_dir / "bm25").glob("*.idx"):
            segment.write_bytes(segment.read_bytes()[:10])
    from ragline.ledger import Ledger
    from ragline.store.local import LocalStore
    from ragline.verify import verify

    store = LocalStore(store_path)
    found = verify(store, Ledger(store.db, "default"))
    assert found["drift"] > 0 and found["problems"]
    repaired = verify(store, Ledger(store.db, "default"), repair=True)
    assert repaired["drift"] == 0 and repaired["repaired"]
    store.close()
    with engine_factory(store_path) as engine:
        assert engine.verify()["drift"] == 0
        assert engine.search("psmisc", 1, mode="bm25")


def test_search_modes_and_errors(corpus, engine_factory):
    with engine_factory() as engine:
        engine.ingest([corpus])
        for mode in ("dense", "bm25", "hybrid"):
            hits = engine.search("python interpreter", 5, mode=mode)
            assert 0 < len(hits) <= 5
        hybrid = engine.search("python interpreter", 5, mode="hybrid")
        assert all(set(h.ranks) <= {"dense", "bm25"} and h.ranks for h in hybrid)
        assert [h.score for h in hybrid] == sorted((h.score for h in hybrid), reverse=True)
        with pytest.raises(QueryError):
            engine.search("x", 5, mode="fuzzy")
        with pytest.raises(QueryError):
            engine.search("   ", 5)
        # Query syntax characters are plain text to users, never a parse error.
        assert engine.search('title:"unbalanced (AND OR', 5, mode="bm25") is not None


def test_include_exclude_globs(corpus, engine_factory):
    with engine_factory() as engine:
        report = engine.ingest([corpus], include=["*.md"], exclude=["encoding/*"])
        kinds = {d.uri.rsplit(".", 1)[-1] for d in engine.ledger.all_documents()}
        assert kinds == {"md"} and report.counts["new"] == 1


def test_symlink_loop_and_unreadable_dir(corpus, engine_factory):
    (corpus / "good" / "loop").symlink_to(corpus, target_is_directory=True)
    with engine_factory() as engine:
        report = engine.ingest([corpus])
        uris = [d.uri for d in engine.ledger.all_documents()]
        assert len(uris) == len(set(uris))
        # The loop leads back to the corpus root, already walked: nothing is ingested through it.
        assert not any("/loop/" in u for u in uris)
        assert report.counts["new"] >= 15
