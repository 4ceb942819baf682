from __future__ import annotations

import numpy as np
import pytest

from ragline.store.local import LocalStore
from ragline.store.local.ann import EXACT_LIMIT
from tests.store.contract import StoreContract, make_chunks, vectors_for


class TestLocalStore(StoreContract):
    @pytest.fixture()
    def make_store(self, tmp_path):
        return lambda: LocalStore(tmp_path / "s")

    @pytest.fixture()
    def reopen(self, tmp_path):
        return lambda: LocalStore(tmp_path / "s")


def test_derived_indexes_catch_up_from_the_change_log(tmp_path):
    store = LocalStore(tmp_path / "s")
    a = make_chunks("file:///a.txt", ["first text", "second text"])
    store.upsert(a, vectors_for(a))
    store.flush()
    b = make_chunks("file:///b.txt", ["third text here"])
    store.upsert(b, vectors_for(b))
    store.delete([a[0].doc_id])
    store.db.close()  # simulate a crash: indexes on disk never saw b or the delete
    store.db = None
    again = LocalStore(tmp_path / "s")
    assert [h.chunk.chunk_id for h in again.search_vector(vectors_for(b)[0], 5)] == [b[0].chunk_id]
    assert [h.chunk.chunk_id for h in again.search_text("text", 5)] == [b[0].chunk_id]
    again.close()


def test_selective_filter_still_returns_k(tmp_path):
    """A filter matching 0.1% of the corpus must still give k results (pre-filtering)."""
    store = LocalStore(tmp_path / "s")
    texts = [f"document number {i}" for i in range(5000)]
    chunks = make_chunks("file:///many.txt", texts)
    rare = {c.chunk_id for c in chunks[::1000]}
    chunks = [c if c.chunk_id not in rare else type(c)(**{**{f: getattr(c, f) for f in c.__slots__},
                                                           "metadata": {**c.metadata, "rare": "yes"}})
              for c in chunks]
    store.upsert(chunks, vectors_for(chunks))
    query = vectors_for(chunks[:1])[0]
    hits = store.search_vector(query, 5, filter={"rare": "yes"})
    assert {h.chunk.chunk_id for h in hits} == rare
    assert len(store.search_text("document", 5, filter={"rare": "yes"})) == 5
    assert len(rare) < EXACT_LIMIT
    store.close()


def test_hnsw_with_bitmap_filter_above_exact_limit(tmp_path):
    store = LocalStore(tmp_path / "s")
    chunks = make_chunks("file:///m.txt", [f"t{i}" for i in range(EXACT_LIMIT * 3)])
    chunks = [type(c)(**{**{f: getattr(c, f) for f in c.__slots__},
                         "metadata": {**c.metadata, "half": str(i % 2)}}) for i, c in enumerate(chunks)]
    vectors = vectors_for(chunks)
    store.upsert(chunks, vectors)
    hits = store.search_vector(vectors[1], 10, filter={"half": "1"})
    assert len(hits) == 10 and all(h.chunk.metadata["half"] == "1" for h in hits)
    assert hits[0].chunk.chunk_id == chunks[1].chunk_id
    store.close()


def test_compaction_after_many_deletes(tmp_path):
    store = LocalStore(tmp_path / "s")
    chunks = make_chunks("file:///m.txt", [f"t{i}" for i in range(3000)])
    store.upsert(chunks, vectors_for(chunks))
    store.sync()
    store.delete_chunks([c.chunk_id for c in chunks[:2000]])
    store.sync()
    assert store.ann.dead == 0 and len(store.ann) == 1000
    hit = store.search_vector(vectors_for(chunks[2500:2501])[0], 1)[0]
    assert hit.chunk.chunk_id == chunks[2500].chunk_id
    store.close()


def test_vectors_stored_as_float16_keep_cosine(tmp_path):
    store = LocalStore(tmp_path / "s")
    chunks = make_chunks("file:///v.txt", ["a", "b", "c"])
    vectors = vectors_for(chunks)
    store.upsert(chunks, vectors)
    back = store.vectors([c.chunk_id for c in chunks])
    assert np.allclose((back * vectors).sum(1), 1.0, atol=1e-3)
    store.close()
