from __future__ import annotations

import numpy as np
import pytest

from ragline.store.local import LocalStore
from ragline.store.local.ann import EXACT_LIMIT, VECTOR_DTYPES
from tests.store.contract import StoreContract, make_chunks, vectors_for


@pytest.fixture(params=VECTOR_DTYPES)
def dtype(request):
    """Every test here runs once per ANN vector dtype."""
    return request.param


class TestLocalStore(StoreContract):
    @pytest.fixture()
    def make_store(self, tmp_path, dtype):
        return lambda: LocalStore(tmp_path / "s", vector_dtype=dtype)

    @pytest.fixture()
    def reopen(self, tmp_path, dtype):
        # No dtype given: the store must reopen with the one it was created with.
        def reopen_and_check():
            store = LocalStore(tmp_path / "s")
            assert store.vector_dtype == dtype and store.ann.dtype == dtype
            return store
        return reopen_and_check


def test_derived_indexes_catch_up_from_the_change_log(tmp_path, dtype):
    store = LocalStore(tmp_path / "s", vector_dtype=dtype)
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


def test_selective_filter_still_returns_k(tmp_path, dtype):
    """A filter matching 0.1% of the corpus must still give k results (pre-filtering)."""
    store = LocalStore(tmp_path / "s", vector_dtype=dtype)
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


@pytest.mark.slow
def test_hnsw_with_bitmap_filter_above_exact_limit(tmp_path, dtype):
    store = LocalStore(tmp_path / "s", vector_dtype=dtype)
    chunks = make_chunks("file:///m.txt", [f"t{i}" for i in range(EXACT_LIMIT * 3)])
    chunks = [type(c)(**{**{f: getattr(c, f) for f in c.__slots__},
                         "metadata": {**c.metadata, "half": str(i % 2)}}) for i, c in enumerate(chunks)]
    vectors = vectors_for(chunks)
    store.upsert(chunks, vectors)
    hits = store.search_vector(vectors[1], 10, filter={"half": "1"})
    assert len(hits) == 10 and all(h.chunk.metadata["half"] == "1" for h in hits)
    assert hits[0].chunk.chunk_id == chunks[1].chunk_id
    store.close()


def test_compaction_after_many_deletes(tmp_path, dtype):
    store = LocalStore(tmp_path / "s", vector_dtype=dtype)
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


def test_dtype_is_persisted_and_a_change_rebuilds_the_ann(tmp_path):
    chunks = make_chunks("file:///d.txt", [f"text {i}" for i in range(50)])
    vectors = vectors_for(chunks)
    with LocalStore(tmp_path / "s", vector_dtype="binary") as store:
        store.upsert(chunks, vectors)
    assert LocalStore(tmp_path / "s").vector_dtype == "binary"
    with LocalStore(tmp_path / "s", vector_dtype="float16") as store:
        assert store.get_meta("vector_dtype") == "float16"
        assert store.ann.dtype == "float16" and len(store.ann) == 50
        assert store.search_vector(vectors[7], 1)[0].chunk.chunk_id == chunks[7].chunk_id
    with LocalStore(tmp_path / "s") as again:
        # The rebuilt index was saved: reopening loads it instead of rebuilding again.
        assert again.vector_dtype == "float16"
        assert again.ann.dtype == "float16" and again.problems == []
        assert again.search_vector(vectors[3], 1)[0].chunk.chunk_id == chunks[3].chunk_id
        again.set_vector_dtype("int8")
        assert again.ann.dtype == "int8" and len(again.ann) == 50


def test_unknown_dtype_is_refused(tmp_path):
    from ragline.errors import ConfigError

    with pytest.raises(ConfigError, match="vector dtype"):
        LocalStore(tmp_path / "s", vector_dtype="int4")
