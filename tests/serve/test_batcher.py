"""Micro-batching of query embeddings: one embed call for queries that arrive together, the same
vectors as one at a time."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from ragline.embed.hashing import HashingEmbedder
from ragline.serve.batcher import QueryBatcher


def test_concurrent_queries_share_one_embed_call_and_get_their_own_vectors():
    embedder = HashingEmbedder(64)
    sizes: list[int] = []
    batcher = QueryBatcher(embedder, window_s=0.05, max_batch=64, on_batch=sizes.append)
    queries = [f"query number {i}" for i in range(20)]

    async def run() -> list[np.ndarray]:
        batcher.start(asyncio.get_running_loop())
        return await asyncio.gather(*(batcher.embed(q) for q in queries))

    vectors = asyncio.run(run())
    batcher.close()
    assert sizes == [20]
    for query, vector in zip(queries, vectors, strict=True):
        np.testing.assert_allclose(vector, embedder.embed([query])[0], rtol=1e-6)


def test_a_full_batch_goes_at_once_and_the_rest_follows():
    embedder = HashingEmbedder(64)
    sizes: list[int] = []
    batcher = QueryBatcher(embedder, window_s=10.0, max_batch=4, on_batch=sizes.append)

    async def run() -> list[np.ndarray]:
        batcher.start(asyncio.get_running_loop())
        return await asyncio.wait_for(asyncio.gather(*(batcher.embed(f"q{i}") for i in range(8))), 5)

    assert len(asyncio.run(run())) == 8   # two full batches: nobody waited for the 10 s window
    batcher.close()
    assert sizes == [4, 4]


def test_threads_block_on_the_loop_and_errors_reach_every_waiter():
    class Broken(HashingEmbedder):
        def embed(self, texts):  # a backend failure inside the batch
            raise RuntimeError("model gone")

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        good = QueryBatcher(HashingEmbedder(64), window_s=0.01, max_batch=8)
        good.start(loop)
        assert good.embed_blocking("hello", timeout=5).shape == (64,)
        broken = QueryBatcher(Broken(64), window_s=0.01, max_batch=8)
        broken.start(loop)
        with pytest.raises(RuntimeError, match="model gone"):
            broken.embed_blocking("hello", timeout=5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_window_zero_embeds_in_the_callers_thread():
    sizes: list[int] = []
    batcher = QueryBatcher(HashingEmbedder(64), window_s=0, on_batch=sizes.append)
    assert not batcher.enabled
    assert batcher.embed_blocking("alone").shape == (64,)
    assert sizes == [1]


def test_the_server_batches_concurrent_dense_searches(make_client):
    from concurrent.futures import ThreadPoolExecutor

    with make_client(auth=False, batch_window_ms=50, search_threads=16, result_cache_size=0) as client:
        client.post("/v1/search", json={"query": "warm", "mode": "dense"})
        batcher = client.app.state.runtime.batcher
        before_batches, before_queries = batcher.batches, batcher.queries
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(
                lambda i: client.post("/v1/search", json={"query": f"distinct {i}", "mode": "dense"}), range(12)))
        assert all(a.status_code == 200 for a in answers)
        assert batcher.queries - before_queries == 12
        assert batcher.batches - before_batches < 12   # some queries shared a call
        assert "ragline_query_batch_size_count" in client.get("/metrics").text


class _Gated(HashingEmbedder):
    """A real embedder whose calls wait for a gate, so a test can see which copies work at once."""

    def __init__(self, dim: int, gate: threading.Event, busy: list[str], name: str):
        super().__init__(dim)
        self.gate, self.busy, self.name = gate, busy, name

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.busy.append(self.name)
        assert self.gate.wait(5)
        return super().embed(texts)


def test_several_copies_embed_batches_at_once_and_the_rest_waits_for_a_free_one():
    gate, busy = threading.Event(), []
    copies = [_Gated(64, gate, busy, name) for name in ("a", "b")]
    sizes: list[int] = []
    batcher = QueryBatcher(copies, window_s=0.01, max_batch=2, on_batch=sizes.append)

    async def run() -> list[np.ndarray]:
        batcher.start(asyncio.get_running_loop())
        waiting = [asyncio.ensure_future(batcher.embed(f"q{i}")) for i in range(6)]
        for _ in range(200):  # both copies take a batch; the third batch has no copy to go to
            await asyncio.sleep(0.01)
            if len(busy) == 2:
                break
        await asyncio.sleep(0.1)
        assert sorted(busy) == ["a", "b"] and sizes == [2, 2]
        gate.set()
        return await asyncio.wait_for(asyncio.gather(*waiting), 5)

    vectors = asyncio.run(run())
    batcher.close()
    assert sizes == [2, 2, 2] and len(busy) == 3
    for i, vector in enumerate(vectors):
        np.testing.assert_allclose(vector, HashingEmbedder(64).embed([f"q{i}"])[0], rtol=1e-6)
