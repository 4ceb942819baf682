"""Query-side costs with the real model: result-cache hits vs misses, and MaxSim re-ranking.

    python benchmarks/query_side.py samples/corpus --repeat 30

Ingests PATH into a temporary store with ``multivector=True`` (timing the token-vector pass and
reporting its size), then times per query (median, ms):
  * ``uncached``: both caches off, so every search embeds the query and searches;
  * ``query vector cached``: result cache off, query embeddings cached (what a result-cache miss
    costs for a query seen before, e.g. with another k or filter, or after a write);
  * ``hit``: the same search again (result cache hit: generation check + deep copy);
  * ``rerank``: ``rerank="maxsim"`` at depth 40 with the result cache off (query tokens cached).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ragline.engine import Engine

QUERIES = ["How do I report a bug in Python?", "sort a list by a key function", "shallow and deep copy",
           "pip cache directory", "the zen of python", "licence history", "parse a TOML file",
           "boundary layer transition"]


def median_ms(engine: Engine, repeat: int, **params) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        for query in QUERIES:
            started = time.perf_counter()
            engine.search(query, 10, **params)
            times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--mode", default="hybrid")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = f"local:{tmp}/store"
        with Engine.open(store, embedder="onnx") as engine:
            report = engine.ingest([args.path], multivector=True)
            stats = engine.stats()
        print(f"ingest: {stats['chunks']} chunks, {report.elapsed_s:.1f} s in all, "
              f"token-vector pass {report.stage_seconds.get('multivector', 0):.1f} s, "
              f"embed {report.stage_seconds.get('embed', 0):.1f} s")
        print(f"multi-vectors: {stats['multivector_vectors']} vectors, "
              f"{stats['multivector_bytes'] / 2**20:.1f} MiB "
              f"({stats['multivector_bytes'] / stats['chunks'] / 1024:.0f} KiB per chunk) "
              f"vs single vectors {stats['chunks'] * stats['dim'] * 2 / 2**20:.2f} MiB")
        with Engine.open(store, embedder="onnx", result_cache_size=0, query_cache_size=0) as engine:
            uncached = median_ms(engine, max(1, args.repeat // 10), mode=args.mode)
        with Engine.open(store, embedder="onnx", result_cache_size=0) as engine:
            embedding_cached = median_ms(engine, args.repeat, mode=args.mode)
            rerank = median_ms(engine, args.repeat, mode=args.mode, rerank="maxsim", rerank_depth=40)
        with Engine.open(store, embedder="onnx") as engine:
            median_ms(engine, 1, mode=args.mode)  # fill
            hit = median_ms(engine, args.repeat, mode=args.mode)
            rates = {k: v for k, v in engine.stats().items() if k.endswith("hit_rate")}
        print(f"{args.mode} k=10, median ms: uncached {uncached}, query vector cached {embedding_cached}, "
              f"result-cache hit {hit}, maxsim rerank@40 {rerank}; {rates}")


if __name__ == "__main__":
    main()
