"""A job left queued or running by a server killed outright (SIGKILL) reads as failed/interrupted
once its heartbeat is older than ``job_stale_s``, on a new server over the same store; resubmitting
the same records then leaves every document once with all its chunks."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ragline.bench_serve import running_server
from ragline.serve.jobs import INTERRUPTED, judge_stale

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORDS = "owl heron finch wren lark kite crow swift rook tern gull dove hawk".split()


def _records(n: int) -> list[dict[str, str]]:
    """Distinct texts (no near-duplicates), some long enough for two chunks."""
    out = []
    for i in range(n):
        pick = random.Random(i)
        words = [pick.choice(WORDS) + str(pick.randrange(1000)) for _ in range(60 + 100 * (i % 3 == 0))]
        out.append({"id": f"rec-{i}", "text": " ".join(words) + f" record {i}."})
    return out


def _pid_listening(port: int) -> int:
    """The serve process (workers=1: uvicorn runs in it) owns the listening socket."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            inode = fields[9]
            break
    else:
        raise AssertionError(f"nothing listens on {port}")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return int(pid)
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            continue
    raise AssertionError(f"no process holds the socket on {port}")


def _reference(tmp_path: Path, records: list[dict[str, str]]) -> tuple[int, int]:
    from ragline.engine import Engine
    from ragline.serve.uploads import upload_item

    items = [upload_item("default", r["id"], r["text"].encode()) for r in records]
    with Engine.open(f"local:{tmp_path / 'reference'}", embedder="hashing:384", parse_workers=0) as engine:
        engine.ingest_items(items)
        return len(engine.ledger.all_documents()), engine.store.count()


def _wait(client: httpx.Client, job_id: str, until: tuple[str, ...], timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/v1/jobs/{job_id}").json())["state"] not in until:
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def test_stale_heartbeats_read_as_interrupted():
    running = {"job_id": "j", "state": "running", "created_at": 100.0, "heartbeat_at": 200.0}
    assert judge_stale(running, 30, now=229.0) is running
    failed = judge_stale(running, 30, now=231.0)
    assert failed["state"] == "failed" and failed["error"] == INTERRUPTED and failed["finished_at"] == 200.0
    assert judge_stale({**running, "state": "done"}, 30, now=10_000.0)["state"] == "done"
    assert judge_stale({"state": "queued", "created_at": 100.0}, 30, now=131.0)["state"] == "failed"


def test_a_killed_servers_jobs_are_failed_and_resubmitting_repairs(tmp_path: Path):
    store = f"local:{tmp_path / 'store'}"
    env: dict[str, str | None] = {"RAGLINE_SERVE_JOB_STALE_S": "2", "PYTHONPATH": os.pathsep.join(sys.path),
                                  "PROMETHEUS_MULTIPROC_DIR": None}
    records = _records(3000)
    with running_server(store, embedder="hashing:384", log=tmp_path / "serve1.log", ready_timeout=60,
                        env=env) as base, httpx.Client(base_url=base, timeout=60) as client:
        first = client.post("/v1/documents", json={"records": records[:2000]})
        queued = client.post("/v1/documents", json={"records": records[2000:]})
        assert first.status_code == queued.status_code == 202, first.text
        first_id, queued_id = first.json()["job_id"], queued.json()["job_id"]
        deadline = time.monotonic() + 120
        while (job := client.get(f"/v1/jobs/{first_id}").json())["progress"].get("written", 0) == 0:
            assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.02)
        os.kill(_pid_listening(int(base.rsplit(":", 1)[1])), signal.SIGKILL)
        assert job["state"] == "running" and job["progress"]["written"] < 2000, job
        assert job["heartbeat_at"] is not None and job["interrupted"] is False
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):
            client.get("/healthz")

    with running_server(store, embedder="hashing:384", log=tmp_path / "serve2.log", ready_timeout=60,
                        env=env) as base, httpx.Client(base_url=base, timeout=60) as client:
        for job_id in (first_id, queued_id):  # swept at startup, or judged when read: failed either way
            job = _wait(client, job_id, ("failed",), timeout=10)
            assert job["error"] == INTERRUPTED and job["interrupted"] is True, job
        partial = client.get("/v1/stats").json()
        assert partial["documents"] < len(records), partial
        again = [client.post("/v1/documents", json={"records": records[s:s + 1000]}).json()["job_id"]
                 for s in range(0, len(records), 1000)]
        for job_id in again:
            job = _wait(client, job_id, ("done", "failed"))
            assert job["state"] == "done", job
        stats = client.get("/v1/stats").json()
        assert stats["duplicates"] == 0, stats
        # As many documents and chunks as one uninterrupted ingest of the same records makes.
        assert (stats["documents"], stats["chunks"]) == _reference(tmp_path, records), stats
        for i in (0, 1999, 2999):
            hits = client.post("/v1/search", json={"query": records[i]["text"], "k": 3, "mode": "bm25"}).json()
            assert hits["hits"][0]["source"].startswith(f"upload://default/rec-{i}?"), hits
    verify = subprocess.run([sys.executable, "-m", "ragline.cli", "verify", "--store", store, "--embedder",
                             "hashing:384", "--json"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    print(verify.stdout[-2000:])
    assert verify.returncode == 0, verify.stdout + verify.stderr
