"""Measure the HNSW libraries ragline could use, on the same vectors, in one process.

    python benchmarks/ann_choice.py --store ragline-data --n 100000 --queries 300

Vectors: the real MiniLM embeddings held by a ragline store, expanded to ``--n`` by mixing two
real vectors (random weights) plus small noise and re-normalising, so the set keeps the clustered,
anisotropic shape of real text embeddings (uniform random vectors would flatter every library).
Queries are held-out real embeddings. Each library is built with the same graph degree (M=32)
and construction depth (80), then searched at the ef that first reaches recall@10 >= 0.95.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time

import numpy as np


def load_vectors(store: str) -> np.ndarray:
    with sqlite3.connect(f"{store}/ragline.db") as db:
        blobs = [r[0] for r in db.execute("SELECT vector FROM chunks")]
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)


def expand(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    a, b = rng.integers(0, len(real), n), rng.integers(0, len(real), n)
    w = rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
    out = w * real[a] + (1 - w) * real[b] + rng.normal(0, 0.02, (n, real.shape[1])).astype(np.float32)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def timed_queries(search, queries: np.ndarray) -> tuple[np.ndarray, float]:
    results, times = [], []
    for q in queries:
        start = time.perf_counter()
        results.append(search(q))
        times.append(time.perf_counter() - start)
    return np.array(results), statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    real = load_vectors(args.store)
    rng.shuffle(real)
    queries, base = real[: args.queries], real[args.queries:]
    data = expand(base, args.n, rng)
    dim, k = data.shape[1], 10
    exact = faiss.IndexFlatIP(dim)
    exact.add(data)
    truth = exact.search(queries, k)[1]
    rows = []

    def report(name, build_s, search_at):
        for ef in (16, 32, 48, 64, 96, 128, 192, 256):
            found, p50 = timed_queries(lambda q: search_at(q, ef), queries)
            r = recall(found, truth)
            if r >= 0.95 or ef == 256:
                rows.append((name, build_s, ef, r, p50))
                return

    faiss.omp_set_num_threads(2)
    start = time.perf_counter()
    f_index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    f_index.hnsw.efConstruction = 80
    f_index.add(data)
    f_build = time.perf_counter() - start
    faiss.omp_set_num_threads(1)

    def f_search(q, ef):
        params = faiss.SearchParametersHNSW()
        params.efSearch = ef
        return f_index.search(q[None], k, params=params)[1][0]
    report("faiss IndexHNSWFlat", f_build, f_search)

    from usearch.index import Index

    start = time.perf_counter()
    u_index = Index(ndim=dim, metric="ip", dtype="f32", connectivity=32, expansion_add=80)
    u_index.add(np.arange(len(data)), data, threads=2)
    u_build = time.perf_counter() - start

    def u_search(q, ef):
        u_index.expansion_search = ef
        return u_index.search(q, k, threads=1).keys
    report("usearch f32", u_build, u_search)

    try:
        import hnswlib
    except ImportError:
        hnswlib = None
    if hnswlib is not None:
        start = time.perf_counter()
        h_index = hnswlib.Index(space="ip", dim=dim)
        h_index.init_index(max_elements=len(data), M=32, ef_construction=80)
        h_index.set_num_threads(2)
        h_index.add_items(data, np.arange(len(data)))
        h_build = time.perf_counter() - start
        h_index.set_num_threads(1)

        def h_search(q, ef):
            h_index.set_ef(max(ef, k))
            return h_index.knn_query(q, k)[0][0]
        report("hnswlib", h_build, h_search)

    print(f"{args.n} vectors x {dim} (expanded from {len(base)} real embeddings), {len(queries)} queries")
    print(f"{'library':22} {'build s':>8} {'ef':>5} {'recall@10':>10} {'p50 ms':>8}")
    for name, build_s, ef, r, p50 in rows:
        print(f"{name:22} {build_s:8.1f} {ef:5d} {r:10.3f} {p50:8.3f}")


if __name__ == "__main__":
    main()
