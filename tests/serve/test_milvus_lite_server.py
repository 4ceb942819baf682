"""``ragline serve --store milvus-lite:PATH`` as a real process: JSON records in through
``POST /v1/documents``, dense/bm25/hybrid search (with a filter), a delete that leaves search and
stats, two tenants apart, and everything still there after a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ragline.bench_serve import running_server

pytest.importorskip("milvus_lite")
pytestmark = [pytest.mark.integration, pytest.mark.slow]

A, B = {"Authorization": "Bearer key-a"}, {"Authorization": "Bearer key-b"}
TOPICS = ["owls hunt small rodents at night", "herons wade in shallow water for fish",
          "finches crack seeds with short beaks", "kites hover over open fields",
          "swifts sleep while flying for months"]
RECORDS = [{"id": f"bird-{i}", "title": f"Bird {i}", "text": f"{topic}. Field note {i} of the survey.",
            "metadata": {"lang": "en" if i % 2 == 0 else "de"}} for i, topic in enumerate(TOPICS)]
MODES = ("dense", "bm25", "hybrid")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ragline.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "300"})


def _wait(client: httpx.Client, job_id: str, headers: dict[str, str]) -> dict:
    deadline = time.monotonic() + 120
    while (job := client.get(f"/v1/jobs/{job_id}", headers=headers).json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def _search(client: httpx.Client, query: str, mode: str, headers: dict[str, str], **extra) -> list[dict]:
    answer = client.post("/v1/search", json={"query": query, "k": 5, "mode": mode, **extra}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["hits"]


def test_serve_on_milvus_lite(tmp_path: Path):
    store = f"milvus-lite:{tmp_path / 'mv'}"
    env: dict[str, str | None] = {"RAGLINE_SERVE_API_KEYS": "key-a=alpha,key-b=beta",
                                  "PYTHONPATH": os.pathsep.join(sys.path), "PROMETHEUS_MULTIPROC_DIR": None}
    launch = {"embedder": "hashing:384", "ready_timeout": 120, "env": env, "auth": True}
    with running_server(store, log=tmp_path / "serve.log", **launch) as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        accepted = client.post("/v1/documents", json={"records": RECORDS}, headers=A)
        assert accepted.status_code == 202, accepted.text
        job = _wait(client, accepted.json()["job_id"], A)
        assert job["state"] == "done" and job["report"]["documents"]["new"] == len(RECORDS), job
        doc_of = {d["name"]: d["doc_id"] for d in accepted.json()["documents"]}
        for mode in MODES:
            hits = _search(client, "owls hunt rodents at night", mode, A)
            assert hits[0]["doc_id"] == doc_of["bird-0"] and hits[0]["title"] == "Bird 0", (mode, hits)
            assert len(hits) == len(RECORDS) or mode == "bm25", (mode, hits)
            german = _search(client, "birds field note survey", mode, A, filters={"lang": "de"})
            assert german and {h["metadata"]["lang"] for h in german} == {"de"}, (mode, german)
            assert _search(client, "owls hunt rodents at night", mode, B) == []  # another tenant's store
        assert client.get("/v1/stats", headers=A).json()["documents"] == len(RECORDS)
        assert client.get("/v1/stats", headers=B).json()["documents"] == 0

        owl = doc_of["bird-0"]
        assert client.get(f"/v1/documents/{owl}", headers=A).json()["chunks"]
        assert client.delete(f"/v1/documents/{owl}", headers=B).status_code == 404
        deleted = client.delete(f"/v1/documents/{owl}", headers=A)
        assert deleted.status_code == 200 and deleted.json()["chunks_deleted"] >= 1, deleted.text
        assert client.get(f"/v1/documents/{owl}", headers=A).status_code == 404
        for mode in MODES:
            hits = _search(client, "owls hunt rodents at night, field note", mode, A)
            assert owl not in {h["doc_id"] for h in hits} and len(hits) == len(RECORDS) - 1, (mode, hits)
        stats = client.get("/v1/stats", headers=A).json()
        assert stats["documents"] == len(RECORDS) - 1 and stats["chunks"] == len(RECORDS) - 1, stats
        # The server holds the Lite file: another process is told so, not "Open local milvus failed".
        other = _cli("stats", "--store", store, "--embedder", "hashing:384")
        assert other.returncode == 2 and "another process has" in " ".join(other.stdout.split() + other.stderr.split())

    # Several workers cannot share a Lite file: refused before any starts (not N-1 crashed workers).
    several = _cli("serve", "--store", store, "--workers", "2", "--no-auth", "--port", "0", "--embedder", "hashing:384")
    text = " ".join(several.stdout.split() + several.stderr.split())
    assert several.returncode == 2 and "--workers 2 over" in text and "--workers 1" in text, text

    with running_server(store, log=tmp_path / "serve2.log", **launch) as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        stats = client.get("/v1/stats", headers=A).json()
        assert stats["documents"] == stats["chunks"] == len(RECORDS) - 1, stats
        for mode in MODES:
            hits = _search(client, "herons wade in water for fish", mode, A)
            assert hits[0]["doc_id"] == doc_of["bird-1"] and owl not in {h["doc_id"] for h in hits}, (mode, hits)
