"""Smoke test against a real Milvus 2.3 server (``milvus-server`` from the ``milvus`` package, in
the dev extra). The server binds every interface, so it runs in a private network namespace
(``unshare -n``) with its client beside it; the client reports what it saw as JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ragline.testing.store import FILTER_CASES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT = 19530

CLIENT = textwrap.dedent('''
    import json, sys, time
    from ragline.errors import QueryError
    from ragline.store import open_store
    from ragline.testing.store import FILTER_CASES, FILTER_DOCS, make_chunks, vectors_for

    uri = "milvus://127.0.0.1:%d/default?consistency=Strong"
    deadline = time.monotonic() + 150
    while True:
        try:
            store = open_store(uri, "smoke")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    out = {"stats_before": store.stats()}
    a = make_chunks("file:///a.txt", ["the cat sat on the mat", "dogs chase cats in the park"], kind="txt")
    b = make_chunks("file:///b.pdf", ["aerodynamic heating", "boundary layer transition"], kind="pdf", page=3)
    out["new"] = store.upsert(a + b, vectors_for(a + b))
    out["again"] = store.upsert(a, vectors_for(a))
    out["count"] = store.count()
    out["self_hits"] = [store.search_vector(v, 1)[0].chunk.chunk_id == c.chunk_id
                        for c, v in zip(a + b, vectors_for(a + b))]
    out["get_round_trip"] = store.get([b[1].chunk_id]) == [b[1]]
    out["pdf_only"] = sorted(h.chunk.chunk_id for h in store.search_vector(vectors_for(a)[0], 10, {"kind": "pdf"}))
    out["pdf_ids"] = sorted(c.chunk_id for c in b)
    try:
        store.search_text("cats", 5)
        out["text"] = "answered"
    except QueryError as exc:
        out["text"] = str(exc)
    out["deleted"] = store.delete([a[0].doc_id])
    out["deleted_chunks"] = store.delete_chunks([b[0].chunk_id, "missing"])
    out["count_after"] = store.count()
    docs = {name: make_chunks(u, [t], **m)[0] for name, (u, t, m) in FILTER_DOCS.items()}
    with store.transaction():
        store.upsert(list(docs.values()), vectors_for(list(docs.values())))
    name_of = {c.chunk_id: n for n, c in docs.items()}
    query = vectors_for([docs["a"]])[0]
    out["filters"] = ["".join(sorted(name_of[h.chunk.chunk_id] for h in store.search_vector(query, 10, where)
                                     if h.chunk.chunk_id in name_of)) for where, _ in FILTER_CASES]
    store.flush()
    store.close()
    again = open_store(uri, "smoke")
    out["count_reopened"] = again.count()
    out["stats"] = again.stats()
    again.close()
    print("RESULT " + json.dumps(out))
''')


def test_milvus_2_3_server_smoke(tmp_path):
    server = shutil.which("milvus-server") or str(Path(sys.executable).parent / "milvus-server")
    assert Path(server).exists(), "milvus-server is missing: pip install -e '.[dev]' installs it"
    (tmp_path / "client.py").write_text(CLIENT % PORT)
    data = tmp_path / "data"
    data.mkdir()
    # milvus-server is a wrapper that starts the `milvus` binary: run it as its own process group
    # and stop the whole group, or the binary outlives the test.
    script = (f"ip link set lo up; setsid {server} --data {data} --proxy-port {PORT} > {tmp_path}/server.log 2>&1 & "
              f"SERVER=$!; {sys.executable} {tmp_path}/client.py; STATUS=$?; kill -- -$SERVER; "
              "for i in $(seq 50); do kill -0 -- -$SERVER 2>/dev/null || break; sleep 0.2; done; "
              "kill -9 -- -$SERVER 2>/dev/null; exit $STATUS")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=400,
                          env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"client failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["stats_before"]["server"].startswith("v2.3")
    assert (out["new"], out["again"], out["count"]) == (4, 0, 4)
    assert all(out["self_hits"]) and out["get_round_trip"]
    assert out["pdf_only"] == out["pdf_ids"]
    assert "no full-text search" in out["text"]
    assert (out["deleted"], out["deleted_chunks"], out["count_after"]) == (2, 1, 1)
    assert out["filters"] == [expected for _, expected in FILTER_CASES]
    assert out["count_reopened"] == 5
    assert out["stats"]["full_text"] is False and out["stats"]["server_hybrid"] is False
