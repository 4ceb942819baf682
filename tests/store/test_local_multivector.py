"""The local store's multi-vector table, and MaxSim re-ranking of its real search results."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.errors import StoreError
from ragline.rerank import rerank_maxsim
from ragline.store.local import LocalStore
from tests.store.contract import make_chunks, vectors_for

E = np.eye(16, dtype=np.float32)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_multivectors_round_trip_as_float16_and_survive_reopen(tmp_path):
    store = LocalStore(tmp_path / "s")
    chunks = make_chunks("file:///a.txt", ["one", "two"])
    store.upsert(chunks, vectors_for(chunks))
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((3, 8)).astype(np.float32), rng.standard_normal((5, 8)).astype(np.float32)]
    assert store.upsert_multivectors([c.chunk_id for c in chunks], arrays) == 2
    store.close()
    again = LocalStore(tmp_path / "s")
    got = again.multivectors([chunks[1].chunk_id, chunks[0].chunk_id, "nope"])
    assert set(got) == {chunks[0].chunk_id, chunks[1].chunk_id}
    for chunk, array in zip(chunks, arrays):
        assert got[chunk.chunk_id].dtype == np.float32
        np.testing.assert_array_equal(got[chunk.chunk_id], array.astype(np.float16).astype(np.float32))
    assert again.multivector_stats() == {"multivector_chunks": 2, "multivector_vectors": 8,
                                         "multivector_bytes": 8 * 8 * 2}
    again.close()


def test_deleting_chunks_deletes_their_multivectors(tmp_path):
    store = LocalStore(tmp_path / "s")
    a = make_chunks("file:///a.txt", ["alpha", "beta"])
    b = make_chunks("file:///b.txt", ["gamma"])
    store.upsert(a + b, vectors_for(a + b))
    store.upsert_multivectors([c.chunk_id for c in a + b], [E[:2], E[:3], E[:4]])
    store.delete([a[0].doc_id])
    assert set(store.multivectors([c.chunk_id for c in a + b])) == {b[0].chunk_id}
    store.delete_chunks([b[0].chunk_id])
    assert store.db.execute("SELECT count(*) FROM chunk_multivectors").fetchone()[0] == 0
    # A re-added chunk gets a new row id, so nothing stale can attach to it.
    store.upsert(b, vectors_for(b))
    assert store.multivectors([b[0].chunk_id]) == {}
    assert store.chunks_without_multivectors() == [(b[0].chunk_id, "gamma")]
    store.close()


def test_bad_multivectors_are_refused(tmp_path):
    store = LocalStore(tmp_path / "s")
    chunks = make_chunks("file:///a.txt", ["one", "two"])
    store.upsert(chunks, vectors_for(chunks))
    ids = [c.chunk_id for c in chunks]
    with pytest.raises(StoreError, match="not in the store"):
        store.upsert_multivectors(["missing"], [E[:2]])
    with pytest.raises(StoreError, match="2-d"):
        store.upsert_multivectors(ids, [E[:2, :8], E[:2, :4]])
    store.upsert_multivectors(ids[:1], [E[:2, :8]])
    with pytest.raises(StoreError, match="8-d multi-vectors"):
        store.upsert_multivectors(ids[1:], [E[:2, :4]])
    store.close()


def test_namespaces_do_not_see_each_others_multivectors(tmp_path):
    one, two = LocalStore(tmp_path / "s", "one"), LocalStore(tmp_path / "s", "two")
    chunks = make_chunks("file:///a.txt", ["shared"])
    one.upsert(chunks, vectors_for(chunks))
    one.upsert_multivectors([chunks[0].chunk_id], [E[:2]])
    assert two.multivectors([chunks[0].chunk_id]) == {}
    with pytest.raises(StoreError, match="not in the store"):
        two.upsert_multivectors([chunks[0].chunk_id], [E[:2]])
    one.close()
    two.close()


def test_generation_moves_on_every_write_seen_from_another_connection(tmp_path):
    writer, reader = LocalStore(tmp_path / "s"), LocalStore(tmp_path / "s")
    seen = [reader.data_generation()]
    a = make_chunks("file:///a.txt", ["alpha", "beta"])
    writer.upsert(a, vectors_for(a))
    seen.append(reader.data_generation())
    writer.upsert_multivectors([a[0].chunk_id], [E[:2]])
    seen.append(reader.data_generation())
    writer.flush()  # trims the change log: the generation must not go back
    seen.append(reader.data_generation())
    writer.delete_chunks([a[1].chunk_id])
    seen.append(reader.data_generation())
    assert seen == sorted(seen) and len(set(seen)) == 4  # the flush changed nothing searchable
    writer.upsert(a, vectors_for(a))  # a no-op re-upsert of a stored chunk
    writer.flush()
    after_noop = reader.data_generation()
    assert after_noop > seen[-1]  # a[1] came back: that is a change
    writer.upsert(a, vectors_for(a))
    assert reader.data_generation() == after_noop
    writer.close()
    reader.close()


def test_maxsim_picks_the_chunk_that_single_vector_cosine_ranks_second(tmp_path):
    """Query tokens e1, e2. Chunk A has tokens e1, e2 and four of e3; chunk B one token (e1+e2)/sqrt2.
    Pooled (mean) vectors: cos(query, B) = 1 but cos(query, A) = 2/sqrt(2*18) = 1/3, so dense search
    ranks B first. MaxSim: A = 1 + 1 = 2, B = 2/sqrt2 = 1.414, so A wins. C has no token vectors."""
    store = LocalStore(tmp_path / "s")
    chunks = make_chunks("file:///x.txt", ["chunk A", "chunk B", "chunk C"])
    tokens_a = E[[0, 1, 2, 2, 2, 2]]
    tokens_b = unit(E[0] + E[1])[None, :]
    pooled = np.stack([unit(tokens_a.mean(axis=0)), unit(tokens_b.mean(axis=0)), unit(E[0] + E[1] + E[3])])
    store.upsert(chunks, pooled)
    store.upsert_multivectors([chunks[0].chunk_id, chunks[1].chunk_id], [tokens_a, tokens_b])
    query_tokens = E[[0, 1]]
    dense = store.search_vector(unit(query_tokens.mean(axis=0)), 3)
    assert [h.chunk.text for h in dense] == ["chunk B", "chunk C", "chunk A"]
    assert dense[0].score == pytest.approx(1.0, abs=1e-3) and dense[2].score == pytest.approx(1 / 3, abs=1e-3)
    reranked = rerank_maxsim(dense, query_tokens, store.multivectors([h.chunk.chunk_id for h in dense]), 3)
    assert [h.chunk.text for h in reranked] == ["chunk A", "chunk B", "chunk C"]
    assert [h.score for h in reranked[:2]] == [pytest.approx(2.0, abs=1e-3), pytest.approx(2 ** 0.5, abs=1e-3)]
    assert reranked[2].score == dense[1].score  # C keeps its dense score, after the re-ranked ones
    store.close()


def test_a_reader_catches_up_after_another_writer_trimmed_the_log(tmp_path):
    """The writer's flush trims the change log; the reader's in-memory indexes must not stay
    behind forever (the result cache would then faithfully cache stale answers)."""
    reader, writer = LocalStore(tmp_path / "s"), LocalStore(tmp_path / "s")
    a = make_chunks("file:///a.txt", ["alpha words"])
    reader.upsert(a, vectors_for(a))
    reader.flush()
    assert [h.chunk.chunk_id for h in reader.search_text("beta", 5)] == []
    b = make_chunks("file:///b.txt", ["beta words"])
    writer.upsert(b, vectors_for(b))
    writer.delete([a[0].doc_id])
    writer.flush()
    writer.close()
    assert [h.chunk.chunk_id for h in reader.search_text("beta", 5)] == [b[0].chunk_id]
    assert [h.chunk.chunk_id for h in reader.search_vector(vectors_for(b)[0], 5)] == [b[0].chunk_id]
    assert reader.search_text("alpha", 5) == []
    reader.close()


def test_without_auto_sync_the_generation_follows_what_the_indexes_applied(tmp_path):
    store = LocalStore(tmp_path / "s", auto_sync=False)
    a, b = make_chunks("file:///a.txt", ["alpha"]), make_chunks("file:///b.txt", ["beta"])
    store.upsert(a, vectors_for(a))
    assert len(store.search_text("alpha", 5)) == 1   # the first load builds the indexes
    store.upsert(b, vectors_for(b))
    before = store.data_generation()
    assert store.search_text("beta", 5) == []        # not synced: the indexes lack b
    assert store.data_generation() == before
    store.sync()
    assert store.data_generation() != before
    assert [h.chunk.chunk_id for h in store.search_text("beta", 5)] == [b[0].chunk_id]
    store.close()
