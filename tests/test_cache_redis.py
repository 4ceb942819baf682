"""Result and query-vector caches shared through a real Redis-protocol server (valkey-server):
two engines over one store (two "server workers") share hits, a write to the store invalidates
through the generation, values are not pickles, and Redis being down is bypassed, not an error."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from ragline.cache_redis import RedisQueryVectorCache, RedisResultCache, SharedRedis
from ragline.engine import Engine
from ragline.errors import ConfigError
from tests.conftest import FIXTURES
from tests.queues.conftest import _free_port, _server_binary

QUERY = "what does killall do to processes"


def _start(folder: Path) -> tuple[subprocess.Popen, str]:
    import redis

    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    process = subprocess.Popen([_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 30
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("valkey-server did not start") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, url = _start(tmp_path_factory.mktemp("valkey"))
    yield url
    _stop(process)


@pytest.fixture()
def store(tmp_path) -> Path:
    path = tmp_path / "store"
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "good", corpus)
    with Engine.open(f"local:{path}", embedder="hashing:64", parse_workers=0) as engine:
        engine.ingest([corpus])
    return path


def _metric(name: str, cache: str) -> float:
    return REGISTRY.get_sample_value(name, {"cache": cache}) or 0.0


def _open(store: Path, cache: str | None, **options) -> Engine:
    return Engine.open(f"local:{store}", embedder="hashing:64", cache=cache, **options)


def test_two_engines_share_results_and_query_vectors(server, store):
    cache = f"{server}?prefix=t-share"
    hits_before = _metric("ragline_cache_hits_total", "result")
    with _open(store, cache) as first, _open(store, cache) as second:
        assert isinstance(first.results, RedisResultCache)
        assert isinstance(first.query_vectors, RedisQueryVectorCache)
        expected = first.search(QUERY, 5, snippets=False)
        assert first.results.misses == 1 and first.results.hits == 0
        assert not first.results.last_was_hit()
        shared = second.search(QUERY, 5, snippets=False)
        assert second.results.hits == 1 and second.results.misses == 0  # the other worker's entry
        assert second.results.last_was_hit()
        assert [(h.chunk, h.score, h.uri, h.ranks) for h in shared] == \
            [(h.chunk, h.score, h.uri, h.ranks) for h in expected]
        # Dense search with new parameters misses the results but finds the other's query vector.
        second.search(QUERY, 3, mode="dense")
        first.search(QUERY, 4, mode="dense")
        assert first.query_vectors.hits >= 1
        # With snippets, a cached answer still gets its highlights.
        assert all(h.snippet is not None for h in second.search(QUERY, 5))
    assert _metric("ragline_cache_hits_total", "result") - hits_before >= 2


def test_a_write_to_the_store_invalidates_through_the_generation(server, store, tmp_path):
    cache = f"{server}?prefix=t-gen"
    with _open(store, cache) as reader, _open(store, cache) as writer:
        before = reader.search(QUERY, 5, snippets=False)
        assert reader.search(QUERY, 5, snippets=False) == before and reader.results.hits == 1
        extra = tmp_path / "corpus" / "killall.md"
        extra.write_text("# killall\n\nkillall kills processes by name; killall -HUP named. " * 5)
        report = writer.ingest([tmp_path / "corpus"])
        assert report.counts["new"] == 1
        after = reader.search(QUERY, 5, snippets=False)
        assert reader.results.misses == 2  # the generation moved: a new key
        assert "file://" + str(extra) in {h.uri for h in after}
        assert writer.search(QUERY, 5, snippets=False) == after and writer.results.hits == 1


def test_two_stores_never_share_entries(server, store, tmp_path):
    """Same documents, same generation, same query: a store made afresh still gets its own
    scope id, so nothing leaks between stores sharing one Redis."""
    cache = f"{server}?prefix=t-scope"
    fresh = tmp_path / "fresh"
    with Engine.open(f"local:{fresh}", embedder="hashing:64", parse_workers=0) as engine:
        engine.ingest([tmp_path / "corpus"])
    with _open(store, cache) as first, _open(fresh, cache) as third:
        assert first._cache_scope() != third._cache_scope()
        first.search(QUERY, 6)
        third.search(QUERY, 6)
        assert third.results.hits == 0 and third.results.misses == 1


def test_values_are_json_and_vectors_raw_floats_never_pickles(server, store):
    import redis

    cache = f"{server}?prefix=t-format&ttl=120"
    with _open(store, cache) as engine:
        engine.search(QUERY, 5)
    client = redis.Redis.from_url(server)
    keys = client.keys("t-format:*")
    assert {k.split(b":")[1] for k in keys} == {b"result", b"qvec"}
    for key in keys:
        value = client.get(key)
        assert not value.startswith(b"\x80")  # a pickle's first byte
        assert 0 < client.ttl(key) <= 120
        if b":result:" in key:
            assert value.startswith(b"{")
        else:
            assert len(value) == 64 * 4
            assert np.isclose(np.linalg.norm(np.frombuffer(value, "<f4")), 1.0, atol=1e-5)
    # Garbage under a key (another version, an attacker) is a miss, not a crash.
    for key in keys:
        client.set(key, b"\x80\x04garbage")
    with _open(store, cache) as engine:
        assert engine.search(QUERY, 5)
        assert engine.results.hits == 0 and engine.query_vectors.hits == 0


def test_redis_down_is_bypassed_and_counted(store, tmp_path):
    process, url = _start(tmp_path / "valkey-dies")
    errors_before = _metric("ragline_cache_errors_total", "result")
    with _open(store, url) as engine, _open(store, None) as direct:
        expected = direct.search(QUERY, 5, snippets=False)
        assert engine.search(QUERY, 5, snippets=False) == expected
        _stop(process)
        started = time.monotonic()
        for _ in range(20):
            assert engine.search(QUERY, 5, snippets=False) == expected
        assert time.monotonic() - started < 5  # the breaker skips Redis instead of waiting on it
        stats = engine.stats()
        assert stats["result_cache_errors"] >= 20 and stats["result_cache_misses"] >= 20
    assert _metric("ragline_cache_errors_total", "result") - errors_before >= 20
    # Never reachable at all: same.
    with _open(store, f"redis://127.0.0.1:{_free_port()}/0?timeout=0.1") as engine:
        assert engine.search(QUERY, 5, snippets=False) == expected


def test_the_uri_is_checked_and_the_password_never_shown():
    with pytest.raises(ConfigError, match="unknown option"):
        SharedRedis("redis://127.0.0.1:6379/0?tll=5")
    with pytest.raises(ConfigError, match="redis://"):
        SharedRedis("memcached://127.0.0.1:11211")
    with pytest.raises(ConfigError, match="ttl"):
        SharedRedis("redis://127.0.0.1:6379/0?ttl=0")
    shared = SharedRedis("redis://:s3cretPassw0rdXYZ@127.0.0.1:6379/0?ttl=5")
    assert "s3cret" not in repr(shared) and "s3cret" not in shared.shown
    assert shared.ttl == 5 and "ttl" not in shared.url
