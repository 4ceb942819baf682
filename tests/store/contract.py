"""StoreContract: the behaviour every store backend must have. A backend's test module
subclasses it and provides a ``make_store`` fixture returning a fresh store (and ``reopen``)."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.ids import content_hash, make_chunk_id, make_doc_id
from ragline.records import Chunk

DIM = 16


def make_chunks(doc: str, texts: list[str], **metadata) -> list[Chunk]:
    doc_id = make_doc_id("test", doc)
    chunks = []
    for i, text in enumerate(texts):
        h = content_hash(text)
        chunks.append(Chunk(make_chunk_id(doc_id, i, h), doc_id, i, text, 0, len(text), len(text.split()), h,
                            {"uri": doc, **metadata}))
    return chunks


def vectors_for(chunks: list[Chunk]) -> np.ndarray:
    out = np.stack([np.random.default_rng(int(c.content_hash[:8], 16)).standard_normal(DIM) for c in chunks])
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


class StoreContract:
    @pytest.fixture()
    def store(self, make_store):
        store = make_store()
        yield store
        store.close()

    def populate(self, store):
        a = make_chunks("file:///a.txt", ["the cat sat on the mat", "dogs chase cats in the park"], kind="txt")
        b = make_chunks("file:///b.pdf", ["aerodynamic heating of blunt bodies", "boundary layer transition"],
                        kind="pdf", page=3)
        with store.transaction():
            assert store.upsert(a, vectors_for(a)) == 2
            assert store.upsert(b, vectors_for(b)) == 2
        return a, b

    def test_upsert_and_count(self, store):
        self.populate(store)
        assert store.count() == 4

    def test_reupsert_is_a_noop(self, store):
        a, _ = self.populate(store)
        assert store.upsert(a, vectors_for(a)) == 0
        assert store.count() == 4
        assert len(store.search_vector(vectors_for(a)[0], 10)) == 4

    def test_get_returns_chunks_in_request_order(self, store):
        a, b = self.populate(store)
        got = store.get([b[1].chunk_id, a[0].chunk_id, "missing"])
        assert [c.chunk_id for c in got] == [b[1].chunk_id, a[0].chunk_id]
        assert got[0].text == "boundary layer transition" and got[0].metadata["page"] == 3

    def test_vector_search_finds_the_vector_itself(self, store):
        a, b = self.populate(store)
        for chunk, vector in zip(a + b, vectors_for(a + b)):
            hits = store.search_vector(vector, 1)
            assert hits[0].chunk.chunk_id == chunk.chunk_id
            assert hits[0].score == pytest.approx(1.0, abs=1e-2)

    def test_text_search_stems(self, store):
        self.populate(store)
        hits = store.search_text("heated body", 5)
        assert hits and hits[0].chunk.text == "aerodynamic heating of blunt bodies"

    def test_filters_apply_inside_both_retrievers(self, store):
        a, b = self.populate(store)
        hits = store.search_vector(vectors_for(a)[0], 10, filter={"kind": "pdf"})
        assert {h.chunk.chunk_id for h in hits} == {c.chunk_id for c in b}
        assert store.search_text("cats", 10, filter={"kind": "pdf"}) == []
        assert len(store.search_text("cats", 10, filter={"kind": "txt"})) == 2
        assert {h.chunk.chunk_id for h in store.search_vector(vectors_for(a)[0], 10, filter={"page": 3})} == \
               {c.chunk_id for c in b}

    def test_delete_removes_from_every_retriever(self, store):
        a, b = self.populate(store)
        assert store.delete([a[0].doc_id]) == 2
        assert store.count() == 2
        assert all(h.chunk.doc_id != a[0].doc_id for h in store.search_vector(vectors_for(a)[0], 10))
        assert store.search_text("cats", 10) == []

    def test_delete_chunks(self, store):
        a, _ = self.populate(store)
        assert store.delete_chunks([a[1].chunk_id]) == 1
        assert [c.chunk_id for c in store.get([a[0].chunk_id, a[1].chunk_id])] == [a[0].chunk_id]

    def test_data_survives_reopen(self, store, reopen):
        a, b = self.populate(store)
        store.close()
        again = reopen()
        try:
            assert again.count() == 4
            assert again.search_vector(vectors_for(b)[1], 1)[0].chunk.chunk_id == b[1].chunk_id
            assert again.search_text("transition", 1)[0].chunk.chunk_id == b[1].chunk_id
        finally:
            again.close()

    def test_failed_transaction_leaves_nothing(self, store):
        a = make_chunks("file:///a.txt", ["one", "two"])
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.upsert(a, vectors_for(a))
                raise RuntimeError("boom")
        assert store.count() == 0
