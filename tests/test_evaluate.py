"""Metric definitions against hand-worked examples, the TREC run format, and a small end-to-end eval."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ragline.evaluate import (
    average_precision,
    document_ranking,
    load_beir,
    ndcg_at,
    recall_at,
    reciprocal_rank_at,
    run_eval,
    score_run,
    write_trec_run,
)
from ragline.records import Chunk, Hit


# ----- metrics, worked by hand ------------------------------------------------------------------
def test_graded_ndcg_uses_grades_as_gains_and_ignores_non_positive_grades():
    judged = {"a": 3, "b": 2, "c": 1, "d": 0, "e": -1}
    # DCG@10 of [d, b, x, a, e]: d -> 0, b -> 2/log2(3) = 1.26186, x unjudged -> 0, a -> 3/log2(5) = 1.29203,
    # e (grade -1) -> 0, not -1/log2(6).                                               DCG = 2.55389
    # ideal order a, b, c: 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.26186 + 0.5 = 4.76186
    # nDCG@10 = 2.55389 / 4.76186 = 0.53632
    assert ndcg_at(["d", "b", "x", "a", "e"], judged, 10) == pytest.approx(0.5363218, abs=1e-6)
    assert ndcg_at(["a", "b", "c"], judged, 10) == pytest.approx(1.0)
    assert ndcg_at(["d", "e"], judged, 10) == 0.0


def test_ndcg_cutoff_counts_only_the_top_k_and_an_ideal_of_k_documents():
    # 12 documents of grade 1; the ideal DCG@10 sums 1/log2(r+1) for r = 1..10 only.
    judged = {f"r{i}": 1 for i in range(12)}
    ideal = sum(1 / math.log2(r + 1) for r in range(1, 11))
    # relevant at ranks 1 and 11: only rank 1 counts -> 1 / ideal
    ranking = ["r0"] + [f"n{i}" for i in range(9)] + ["r1"]
    assert ndcg_at(ranking, judged, 10) == pytest.approx(1 / ideal)
    # nDCG@3 of [n, r0, r1]: (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3) + 1/log2(4)) = 1.13093 / 2.13093
    assert ndcg_at(["n", "r0", "r1"], judged, 3) == pytest.approx(1.1309298 / 2.1309298, abs=1e-6)


def test_average_precision_divides_by_all_relevant_documents_including_unretrieved():
    judged = {"a": 1, "b": 2, "c": 1, "d": 3, "x": 0}
    # relevant a at rank 1 (P = 1/1) and b at rank 3 (P = 2/3); c and d are never retrieved.
    # AP = (1 + 2/3) / 4 = 0.416667  (not / 2, which would ignore the misses)
    assert average_precision(["a", "x", "b", "y", "z"], judged) == pytest.approx(5 / 12)
    assert average_precision(["x", "y"], judged) == 0.0
    assert average_precision(["d", "c", "b", "a"], judged) == pytest.approx(1.0)


def test_reciprocal_rank_stops_at_the_cutoff():
    judged = {"hit": 1, "miss": 0}
    assert reciprocal_rank_at(["miss", "u", "hit"], judged, 10) == pytest.approx(1 / 3)
    late = ["miss"] + [f"u{i}" for i in range(9)] + ["hit"]   # first relevant at rank 11
    assert reciprocal_rank_at(late, judged, 10) == 0.0
    assert reciprocal_rank_at(late, judged, 11) == pytest.approx(1 / 11)


def test_recall_stops_at_the_cutoff():
    judged = {"a": 1, "b": 1, "c": 2, "z": 0}
    ranking = ["a"] + [f"u{i}" for i in range(99)] + ["b"]    # b is at rank 101
    assert recall_at(ranking, judged, 100) == pytest.approx(1 / 3)
    assert recall_at(ranking, judged, 101) == pytest.approx(2 / 3)


def test_queries_without_a_relevant_document_are_not_scored_and_missing_queries_score_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 0, "c": -1}, "q3": {"z": 2}}
    run = {"q1": [("a", 2.0)], "q2": [("b", 1.0)]}       # q3 judged but never answered
    means, per_query = score_run(run, qrels)
    assert set(per_query) == {"q1", "q3"}                  # q2 has nothing to find
    # q1: everything 1.0; q3: everything 0.0 -> means 0.5 (were q2 counted, they would be 1/3)
    assert means == {"nDCG@10": 0.5, "Recall@100": 0.5, "MAP": 0.5, "MRR@10": 0.5}


def _hit(record_id: str, score: float, index: int = 0) -> Hit:
    chunk = Chunk(chunk_id=f"{record_id}-{index}", doc_id=f"doc-{record_id}", index=index, text="t",
                  start=0, end=1, token_count=1, content_hash="h", metadata={"record_id": record_id})
    return Hit(chunk=chunk, score=score, uri=f"file:///c.jsonl#{record_id}")


def test_document_ranking_keeps_each_documents_best_chunk():
    hits = [_hit("7", 0.9, 1), _hit("3", 0.8), _hit("7", 0.7, 0), _hit("5", 0.6), _hit("3", 0.5, 2)]
    assert document_ranking(hits) == [("7", 0.9), ("3", 0.8), ("5", 0.6)]
    assert document_ranking(hits, depth=2) == [("7", 0.9), ("3", 0.8)]


def test_trec_run_file_format(tmp_path):
    run = {"1": [("12", 0.75), ("7", 0.5)], "q-2": [("a b".replace(" ", "_"), 3.0)]}
    path = tmp_path / "run.trec"
    with path.open("w") as handle:
        write_trec_run(handle, run, "ragline-bm25")
    lines = [line.split() for line in path.read_text().splitlines()]
    assert lines == [["1", "Q0", "12", "1", "0.75", "ragline-bm25"],
                     ["1", "Q0", "7", "2", "0.5", "ragline-bm25"],
                     ["q-2", "Q0", "a_b", "1", "3", "ragline-bm25"]]
    # scores keep 10 significant digits, so close fused scores are not rounded into ties
    with path.open("w") as handle:
        write_trec_run(handle, {"q": [("a", 1 / 61 + 1 / 62), ("b", 1 / 60 + 1 / 63)]}, "t")
    scores = [float(line.split()[4]) for line in path.read_text().splitlines()]
    assert scores[0] != scores[1] and scores == pytest.approx([1 / 61 + 1 / 62, 1 / 60 + 1 / 63], rel=1e-9)


def test_metrics_match_pytrec_eval_on_a_random_run():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(1234)
    docs = [f"d{i}" for i in range(60)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, list[tuple[str, float]]] = {}
    for q in range(40):
        judged = dict.fromkeys(rng.sample(docs, rng.randint(1, 25)), 0)
        for doc in judged:
            judged[doc] = rng.randint(0, 3)
        judged[rng.choice(list(judged))] = rng.randint(1, 3)   # at least one relevant per query
        qrels[f"q{q}"] = judged
        retrieved = rng.sample(docs, rng.randint(1, 60))
        scores = rng.sample(range(1, 10_000), len(retrieved))  # distinct: trec_eval sorts by score
        run[f"q{q}"] = sorted(zip(retrieved, map(float, scores), strict=True), key=lambda p: -p[1])
    means, per_query = score_run(run, qrels)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "map", "recip_rank"})
    reference = evaluator.evaluate({q: dict(r) for q, r in run.items()})
    # recip_rank has no cutoff in trec_eval: score the runs cut at 10 for MRR@10.
    cut = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(
        {q: dict(r[:10]) for q, r in run.items()})
    for q in qrels:
        assert per_query[q]["nDCG@10"] == pytest.approx(reference[q]["ndcg_cut_10"], abs=1e-9)
        assert per_query[q]["Recall@100"] == pytest.approx(reference[q]["recall_100"], abs=1e-9)
        assert per_query[q]["MAP"] == pytest.approx(reference[q]["map"], abs=1e-9)
        assert per_query[q]["MRR@10"] == pytest.approx(cut[q]["recip_rank"], abs=1e-9)
    assert means["MAP"] == pytest.approx(sum(r["map"] for r in reference.values()) / len(reference))


# ----- BEIR loading and an end-to-end eval -------------------------------------------------------
CORPUS = [
    {"_id": "d1", "title": "Volcanoes", "text": "Basalt lava erupts from shield volcanoes in Hawaii."},
    {"_id": "d2", "title": "Bread", "text": "Sourdough bread rises slowly with a wild yeast starter."},
    {"_id": "d3", "title": "Chess", "text": "The queen's gambit is a classical chess opening."},
    {"_id": "d4", "title": "Tides", "text": "Ocean tides follow the gravitational pull of the moon."},
    {"_id": "d5", "title": "Bees", "text": "Honeybees dance to tell the hive where nectar grows."},
]
QUERIES = [
    {"_id": "q1", "text": "sourdough starter yeast"},
    {"_id": "q2", "text": "chess opening gambit"},
    {"_id": "q3", "text": "moon gravitational tides"},
    {"_id": "q4", "text": "nothing relevant judged"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td2\t2\nq2\td3\t1\nq3\td4\t1\nq3\td1\t0\nq4\td5\t0\n"


@pytest.fixture()
def tiny_beir(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    (root / "qrels" / "test.tsv").write_text(QRELS)
    return root


def test_load_beir(tiny_beir):
    dataset = load_beir(tiny_beir)
    assert dataset.queries["q2"] == "chess opening gambit"
    assert dataset.qrels["q3"] == {"d4": 1, "d1": 0}
    assert dataset.scored_query_ids() == ["q1", "q2", "q3"]    # q4 has no relevant document


def test_end_to_end_eval_with_bm25_finding_the_matching_document(tiny_beir, tmp_path):
    prefix = tmp_path / "runs" / "tiny"
    result = run_eval(tiny_beir, store=f"local:{tmp_path / 'store'}", embedder="hashing:64",
                      run_file=str(prefix), depth=10)
    assert result["queries"] == 3 and result["ingest"]["chunks_written"] == 5
    bm25 = result["modes"]["bm25"]["metrics"]
    # each query shares words with exactly its one relevant document
    assert bm25 == {"nDCG@10": 1.0, "Recall@100": 1.0, "MAP": 1.0, "MRR@10": 1.0}
    assert set(result["modes"]) == {"dense", "bm25", "hybrid"}
    lines = (Path(f"{prefix}.bm25.trec")).read_text().splitlines()
    first = {line.split()[0]: line.split() for line in reversed(lines)}   # rank-1 line per query
    assert {q: row[2] for q, row in first.items()} == {"q1": "d2", "q2": "d3", "q3": "d4"}
    assert all(row[1] == "Q0" and row[3] == "1" and row[5] == "ragline-bm25" for row in first.values())
    # the store is reused: a second run ingests nothing new
    again = run_eval(tiny_beir, store=f"local:{tmp_path / 'store'}", embedder="hashing:64",
                     modes=["bm25"], depth=10)
    assert again["ingest"]["chunks_written"] == 0 and again["modes"]["bm25"]["metrics"] == bm25


@pytest.mark.integration
def test_cli_eval_json(tiny_beir):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "ragline.cli", "eval", str(tiny_beir), "--mode", "bm25",
                             "--embedder", "hashing:64", "--json"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report["modes"]) == ["bm25"] and report["modes"]["bm25"]["metrics"]["MRR@10"] == 1.0
    table = subprocess.run([sys.executable, "-m", "ragline.cli", "eval", str(tiny_beir),
                            "--embedder", "hashing:64"], capture_output=True, text=True, env=env, timeout=300)
    assert table.returncode == 0 and "nDCG@10" in table.stdout and "hybrid" in table.stdout


def test_every_timed_query_is_embedded_afresh(tiny_beir, engine_factory):
    """The latencies must include query embedding: no timed search may be answered by the
    query-vector or result cache (an earlier pass, or another mode, filled both)."""
    from ragline.evaluate import evaluate_engine

    dataset = load_beir(tiny_beir)
    with engine_factory() as engine:
        engine.ingest([dataset.corpus_path])
        results = evaluate_engine(engine, dataset, ("dense", "hybrid", "bm25"), depth=10)
        queries = len(dataset.scored_query_ids())
        assert engine.query_vectors.hits == 0 and engine.results.hits == 0
        # dense and hybrid embed each query in both passes (depth, then k=10); bm25 never does
        assert engine.query_vectors.misses == 2 * 2 * queries
    assert all(r.latency_k10_ms_p50 > 0 for r in results.values())
