"""The BM25 analyzer: stop words go, stems stay, and an index built with another analyzer is rebuilt."""

from __future__ import annotations

from ragline.store.local import LocalStore
from ragline.store.local.bm25 import Bm25Index
from tests.store.contract import make_chunks, vectors_for

TEXTS = ["the wing of the aircraft was tested", "runs of a heated slab", "pressure distributions"]


def _store_with_chunks(path):
    store = LocalStore(path)
    chunks = make_chunks("file:///a.txt", TEXTS)
    store.upsert(chunks, vectors_for(chunks))
    store.flush()
    return store, chunks


def test_stop_words_are_not_indexed_but_stems_match(tmp_path):
    store, chunks = _store_with_chunks(tmp_path / "s")
    assert store.search_text("what is the of", 5) == []   # only Snowball English stop words
    hits = store.search_text("what is the running of wings", 5)
    assert {h.chunk.chunk_id for h in hits} == {chunks[0].chunk_id, chunks[1].chunk_id}
    store.close()


def test_index_built_with_another_analyzer_is_rebuilt_from_sqlite(tmp_path):
    store, chunks = _store_with_chunks(tmp_path / "s")
    rows = [row for batch in store._iter_rows("id, text") for row in batch]
    bm25_path = store.index_dir / "bm25"
    store.close()
    assert bm25_path.is_dir() and len(rows) == 3
    # Replace the index with one built the old way (plain en_stem, stop words indexed).
    Bm25Index.destroy(bm25_path)
    old = Bm25Index(bm25_path, analyzer="en_stem")
    old.add([(rowid, text, []) for rowid, text in rows])
    old.commit(10**6)
    assert old.search("the", 5)                            # the old index does hold "the"
    old.close()
    again = LocalStore(tmp_path / "s")
    assert again.search_text("the", 5) == []               # rebuilt with stop words removed
    assert [h.chunk.chunk_id for h in again.search_text("pressure", 5)] == [chunks[2].chunk_id]
    assert any("analyzer" in problem for problem in again.problems)
    again.close()
