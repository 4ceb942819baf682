from __future__ import annotations

import threading

import numpy as np
import pytest

from ragline.caches import MISSING, CountingLru, QueryVectorCache, freeze


def test_lru_is_bounded_and_evicts_the_least_recently_used():
    cache = CountingLru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1          # a is now the most recent
    cache.put("c", 3)                   # so b goes
    assert cache.get("b") is MISSING and cache.get("c") == 3 and len(cache) == 2
    assert cache.stats("x") == {"x_hits": 2, "x_misses": 1, "x_hit_rate": pytest.approx(2 / 3, abs=1e-4),
                                "x_entries": 2, "x_max_entries": 2}


def test_size_zero_turns_the_cache_off():
    cache = CountingLru(0)
    cache.put("a", 1)
    assert cache.get("a") is MISSING and len(cache) == 0
    with pytest.raises(ValueError, match="0 turns the cache off"):
        CountingLru(-1)


def test_query_vectors_are_read_only_and_keyed_by_model():
    cache = QueryVectorCache(8)
    calls = []

    def embed(value: float):
        calls.append(value)
        return np.full(3, value, dtype=np.float32)

    first = cache.get_or_compute(("m", "r1", "pooled", "q"), lambda: embed(1.0))
    again = cache.get_or_compute(("m", "r1", "pooled", "q"), lambda: embed(9.0))
    other_revision = cache.get_or_compute(("m", "r2", "pooled", "q"), lambda: embed(2.0))
    assert calls == [1.0, 2.0] and again is first and other_revision[0] == 2.0
    with pytest.raises(ValueError):
        first[0] = 5.0


def test_counts_stay_exact_under_concurrent_use():
    cache = CountingLru(64)
    barrier = threading.Barrier(8)

    def work(worker: int):
        barrier.wait()
        for i in range(2000):
            key = (worker + i) % 100
            if cache.get(key) is MISSING:
                cache.put(key, key)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.hits + cache.misses == 8 * 2000 and len(cache) <= 64


def test_freeze_tells_apart_what_filters_tell_apart():
    assert freeze({"a": 1, "b": "x"}) == freeze({"b": "x", "a": 1})
    assert freeze({"page": 1}) != freeze({"page": "1"}) != freeze({"page": True})
    assert freeze(None) != freeze({})
    hash(freeze({"tags": ["a", "b"], "n": {"x": 1.5}}))


def test_result_cache_hands_out_copies_that_share_nothing_mutable():
    from ragline.caches import ResultCache
    from ragline.records import Chunk, Hit

    chunk = Chunk("c1", "d1", 0, "text", 0, 4, 1, "h", {"heading": ["A", "B"], "nested": {"x": [1]}})
    cache = ResultCache(4)
    given = cache.remember("key", [Hit(chunk=chunk, score=1.0, uri="u", ranks={"dense": 1})])
    given[0].chunk.metadata["heading"].append("C")
    given[0].chunk.metadata["nested"]["x"].append(2)
    given[0].ranks["bm25"] = 3
    given.clear()
    for _ in range(2):
        out = cache.lookup("key")
        assert out[0].chunk.metadata == {"heading": ["A", "B"], "nested": {"x": [1]}}
        assert out[0].ranks == {"dense": 1}
        out[0].chunk.metadata["heading"].clear()
    assert cache.lookup("other") is None and (cache.hits, cache.misses) == (2, 1)
