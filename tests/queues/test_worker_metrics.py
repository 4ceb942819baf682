"""The queue worker's metrics and logs against a real Redis-protocol server: documents by outcome,
chunks, tokens, stage busy time, queue depth and lag, dead letters, exposed by
`ragline worker --metrics-port` and logged as JSON lines with `--log-json`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import FIXTURES
from tests.queues.conftest import _free_port

from ragline.queues import open_queue
from ragline.queues.worker import observe_backlog, run_worker

EMBEDDER = "hashing:64"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "good", corpus)
    poison = corpus / "poison.pdf"
    shutil.copy(FIXTURES / "bad" / "corrupt.pdf", poison)
    return corpus, poison


def test_worker_records_ingestion_metrics_and_backlog(queue_uri: str, tmp_path: Path) -> None:
    from ragline.engine import Engine

    corpus, poison = _corpus(tmp_path)
    files = sorted(str(p) for p in corpus.iterdir())
    queue = open_queue(queue_uri)
    stream = queue.name  # type: ignore[attr-defined]
    before = {"new": _value("ragline_documents_total", outcome="new"),
              "failed": _value("ragline_documents_total", outcome="failed"),
              "chunks": _value("ragline_chunks_total"), "tokens": _value("ragline_tokens_embedded_total"),
              "parse_dead": _value("ragline_dead_letters_total", stage="parse"),
              "queue_dead": _value("ragline_dead_letters_total", stage="queue"),
              "busy": sum(_value("ragline_stage_busy_seconds_total", stage=s) for s in ("parse", "embed", "write"))}
    try:
        queue.publish(files)
        time.sleep(0.3)
        observe_backlog(queue)
        assert _value("ragline_queue_depth", queue=stream) == len(files)
        assert 0.25 <= _value("ragline_queue_lag_seconds", queue=stream) < 30
        with Engine.open(f"local:{tmp_path / 'store'}", embedder=EMBEDDER, parse_workers=0) as engine:
            stats = run_worker(queue, engine, consumer="w", max_deliveries=1, idle_ms=50, batch=3,
                               exit_when_empty=True)
            chunks = engine.stats()["chunks"]
    finally:
        queue.close()
    counters = {k: stats.to_dict()[k] for k in ("acked", "retried", "dead")}
    assert counters == {"acked": len(files) - 1, "retried": 0, "dead": 1}
    # records.jsonl holds several records: each is a document, so count what the store has.
    assert _value("ragline_documents_total", outcome="new") - before["new"] >= len(files) - 1
    assert _value("ragline_documents_total", outcome="failed") - before["failed"] == 1
    assert _value("ragline_chunks_total") - before["chunks"] == chunks
    assert _value("ragline_tokens_embedded_total") - before["tokens"] > chunks  # chunks hold tokens
    busy = sum(_value("ragline_stage_busy_seconds_total", stage=s) for s in ("parse", "embed", "write"))
    assert busy > before["busy"]
    assert _value("ragline_dead_letters_total", stage="parse") - before["parse_dead"] == 1
    assert _value("ragline_dead_letters_total", stage="queue") - before["queue_dead"] == 1
    assert _value("ragline_queue_depth", queue=stream) == 0  # drained
    assert _value("ragline_queue_lag_seconds", queue=stream) == 0


@pytest.mark.integration
def test_cli_worker_exposes_metrics_and_logs_json(queue_uri: str, tmp_path: Path) -> None:
    corpus, poison = _corpus(tmp_path)
    queue = open_queue(queue_uri)
    try:
        queue.publish(sorted(str(p) for p in corpus.iterdir()))
    finally:
        queue.close()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ragline.cli", "--log-json", "worker", "--queue", queue_uri, "--store",
         f"local:{tmp_path / 'store'}", "--embedder", EMBEDDER, "--max-deliveries", "1", "--idle-ms", "100",
         "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    samples: dict[tuple[str, tuple], float] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                time.sleep(0.2)
                continue
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for family in text_string_to_metric_families(text) for s in family.samples}
            if samples.get(("ragline_dead_letters_total", (("stage", "queue"),)), 0) >= 1 and \
                    samples.get(("ragline_queue_depth", (("queue", queue_uri.split("stream=")[1]),)), -1) == 0:
                break
            time.sleep(0.3)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert samples.get(("ragline_documents_total", (("outcome", "new"),)), 0) >= 5
    assert samples.get(("ragline_documents_total", (("outcome", "failed"),)), 0) == 1
    assert samples.get(("ragline_chunks_total", ()), 0) > 0
    assert samples.get(("ragline_queue_depth", (("queue", queue_uri.split("stream=")[1]),)), -1) == 0
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    [dead] = [line for line in lines if line.get("event") == "dead_letter"]
    assert dead["level"] == "WARNING" and dead["logger"] == "ragline.worker"
    assert dead["source"] == str(poison) and dead["deliveries"] == 1 and "parse" in dead["error"]
    assert dead["request_id"].startswith(dead["consumer"] + "/") and dead["time"].endswith("Z")


def test_the_worker_request_id_does_not_leak_to_its_caller(queue_uri: str, tmp_path: Path) -> None:
    from ragline.engine import Engine
    from ragline.logs import request_id

    corpus, _ = _corpus(tmp_path)
    queue = open_queue(queue_uri)
    try:
        queue.publish([str(corpus / "bsd-license.txt")])
        with Engine.open(f"local:{tmp_path / 'store'}", embedder=EMBEDDER, parse_workers=0) as engine:
            stats = run_worker(queue, engine, consumer="w", exit_when_empty=True)
    finally:
        queue.close()
    assert stats.acked == 1
    assert request_id.get() is None
