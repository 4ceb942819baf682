"""Two ``ragline worker`` processes into one Milvus store with the state in PostgreSQL produce the
same store as a plain ``Engine.ingest`` (chunk ids, texts, metadata including ``path``, vectors),
and ``verify`` is clean on both.

Milvus Lite locks its folder to one process, so several workers need a Milvus server: a real
Milvus 2.3.5 (``milvus-server``, the dev extra), which binds every interface, runs in a private
network namespace with the Redis-protocol server and the workers beside it; PostgreSQL (pgserver)
listens on a Unix socket, which the namespace still reaches. A driver reports what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.queues.conftest import _server_binary
from tests.queues.test_redis_worker import _generated
from tests.state.conftest import postgres_server  # noqa: F401 - the session's PostgreSQL
from tests.state.test_engine_postgres import _fresh

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MILVUS_PORT, REDIS_PORT = 19530, 6390

DRIVER = textwrap.dedent('''
    import json, os, subprocess, sys, time
    import numpy as np, redis
    from ragline.engine import Engine
    from ragline.store import open_store

    corpus, plain_state, queued_state = sys.argv[1:4]
    milvus = "milvus://127.0.0.1:%(milvus)d/default?consistency=Strong&collection="
    queue = "redis://127.0.0.1:%(redis)d/0"
    deadline = time.monotonic() + 200
    while True:
        try:
            open_store(milvus + "probe").close()
            redis.Redis.from_url(queue).ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)

    def cli(*args, wait=True):
        process = subprocess.Popen([sys.executable, "-m", "ragline.cli", *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        return process.communicate(timeout=600) + (process.returncode,) if wait else process

    out = {}
    with Engine.open(milvus + "plain", state=plain_state, embedder="hashing:64") as engine:
        report = engine.ingest([corpus])
        out["plain_failed"] = [f.uri for f in report.failed]
        out["plain_verify"] = engine.verify()["drift"]
    stdout, stderr, code = cli("enqueue", corpus, "--queue", queue, "--json")
    out["enqueued"] = json.loads(stdout)["enqueued"] if code == 0 else stderr[-2000:]
    workers = [cli("worker", "--queue", queue, "--store", milvus + "queued", "--state", queued_state,
                   "--embedder", "hashing:64", "--batch", "3", "--exit-when-empty", "--json", wait=False)
               for _ in range(2)]
    results = [w.communicate(timeout=600) for w in workers]
    out["worker_codes"] = [w.returncode for w in workers]
    out["worker_errors"] = [r[1][-2000:] for r, w in zip(results, workers) if w.returncode]
    out["acked"] = sum(json.loads(r[0])["acked"] for r, w in zip(results, workers) if w.returncode == 0)
    with Engine.open(milvus + "queued", state=queued_state, embedder="hashing:64") as engine:
        out["queued_verify"] = engine.verify()

    def snapshot(collection):
        store = open_store(milvus + collection)
        rows = store.client.query(collection, filter='namespace == "default"', limit=16384,
                                  output_fields=["chunk_id", "doc_id", "text", "metadata", "vector"])
        store.close()
        return sorted([r["chunk_id"], r["doc_id"], r["text"], json.dumps(r["metadata"], sort_keys=True),
                       np.round(np.asarray(r["vector"], np.float32), 6).tolist()] for r in rows)

    plain, queued = snapshot("plain"), snapshot("queued")
    out["chunks"] = len(plain)
    out["same"] = plain == queued
    out["same_ids"] = [r[0] for r in plain] == [r[0] for r in queued]
    out["paths"] = sorted({json.loads(r[3]).get("path") for r in queued})
    print("RESULT " + json.dumps(out))
''')


def test_two_workers_into_milvus_with_postgres_state(tmp_path: Path, postgres_server: str) -> None:  # noqa: F811
    server = shutil.which("milvus-server") or str(Path(sys.executable).parent / "milvus-server")
    assert Path(server).exists(), "milvus-server is missing: pip install -e '.[dev]' installs it"
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "good", corpus)
    _generated(corpus / "notes", 8)
    (tmp_path / "driver.py").write_text(DRIVER % {"milvus": MILVUS_PORT, "redis": REDIS_PORT})
    data = tmp_path / "data"
    data.mkdir()
    # Each server is its own process group, stopped as a whole (milvus-server wraps a binary).
    script = (f"ip link set lo up; setsid {server} --data {data} --proxy-port {MILVUS_PORT} "
              f"> {tmp_path}/milvus.log 2>&1 & MILVUS=$!; "
              f"setsid {_server_binary()} --bind 127.0.0.1 --port {REDIS_PORT} --save '' --appendonly no "
              f"--dir {tmp_path} > {tmp_path}/redis.log 2>&1 & REDIS=$!; "
              f"{sys.executable} {tmp_path}/driver.py {corpus} '{_fresh(postgres_server)}' "
              f"'{_fresh(postgres_server)}'; STATUS=$?; kill -- -$MILVUS -$REDIS; "
              "for i in $(seq 50); do kill -0 -- -$MILVUS 2>/dev/null || break; sleep 0.2; done; "
              "kill -9 -- -$MILVUS -$REDIS 2>/dev/null; exit $STATUS")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=900,
                          env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"driver failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["plain_failed"] == [] and out["plain_verify"] == 0
    assert out["enqueued"] == 13 and out["worker_codes"] == [0, 0], out["worker_errors"]
    assert out["acked"] == 13
    assert out["queued_verify"]["drift"] == 0, out["queued_verify"]
    assert out["chunks"] > 13 and out["same_ids"] and out["same"]
    assert "notes/note-000.md" in out["paths"]  # relative to the enqueued folder, as `ingest` names it
