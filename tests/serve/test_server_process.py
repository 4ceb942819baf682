"""``ragline serve --workers 2`` as a real process: upload -> job done -> search -> delete, and an
upload over the size limit refused while it streams."""

from __future__ import annotations

import os
import select
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from ragline.bench_serve import running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture()
def server(tmp_path: Path):
    env: dict[str, str | None] = {"RAGLINE_SERVE_API_KEYS": "key-a=alpha,key-b=beta",
                                  "RAGLINE_SERVE_MAX_UPLOAD_BYTES": str(2**20),
                                  "PYTHONPATH": os.pathsep.join(sys.path), "PROMETHEUS_MULTIPROC_DIR": None}
    with running_server(f"local:{tmp_path / 'store'}", embedder="hashing:384", workers=2,
                        log=tmp_path / "serve.log", ready_timeout=60, env=env, auth=True) as base:
        yield base, int(base.rsplit(":", 1)[1])


def test_upload_search_delete_across_two_workers(server):
    base, _ = server
    a, b = {"Authorization": "Bearer key-a"}, {"Authorization": "Bearer key-b"}
    with httpx.Client(base_url=base, timeout=30) as client:
        files = [("files", ("owls.md", b"# Owls\n\nOwls hunt at night and swallow their prey whole.")),
                 ("files", ("../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash"))]
        accepted = client.post("/v1/documents", files=files, headers=a)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        # The name is a name: percent-encoded in the uri, never a path.
        assert any(d["uri"].startswith("upload://alpha/..%2F..%2Fetc%2Fpasswd") for d in body["documents"])
        deadline = time.monotonic() + 60
        while (job := client.get(f"/v1/jobs/{body['job_id']}", headers=a).json())["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["state"] == "done" and job["report"]["documents"]["new"] == 2, job
        assert client.get(f"/v1/jobs/{body['job_id']}", headers=b).status_code == 404
        for _ in range(4):  # whichever worker answers
            hits = client.post("/v1/search", json={"query": "owls hunt at night", "k": 3}, headers=a).json()["hits"]
            assert hits[0]["source"] == "upload://alpha/owls.md"
            assert client.post("/v1/search", json={"query": "owls hunt at night"}, headers=b).json()["hits"] == []
        owl = next(d for d in body["documents"] if d["name"] == "owls.md")
        assert client.delete(f"/v1/documents/{owl['doc_id']}", headers=b).status_code == 404
        assert client.delete(f"/v1/documents/{owl['doc_id']}", headers=a).status_code == 200
        for _ in range(4):
            assert client.get(f"/v1/documents/{owl['doc_id']}", headers=a).status_code == 404
            hits = client.post("/v1/search", json={"query": "owls hunt at night", "mode": "bm25"}, headers=a).json()
            assert all(h["doc_id"] != owl["doc_id"] for h in hits["hits"])
        metrics = client.get("/metrics").text
        assert "ragline_requests_total" in metrics and 'route="/v1/search"' in metrics


def test_an_oversized_upload_is_refused_while_it_streams(server):
    _, port = server
    total, piece = 64 * 2**20, b"x" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer key-a\r\n"
                     b"Content-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n")
        part = (b'--B\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
                b"Content-Type: text/plain\r\n\r\n")
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        sent, answer = 0, b""
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer and (data := sock.recv(65536)):
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"payload_too_large" in answer or b"\r\n\r\n" in answer
    print(f"413 after the client sent {sent} of {total} bytes")
    # The server answered long before the client got through its 64 MiB (limit: 1 MiB).
    assert sent < total // 4, sent

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer key-a\r\n"
                     b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 104857600\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")  # from Content-Length alone, no body sent
