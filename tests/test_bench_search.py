"""``ragline ingest --vector-dtype`` and ``ragline bench search``, driven through the CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES, SAMPLES
from tests.test_cli import ragline

pytestmark = pytest.mark.integration


def test_ingest_vector_dtype_is_persisted_and_changed(tmp_path):
    store = f"local:{tmp_path / 'store'}"
    common = ("--store", store, "--embedder", "hashing:64")
    ragline("ingest", str(FIXTURES / "good"), *common, "--vector-dtype", "binary", "--json")
    assert json.loads(ragline("stats", *common, "--json").stdout)["vector_dtype"] == "binary"
    # No option on a re-run keeps the store's dtype; a new one rebuilds the index in it.
    ragline("ingest", str(FIXTURES / "good"), *common, "--json")
    assert json.loads(ragline("stats", *common, "--json").stdout)["vector_dtype"] == "binary"
    ragline("ingest", str(FIXTURES / "good"), *common, "--vector-dtype", "float16", "--json")
    stats = json.loads(ragline("stats", *common, "--json").stdout)
    assert stats["vector_dtype"] == "float16" and stats["ann_vectors"] == stats["chunks"] > 0
    hits = json.loads(ragline("search", "interpreter", *common, "--mode", "dense", "--json").stdout)
    assert hits
    bad = ragline("ingest", str(FIXTURES / "good"), *common, "--vector-dtype", "int4", check=False)
    assert bad.returncode == 2 and "vector dtype" in bad.stderr


@pytest.mark.slow
def test_bench_search_reports_every_dtype(tmp_path, monkeypatch):
    """A small run on the Cranfield sample (40 abstracts, queries = their titles' sentences)."""
    folder = tmp_path / "cranfield"
    folder.mkdir()
    docs = [json.loads(line) for line in (SAMPLES / "data" / "cranfield-40.jsonl").read_text().splitlines()]
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(
        json.dumps({"_id": d["id"], "text": d["title"].rstrip(" .")}) + "\n" for d in docs[:20]))
    monkeypatch.setenv("RAGLINE_CACHE_DIR", str(tmp_path / "cache"))
    result = json.loads(ragline("bench", "search", "--n", "3000", "--queries", "20",
                                "--cranfield", str(folder), "--json").stdout)
    assert set(result["dtypes"]) == {"float32", "float16", "int8", "binary"}
    assert "real all-MiniLM-L6-v2 embeddings" in result["vectors"]
    for row in result["dtypes"].values():
        assert 0.0 <= row["recall_at_10"] <= 1.0 and row["p50_ms"] > 0 and row["raw_faiss_p50_ms"] > 0
        assert row["bytes_per_vector"] > 0 and row["batch_qps_2_threads"] > 0
    assert result["dtypes"]["float32"]["bytes_per_vector"] > result["dtypes"]["binary"]["bytes_per_vector"]
    assert result["dtypes"]["binary"]["recall_at_10"] > result["dtypes"]["binary"]["recall_at_10_no_rescore"]
    assert "hybrid_p50_ms" in result["dtypes"][result["default_dtype"]]
