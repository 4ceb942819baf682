"""``ragline bench serve`` on a tiny corpus: the result's shape and that its numbers are sane.

No timing thresholds (speed goals belong to the bench itself): the levels asked for are all there,
every request was answered, percentiles are ordered, the overload run accounts for every request
and the ingestion it ran lost nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragline.bench_serve import DistinctQueries, bench_serve, plot_bench_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _tiny_corpus(folder: Path) -> Path:
    """30 real Cranfield abstracts from the sample corpus, as a BEIR-style corpus.jsonl."""
    sample = Path(__file__).parent.parent / "samples" / "corpus" / "data" / "cranfield-40.jsonl"
    rows = [json.loads(line) for line in sample.read_text().splitlines() if line.strip()]
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": row["id"], "title": row["title"], "text": row["text"]}) + "\n" for row in rows[:30]))
    return folder


def test_distinct_queries_never_repeat() -> None:
    queries = DistinctQueries(["a b", "c d", "e f"], ["x", "y"])
    sent = [next(queries) for _ in range(200)]
    assert len(set(sent)) == 200
    assert sent[:3] == ["a b", "c d", "e f"] and sent[3] == "a b y"


def test_bench_serve_table_shape(tmp_path: Path) -> None:
    corpus = _tiny_corpus(tmp_path / "corpus")
    result = bench_serve(corpus=corpus, embedder="hashing:384", concurrency=(1, 4), requests=24,
                         cached_queries=4, overload_seconds=1.0, overload_docs=5, direct_queries=10,
                         log=tmp_path / "serve.log", admission="static")  # c=4 is never shed
    assert result["documents"] == 30 and result["admission"] == "static"
    assert result["ingest"] == {"documents": 25, "seconds": result["ingest"]["seconds"], "jobs_failed": 0}
    assert [(level["kind"], level["concurrency"]) for level in result["levels"]] == [
        ("cached", 1), ("uncached", 1), ("cached", 4), ("uncached", 4)]
    for level in result["levels"]:
        assert level["requests"] == 24 and level["ok"] == 24 and level["errors"] == 0 and level["shed"] == 0
        assert level["statuses"] == {"200": 24}
        assert level["qps"] > 0 and 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"] < 60_000
    over = result["overload"]
    assert over["sent"] == over["admitted"] + over["shed"] + over["errors"] and over["errors"] == 0
    assert sum(over["statuses"].values()) == over["sent"]
    assert over["sent"] > 0 and over["admitted"] > 0
    assert over["shed"] == 0 or over["retry_after_present"]
    assert over["admission_limit_after"] == 64  # the static bound, read from the server's /metrics
    assert over["ingest"]["job_state"] == "done"
    assert over["ingest"]["documents_added"] == 5 and over["ingest"]["lost"] == 0
    assert result["direct"]["queries"] == 10 and result["direct"]["qps"] > 0
    plot_bench_serve(result, tmp_path / "serve.png")
    assert (tmp_path / "serve.png").stat().st_size > 10_000
