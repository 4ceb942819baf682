"""Hybrid-fusion experiments on a BEIR collection, over one already-built store.

    python benchmarks/fusion_tuning.py datasets/cranfield --store local:.eval-data/cranfield

Fetches each query's dense and BM25 candidate lists once (depth 1000), then scores fusion variants
offline: RRF at several candidate depths, weighted RRF, min-max and z-score convex combinations,
fusion over documents (best chunk per document) instead of chunks, and BM25 analyzers (each built
into a scratch tantivy index from the store's SQLite chunks, no re-embedding). Variants are a few
round settings chosen up front from the literature, not a grid: see the README's Tuning section.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ragline.engine import Engine
from ragline.evaluate import METRICS, document_ranking, load_beir, score_run
from ragline.records import Hit
from ragline.search import best_chunk_per_doc, chunk_key, doc_key, rrf, score_fusion
from ragline.store.local.bm25 import ANALYZERS, Bm25Index

POOL = 1000
Fuse = Callable[..., list[Hit]]


def bm25_lists(engine: Engine, queries: dict[str, str], analyzer: str) -> dict[str, list[Hit]]:
    store = engine.store
    with tempfile.TemporaryDirectory(prefix="ragline-bm25-") as tmp:
        index = Bm25Index(Path(tmp) / "bm25", analyzer=analyzer)
        for rows in store._iter_rows("id, text"):
            index.add([(r[0], r[1], []) for r in rows])
        index.commit(1)
        return {q: store._hits(index.search(text, POOL), "bm25") for q, text in queries.items()}


def evaluate(run_hits: dict[str, list[Hit]], qrels: dict) -> dict[str, float]:
    run = {q: document_ranking(hits, depth=POOL) for q, hits in run_hits.items()}
    return score_run(run, qrels)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--store", required=True)
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    dataset = load_beir(args.dataset)
    ids = dataset.scored_query_ids()
    queries = {q: dataset.queries[q] for q in ids}
    qrels = {q: dataset.qrels[q] for q in ids}
    rows: list[tuple[str, dict[str, float]]] = []
    with Engine.open(args.store) as engine:
        started = time.perf_counter()
        dense = {q: engine.store.search_vector(engine._query_vector(t), POOL) for q, t in queries.items()}
        print(f"dense lists: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        sparse = {name: bm25_lists(engine, queries, name) for name in ANALYZERS}
    rows.append(("dense", evaluate(dense, qrels)))
    for name in ANALYZERS:
        rows.append((f"bm25 {name}", evaluate(sparse[name], qrels)))

    def variant(label: str, fuse: Fuse, depth: int, analyzer: str = "en_stem_snowball_stop",
                per_doc: bool = False) -> None:
        fused = {}
        for q in ids:
            d, s = dense[q][:depth], sparse[analyzer][q][:depth]
            if per_doc:
                d, s = best_chunk_per_doc(d), best_chunk_per_doc(s)
                fused[q] = fuse(d, s, POOL, doc_key)
            else:
                fused[q] = fuse(d, s, POOL)
        rows.append((f"{label} d={depth} {analyzer}{' per-doc' if per_doc else ''}", evaluate(fused, qrels)))

    names = ["dense", "bm25"]
    plain: Fuse = lambda d, s, k, key=chunk_key: rrf([d, s], names, k, key=key)  # noqa: E731
    for analyzer in ANALYZERS:
        for depth in (40, 100, 1000):
            variant("rrf60", plain, depth, analyzer)
    variant("rrf60", plain, 40, per_doc=True)
    variant("rrf60", plain, 1000, per_doc=True)
    for weights in ((2, 1), (1, 2)):
        variant(f"rrf60 w={weights}", lambda d, s, k, w=weights: rrf([d, s], names, k, weights=w), 40)
    for depth in (40, 100, 1000):
        variant("minmax 0.5", lambda d, s, k: score_fusion([d, s], names, k), depth)
        variant("zscore 0.5", lambda d, s, k: score_fusion([d, s], names, k, normalise="zscore"), depth)
    for weights in ((0.7, 0.3), (0.3, 0.7)):
        variant(f"minmax w={weights}", lambda d, s, k, w=weights: score_fusion([d, s], names, k, w), 40)
    minmax: Fuse = lambda d, s, k, key=chunk_key: score_fusion([d, s], names, k, key=key)  # noqa: E731
    zscore: Fuse = lambda d, s, k, key=chunk_key: score_fusion([d, s], names, k, normalise="zscore", key=key)  # noqa: E731
    maxnorm: Fuse = lambda d, s, k, key=chunk_key: score_fusion([d, s], names, k, normalise="max", key=key)  # noqa: E731
    for depth in (40, 100, 1000):
        variant("maxnorm 0.5", maxnorm, depth)
        variant("maxnorm 0.5", maxnorm, depth, per_doc=True)
    for depth in (40, 1000):
        variant("minmax 0.5", minmax, depth, per_doc=True)
        variant("zscore 0.5", zscore, depth, per_doc=True)
        variant("rrf60 w=(2, 1)", lambda d, s, k, key=chunk_key: rrf([d, s], names, k, weights=(2, 1), key=key),
                depth, per_doc=True)

    width = max(len(label) for label, _ in rows)
    print(f"{'variant':<{width}}  " + "  ".join(f"{m:>10}" for m in METRICS))
    for label, metrics in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{metrics[m]:>10.4f}" for m in METRICS))
    if args.json:
        args.json.write_text(json.dumps([{"variant": label, **m} for label, m in rows], indent=1))


if __name__ == "__main__":
    main()
