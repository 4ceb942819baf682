"""Engine.search's result and query-embedding caches, and MaxSim re-ranking end to end."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from ragline.errors import QueryError
from tests.conftest import FIXTURES, SAMPLES

QUERY = "how do I report a bug"


def ids(hits):
    return [h.chunk.chunk_id for h in hits]


@pytest.fixture()
def good(tmp_path):
    target = tmp_path / "good"
    shutil.copytree(FIXTURES / "good", target)
    return target


def test_a_repeated_query_is_answered_from_the_cache(good, engine_factory, hashing_embedder):
    with engine_factory() as engine:
        engine.ingest([good])
        first = engine.search(QUERY, 5)
        calls = hashing_embedder.calls
        again = engine.search(QUERY, 5)
        assert ids(again) == ids(first) and [h.score for h in again] == [h.score for h in first]
        assert hashing_embedder.calls == calls  # not even the query was embedded again
        stats = engine.stats()
        assert (stats["result_cache_hits"], stats["result_cache_misses"]) == (1, 1)
        assert stats["result_cache_hit_rate"] == 0.5 and stats["result_cache_entries"] == 1


def test_different_parameters_miss(good, engine_factory):
    with engine_factory() as engine:
        engine.ingest([good], multivector=True)
        engine.search(QUERY, 5)
        variants = [dict(k=4), dict(mode="dense"), dict(mode="bm25"), dict(filter={"kind": "text"}),
                    dict(filter={"kind": "markdown"}), dict(rerank="maxsim"),
                    dict(rerank="maxsim", rerank_depth=10)]
        for params in variants:
            engine.search(QUERY, **{"k": 5, **params})
        engine.search(QUERY + "?", 5)
        stats = engine.stats()
        assert stats["result_cache_hits"] == 0 and stats["result_cache_misses"] == len(variants) + 2
        # The same filter written in another order is the same search.
        engine.search(QUERY, 5, filter={"kind": "text"})
        assert engine.stats()["result_cache_hits"] == 1


def test_query_vectors_are_cached_across_modes(good, engine_factory):
    with engine_factory() as engine:
        engine.ingest([good])
        engine.search(QUERY, 5, mode="dense")
        engine.search(QUERY, 5, mode="hybrid")   # a result-cache miss, but the same query vector
        stats = engine.stats()
        assert (stats["query_cache_hits"], stats["query_cache_misses"]) == (1, 1)
        assert stats["query_cache_hit_rate"] == 0.5


def test_a_write_by_another_engine_on_the_same_store_invalidates(good, tmp_path, engine_factory):
    store = tmp_path / "store"
    with engine_factory(store) as reader:
        reader.ingest([good / "bsd-license.txt"])
        before = reader.search("README of psmisc", 10, mode="bm25")
        assert reader.search("README of psmisc", 10, mode="bm25") == before
        with engine_factory(store) as writer:
            writer.ingest([good])
        after = reader.search("README of psmisc", 10, mode="bm25")
        assert any(h.uri.endswith("psmisc-README.md") for h in after)
        assert not any(h.uri.endswith("psmisc-README.md") for h in before)
        with engine_factory(store) as writer:
            writer.delete(source=good / "psmisc-README.md")
        gone = reader.search("README of psmisc", 10, mode="bm25")
        assert not any(h.uri.endswith("psmisc-README.md") for h in gone)
        assert reader.stats()["result_cache_hits"] == 1


def test_own_writes_invalidate_too(good, engine_factory):
    with engine_factory() as engine:
        engine.ingest([good / "bsd-license.txt"])
        engine.search(QUERY, 5, mode="dense")
        engine.ingest([good])
        after = engine.search(QUERY, 5, mode="dense")
        assert engine.stats()["result_cache_hits"] == 0
        engine.delete(doc_ids=[after[0].chunk.doc_id])
        assert after[0].chunk.doc_id not in {h.chunk.doc_id for h in engine.search(QUERY, 5, mode="dense")}


def test_results_handed_out_are_not_aliases_of_the_cached_ones(good, engine_factory):
    with engine_factory() as engine:
        engine.ingest([good])
        first = engine.search(QUERY, 5)
        expected = [(h.chunk.chunk_id, dict(h.ranks), dict(h.chunk.metadata)) for h in first]
        first[0].ranks["dense"] = 999
        first[0].chunk.metadata["uri"] = "tampered"
        first.reverse()
        second = engine.search(QUERY, 5)
        second[1].ranks.clear()
        third = engine.search(QUERY, 5)
        assert [(h.chunk.chunk_id, h.ranks, h.chunk.metadata) for h in third] == expected
        assert engine.stats()["result_cache_hits"] == 2
        with pytest.raises(ValueError):
            engine._query_vector(QUERY)[0] = 1.0


def test_concurrent_searches_agree_with_sequential_ones(good, engine_factory):
    queries = [QUERY, "license conditions", "python interpreter", "what now", "redistribution"]
    with engine_factory(result_cache_size=3) as engine:  # small: forces evictions while racing
        engine.ingest([good])
        expected = {q: ids(engine.search(q, 5)) for q in queries}
        errors: list[BaseException] = []

        def work(worker: int):
            try:
                for i in range(40):
                    q = queries[(worker + i) % len(queries)]
                    assert ids(engine.search(q, 5)) == expected[q]
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        stats = engine.stats()
        assert stats["result_cache_hits"] + stats["result_cache_misses"] == 5 + 6 * 40
        assert stats["result_cache_entries"] <= 3


def test_cache_size_zero_means_no_caching(good, engine_factory):
    with engine_factory(result_cache_size=0, query_cache_size=0) as engine:
        engine.ingest([good])
        assert ids(engine.search(QUERY, 5)) == ids(engine.search(QUERY, 5))
        stats = engine.stats()
        assert stats["result_cache_hits"] == stats["query_cache_hits"] == 0


# ----- MaxSim re-ranking -----------------------------------------------------------------------

def test_rerank_needs_multivectors(good, engine_factory):
    with engine_factory() as engine:
        engine.ingest([good])
        with pytest.raises(QueryError, match="--multivector"):
            engine.search(QUERY, 5, rerank="maxsim")
        with pytest.raises(QueryError, match="unknown reranker"):
            engine.search(QUERY, 5, rerank="colbert-ish")
        with pytest.raises(QueryError, match="at least k"):
            engine.search(QUERY, 5, rerank="maxsim", rerank_depth=4)


def test_multivector_ingest_backfills_and_sticks(good, engine_factory):
    with engine_factory() as engine:
        engine.ingest([good / "bsd-license.txt"])
        assert engine.stats()["multivector_chunks"] == 0
        engine.ingest([good / "bsd-license.txt"], multivector=True)   # unchanged file: backfilled
        first = engine.stats()
        assert first["multivector_chunks"] == first["chunks"] > 0
        engine.ingest([good])   # no flag: the store remembers that it keeps token vectors
        stats = engine.stats()
        assert stats["multivector_chunks"] == stats["chunks"] > first["chunks"]
        engine.delete(source=good / "bsd-license.txt")
        assert engine.stats()["multivector_chunks"] == engine.stats()["chunks"]


def test_hashing_rerank_is_a_permutation_of_the_candidates(good, engine_factory):
    with engine_factory() as engine:
        engine.ingest([good], multivector=True)
        for mode in ("dense", "bm25", "hybrid"):
            candidates = engine.search(QUERY, 12, mode=mode)
            reranked = engine.search(QUERY, 12, mode=mode, rerank="maxsim", rerank_depth=12)
            assert sorted(ids(reranked)) == sorted(ids(candidates))
            scores = [h.score for h in reranked]
            assert scores == sorted(scores, reverse=True)
            assert [h.ranks["maxsim"] for h in reranked] == list(range(1, len(reranked) + 1))


def test_onnx_rerank_on_a_real_ingest(tmp_path, onnx_embedder):
    from ragline.engine import Engine

    with Engine.open(f"local:{tmp_path / 's'}", embedder=onnx_embedder) as engine:
        report = engine.ingest([SAMPLES / "notes", SAMPLES / "papers"], multivector=True)
        assert not report.failed
        stats = engine.stats()
        assert stats["multivector_chunks"] == stats["chunks"] > 0
        # MiniLM's token vectors: as many per chunk as the chunk's tokens, 384-d, in float16.
        assert stats["multivector_bytes"] == stats["multivector_vectors"] * 384 * 2
        query = "how do I sort a list by a key function"
        candidates = engine.search(query, 10, mode="dense")
        reranked = engine.search(query, 10, mode="dense", rerank="maxsim", rerank_depth=10)
        assert sorted(ids(reranked)) == sorted(ids(candidates))
        assert reranked[0].uri.endswith("sorting-howto.pdf")
        tokens = engine._query_tokens(query)
        assert tokens.shape == (onnx_embedder.count([query])[0], 384)   # [CLS] and [SEP] dropped
        multivectors = engine.store.multivectors(ids(reranked))
        by_hand = [sum(float((mv @ q).max()) for q in tokens) for mv in (multivectors[h.chunk.chunk_id]
                                                                         for h in reranked)]
        np.testing.assert_allclose([h.score for h in reranked], by_hand, rtol=1e-4)
