"""The server's query micro-batching gain, and search latency beside a running ingest job.

    flock /tmp/ragline-bench.lock python benchmarks/serve_batching.py --concurrency 32

Both run the real app (``create_app``, its lifespan, thread pools and batcher) in-process through
httpx's ASGI transport, with the real MiniLM model (``auto``) and both caches off, so every query
is embedded:

* **batching**: the Cranfield queries (225 distinct) sent ``--concurrency`` at a time as dense
  searches, with ``batch_window_ms`` = 0 (each query embedded alone, as ``Engine`` does) and with
  the windows given; rounds alternate so machine noise hits every setting alike.
* **ingest**: hybrid searches at concurrency 4 for ``--seconds``, alone and while an upload of
  ``--ingest-docs`` Cranfield abstracts is being ingested by the writer thread: p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ragline.serve import ServeSettings, create_app

DATA = Path(__file__).parent.parent / "datasets" / "cranfield"


def _lines(name: str) -> list[dict[str, Any]]:
    with open(DATA / name, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


async def _searches(client: httpx.AsyncClient, queries: list[str], concurrency: int, mode: str) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(query: str) -> None:
        async with gate:
            started = time.perf_counter()
            answer = await client.post("/v1/search", json={"query": query, "k": 10, "mode": mode})
            answer.raise_for_status()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one(q) for q in queries))
    return latencies


async def _with_app(store: str, window_ms: float, body: Any, ingest_threads: int = 1) -> Any:
    settings = ServeSettings(store=store, embedder="auto", auth=False, query_cache_size=0, result_cache_size=0,
                             admission="static",
                             batch_window_ms=window_ms, batch_max=64, search_threads=64, max_in_flight=10_000,
                             deadline_s=600, ingest_threads=ingest_threads)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            return await body(client, app)


async def _wait(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    while (job := (await client.get(f"/v1/jobs/{job_id}")).json())["state"] not in ("done", "failed"):
        await asyncio.sleep(0.1)
    return job


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--windows", default="2,5")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--ingest-docs", type=int, default=400)
    parser.add_argument("--skip-batching", action="store_true")
    args = parser.parse_args()
    corpus = _lines("corpus.jsonl")
    queries = [q["text"] for q in _lines("queries.jsonl")]
    with tempfile.TemporaryDirectory() as folder:
        store = f"local:{folder}/store"

        async def seed(client: httpx.AsyncClient, _: Any) -> None:
            records = [{"id": d["_id"], "text": d["text"], "title": d.get("title") or None} for d in corpus[:200]]
            job = await _wait(client, (await client.post("/v1/documents", json={"records": records})).json()["job_id"])
            assert job["state"] == "done", job

        await _with_app(store, 0, seed)

        windows = [0.0] + [float(w) for w in args.windows.split(",") if w]
        if args.skip_batching:
            windows = []
        results: dict[float, list[float]] = {w: [] for w in windows}
        batch_sizes: dict[float, list[float]] = {w: [] for w in windows}
        for _ in range(args.rounds):
            for window in windows:
                async def batching(client: httpx.AsyncClient, app: Any) -> tuple[float, float]:
                    await _searches(client, queries[:8], 8, "dense")  # warm the model and indexes
                    batcher = app.state.runtime.batcher
                    before = (batcher.batches, batcher.queries)
                    started = time.perf_counter()
                    await _searches(client, queries, args.concurrency, "dense")
                    elapsed = time.perf_counter() - started
                    batches, embedded = batcher.batches - before[0], batcher.queries - before[1]
                    return len(queries) / elapsed, embedded / max(batches, 1)

                qps, mean_batch = await _with_app(store, window, batching)
                results[window].append(qps)
                batch_sizes[window].append(mean_batch)
        print(f"micro-batching: {len(queries)} distinct uncached dense queries at concurrency {args.concurrency}")
        base = statistics.median(results[0.0]) if windows else 1.0
        for window in windows:
            qps = statistics.median(results[window])
            print(f"  window {window:>4} ms: {qps:7.1f} QPS (rounds {', '.join(f'{v:.1f}' for v in results[window])}), "
                  f"mean batch {statistics.mean(batch_sizes[window]):.1f}, x{qps / base:.2f} vs window 0")

        async def ingest_effect(client: httpx.AsyncClient, _: Any, prefix: str, offset: int) -> None:
            async def run_for(seconds: float) -> list[float]:
                latencies: list[float] = []
                end = time.perf_counter() + seconds
                index = 0
                while time.perf_counter() < end:
                    latencies += await _searches(client, queries[index % 200: index % 200 + 8], 4, "hybrid")
                    index += 8
                return latencies

            await run_for(2)
            alone = await run_for(args.seconds)
            records = [{"id": f"{prefix}-{d['_id']}", "text": d["text"]}
                       for d in corpus[offset:offset + args.ingest_docs]]
            job_id = (await client.post("/v1/documents", json={"records": records})).json()["job_id"]
            await asyncio.sleep(0.5)
            during = await run_for(args.seconds)
            state = (await client.get(f"/v1/jobs/{job_id}")).json()
            job = await _wait(client, job_id)
            print(f"[{prefix}] hybrid search at concurrency 4, alone vs during an ingest of {args.ingest_docs} docs "
                  f"(job still {state['state']} when the window closed; finished {job['state']})")
            for name, values in (("alone", alone), ("during ingest", during)):
                print(f"  {name:>14}: n={len(values)} p50 {_pct(values, 0.5):.1f} ms, p99 {_pct(values, 0.99):.1f} ms")
            print(f"  p99 ratio during/alone: {_pct(during, 0.99) / _pct(alone, 0.99):.2f}")

        # The writer's own one-thread model (the default) and, for comparison, the shared model.
        # (Different abstracts each time: the same texts again would be duplicates, not ingested.)
        for threads, prefix, offset in ((1, "own-model", 200), (0, "shared-model", 200 + args.ingest_docs)):
            await _with_app(store, 2.0, lambda client, app, p=prefix, o=offset: ingest_effect(client, app, p, o),
                            threads)


if __name__ == "__main__":
    asyncio.run(main())
