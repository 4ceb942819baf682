"""Latency of filtered search in the local store, by filter type and selectivity.

    python benchmarks/filter_latency.py --n 20000 --queries 50

Builds a throwaway store of ``--n`` chunks (random unit vectors, 384-d; short texts sharing the
word 'document') with metadata for every filter type, then times, per filter: resolving the
allowed row ids in SQLite, dense search (k=10) and BM25 search (k=10), as medians in ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ragline.ids import content_hash, make_chunk_id, make_doc_id
from ragline.records import Chunk
from ragline.store.local import LocalStore


def corpus(n: int, dim: int, rng: np.random.Generator) -> tuple[list[Chunk], np.ndarray]:
    chunks = []
    for i in range(n):
        uri = f"file:///docs/d{i % 1000}/f{i}.txt"
        doc_id = make_doc_id("bench", uri)
        text = f"document {i} words w{i % 97} v{i % 13}"
        digest = content_hash(text)
        chunks.append(Chunk(make_chunk_id(doc_id, 0, digest), doc_id, 0, text, 0, len(text), 5, digest,
                            {"uri": uri, "kind": ["pdf", "html", "md", "txt"][i % 4], "year": 1000 + i,
                             "day": (date(2000, 1, 1) + timedelta(days=i)).isoformat(),
                             "rare": "yes" if i % 1000 == 0 else "no"}))
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    chunks, vectors = corpus(args.n, 384, rng)
    n = args.n
    filters = {
        "none": None,
        "eq 0.1%": {"rare": "yes"},
        "in 50%": {"kind": {"in": ["pdf", "html"]}},
        "range 0.1%": {"year": {"gte": 1000 + n - n // 1000}},
        "range 50%": {"year": {"lt": 1000 + n // 2}},
        "date range 0.1%": {"day": {"lt": (date(2000, 1, 1) + timedelta(days=n // 1000)).isoformat()}},
        "prefix 0.1%": {"uri": {"prefix": "file:///docs/d7/"}},
        "not 0.1%": {"not": {"rare": "no"}},
        "not 99.9%": {"not": {"rare": "yes"}},
        "combined": {"kind": {"in": ["pdf", "md"]}, "year": {"gte": 1000 + n // 4},
                     "not": {"uri": {"prefix": "file:///docs/d1"}}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "s")
        started = time.perf_counter()
        for start in range(0, n, 2000):
            store.upsert(chunks[start:start + 2000], vectors[start:start + 2000])
        store.flush()
        print(f"{n} chunks stored and indexed in {time.perf_counter() - started:.1f} s")
        queries = rng.standard_normal((args.queries, 384)).astype(np.float32)
        print(f"{'filter':<16} {'matches':>8} {'sqlite ms':>10} {'dense ms':>9} {'bm25 ms':>8}")
        for name, where in filters.items():
            allowed = store.allowed_rowids(where)
            count = n if allowed is None else len(allowed)
            sql = median_ms(lambda: store.allowed_rowids(where), args.queries)
            it = iter(range(10**9))
            dense = median_ms(lambda: store.search_vector(queries[next(it) % len(queries)], 10, where), args.queries)
            bm25 = median_ms(lambda: store.search_text("document w7 v3", 10, where), args.queries)
            print(f"{name:<16} {count:>8} {sql:>10.2f} {dense:>9.2f} {bm25:>8.2f}")
        store.close()


if __name__ == "__main__":
    main()
