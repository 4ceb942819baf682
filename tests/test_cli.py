from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def ragline(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "ragline.cli", *args], capture_output=True, text=True,
                            env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_ingest_search_stats_verify_with_the_real_model(tmp_path):
    from tests.conftest import SAMPLES

    store = f"local:{tmp_path / 'store'}"
    report = json.loads(ragline("ingest", str(SAMPLES), "--store", store, "--json").stdout)
    assert report["documents"]["new"] >= 40 and not report["failed"]
    assert report["chunks_written"] == report["chunks_embedded"] > 50
    hits = json.loads(ragline("search", "how do I sort a list by a key function", "--store", store,
                              "--json", "-k", "3").stdout)
    assert hits[0]["uri"].endswith("sorting-howto.pdf") and hits[0]["page"] is not None
    hits = json.loads(ragline("search", "copy module shallow and deep copy", "--store", store, "--json",
                              "--mode", "dense", "--filter", "kind=html").stdout)
    assert hits and all(h["uri"].endswith(".html") for h in hits)
    assert hits[0]["uri"].endswith("library-copy.html")
    again = json.loads(ragline("ingest", str(SAMPLES), "--store", store, "--json").stdout)
    assert again["chunks_embedded"] == 0 and again["documents"]["unchanged"] == sum(report["documents"].values())
    stats = json.loads(ragline("stats", "--store", store, "--json").stdout)
    assert stats["chunks"] == report["chunks_written"]
    assert '"drift": 0' in ragline("verify", "--store", store, "--json").stdout
    human = ragline("search", "Zen of Python", "--store", store).stdout
    assert "zen-of-python.txt" in human


def test_exit_codes(tmp_path):
    from tests.conftest import FIXTURES

    store = f"local:{tmp_path / 'store'}"
    ok = ragline("ingest", str(FIXTURES / "bad"), "--store", store, "--embedder", "hashing:64")
    assert "encrypted PDF" in ok.stdout
    strict = ragline("ingest", str(FIXTURES / "bad"), "--store", store, "--embedder", "hashing:64",
                     "--strict", check=False)
    assert strict.returncode == 1
    missing = ragline("ingest", str(tmp_path / "nope"), "--store", store, check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    usage = ragline("search", check=False)
    assert usage.returncode == 2
    bad_mode = ragline("search", "x", "--mode", "fuzzy", "--store", store, "--embedder", "hashing:64",
                       check=False)
    assert bad_mode.returncode == 2 and "unknown search mode" in bad_mode.stderr
    ragline("ingest", str(FIXTURES / "good"), "--store", store, "--embedder", "hashing:64")
    other_model = ragline("ingest", str(FIXTURES / "good"), "--store", store, "--embedder", "hashing:32",
                          check=False)
    assert other_model.returncode == 2 and "built with embedder" in other_model.stderr


def test_cache_is_shared_across_namespaces_and_can_be_cleared(tmp_path):
    from tests.conftest import FIXTURES

    store = f"local:{tmp_path / 'store'}"
    good = str(FIXTURES / "good")
    first = json.loads(ragline("ingest", good, "--store", store, "--embedder", "hashing:64", "--json").stdout)
    assert first["chunks_embedded"] > 0 and first["cache_hit_rate"] == 0
    other = json.loads(ragline("ingest", good, "--store", store, "--embedder", "hashing:64",
                               "--namespace", "other", "--json").stdout)
    assert other["chunks_embedded"] == 0 and other["cache_hits"] == first["chunks_embedded"]
    assert other["cache_hit_rate"] == 1.0
    stats = json.loads(ragline("cache", "stats", "--store", store, "--embedder", "hashing:64", "--json").stdout)
    assert stats["entries"] == first["chunks_embedded"]
    assert [m["entries"] for m in stats["models"]] == [first["chunks_embedded"]]
    assert stats["lifetime_hits"] == other["cache_hits"] and stats["lifetime_hit_rate"] == 0.5
    cleared = json.loads(ragline("cache", "clear", "--store", store, "--embedder", "hashing:64", "--json").stdout)
    assert cleared["removed"] == first["chunks_embedded"]
    third = json.loads(ragline("ingest", good, "--store", store, "--embedder", "hashing:64",
                               "--namespace", "third", "--json").stdout)
    assert third["chunks_embedded"] == first["chunks_embedded"]  # nothing left to hit


def test_multivector_ingest_rerank_and_cache_stats(tmp_path):
    from tests.conftest import FIXTURES

    store = f"local:{tmp_path / 'store'}"
    common = ("--store", store, "--embedder", "hashing:64")
    ragline("ingest", str(FIXTURES / "good"), *common)
    no_tokens = ragline("search", "license", *common, "--rerank", "maxsim", check=False)
    assert no_tokens.returncode == 2 and "--multivector" in no_tokens.stderr
    ragline("ingest", str(FIXTURES / "good"), *common, "--multivector")   # backfills unchanged files
    plain = json.loads(ragline("search", "license", *common, "--json", "-k", "8", "--mode", "bm25").stdout)
    reranked = json.loads(ragline("search", "license", *common, "--json", "-k", "8", "--mode", "bm25",
                                  "--rerank", "maxsim", "--rerank-depth", "8").stdout)
    assert sorted(h["chunk_id"] for h in reranked) == sorted(h["chunk_id"] for h in plain)
    assert all("maxsim" in h["ranks"] for h in reranked)
    stats = json.loads(ragline("stats", *common, "--json").stdout)
    assert stats["multivector_chunks"] == stats["chunks"] > 0
    for key in ("query_cache_hit_rate", "result_cache_hits", "result_cache_misses", "result_cache_hit_rate"):
        assert key in stats
