"""Redis Streams workers against a real server (tests/queues/conftest.py): queued ingestion gives
exactly the local engine's store, a worker killed with SIGKILL loses and duplicates nothing, and a
poison item goes to the dead letters after N deliveries without holding anything back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import FIXTURES

from ragline.queues import open_queue
from ragline.queues.base import Message

EMBEDDER = "hashing:64"
pytestmark = pytest.mark.integration


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "ragline.cli", *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result


def _worker(queue: str, store: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ragline.cli", "worker", "--queue", queue, "--store",
                             f"local:{store}", "--embedder", EMBEDDER, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return stdout


def _snapshot(store: Path) -> tuple[list[tuple], list[tuple]]:
    """Chunks (ids, text, spans, metadata including the ``path`` relative to the enqueued folder,
    vectors) and documents."""
    with sqlite3.connect(store / "ragline.db") as db:
        chunks = sorted(db.execute("SELECT chunk_id, doc_id, idx, text, start, end, metadata, vector FROM chunks"))
        docs = sorted(db.execute("SELECT doc_id, uri, version, chunk_ids, duplicate_of FROM documents"))
    return chunks, docs


def _plain_ingest(paths: list[Path], store: Path) -> tuple[list[tuple], list[tuple]]:
    from ragline.engine import Engine

    with Engine.open(f"local:{store}", embedder=EMBEDDER) as engine:
        report = engine.ingest(paths)
    assert not report.failed
    return _snapshot(store)


def _verify_clean(store: Path) -> None:
    from ragline.engine import Engine

    with Engine.open(f"local:{store}", embedder=EMBEDDER, create_store=False) as engine:
        result = engine.verify()
    assert not result["drift"], result


def _generated(root: Path, n: int) -> Path:
    root.mkdir()
    for i in range(n):
        words = " ".join(f"topic{i} word{(i * 7 + j) % 97} item{j}" for j in range(60))
        (root / f"note-{i:03d}.md").write_text(f"# Note {i}\n\n{words}\n", encoding="utf-8")
    return root


def test_queue_semantics(queue_uri: str) -> None:
    """Deliveries count every XAUTOCLAIM; dead letters keep the error and attempts; replay and drop."""
    queue = open_queue(queue_uri)
    try:
        ids = queue.publish(["/data/a.txt", "/data/b.txt"])
        first = queue.receive("w1", 10, block_ms=0, idle_ms=60_000)
        assert [(m.id, m.source, m.deliveries) for m in first] == [(ids[0], "/data/a.txt", 1),
                                                                   (ids[1], "/data/b.txt", 1)]
        assert queue.receive("w2", 10, block_ms=0, idle_ms=60_000) == []  # held by w1, not idle yet
        queue.ack(ids[1])
        queue.record_error(ids[0], "parse: broken")
        time.sleep(0.05)
        again = queue.receive("w2", 10, block_ms=0, idle_ms=10)  # w1 'died': reclaimed
        assert again == [Message(ids[0], "/data/a.txt", 2)]
        assert queue.pending() == 1
        queue.dead_letter(again[0])
        assert queue.pending() == 0
        [letter] = queue.dead_letters()
        assert (letter.source, letter.error, letter.attempts, letter.original_id) == (
            "/data/a.txt", "parse: broken", 2, ids[0])
        assert queue.replay([letter.id]) == 1 and queue.dead_letters() == []
        [replayed] = queue.receive("w3", 10, block_ms=0, idle_ms=60_000)
        assert (replayed.source, replayed.deliveries) == ("/data/a.txt", 1)
        queue.dead_letter(replayed, "gone")
        assert queue.drop() == 1 and queue.dead_letters() == []
    finally:
        queue.close()


def test_two_workers_build_the_local_engines_store(queue_uri: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "good", corpus)
    _generated(corpus / "notes", 12)
    expected = _plain_ingest([corpus], tmp_path / "plain")

    enqueued = json.loads(_cli("enqueue", str(corpus), "--queue", queue_uri, "--json").stdout)
    assert enqueued["enqueued"] == 17
    store = tmp_path / "queued"
    workers = [_worker(queue_uri, store, "--exit-when-empty", "--batch", "3", "--json") for _ in range(2)]
    stats = [json.loads(_finish(w)) for w in workers]
    assert sum(s["acked"] for s in stats) == 17 and all(s["dead"] == 0 for s in stats)
    assert _snapshot(store) == expected
    _verify_clean(store)


@pytest.mark.slow
def test_killed_worker_loses_and_duplicates_nothing(queue_uri: str, tmp_path: Path) -> None:
    corpus = _generated(tmp_path / "corpus", 80)
    expected = _plain_ingest([corpus], tmp_path / "plain")
    _cli("enqueue", str(corpus), "--queue", queue_uri)
    store = tmp_path / "queued"

    victim = _worker(queue_uri, store, "--batch", "4", "--consumer", "victim")
    queue = open_queue(queue_uri)
    try:
        deadline = time.monotonic() + 120
        while not queue.pending():  # it has claimed a batch and not acknowledged it yet
            assert victim.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=60)
        assert queue.pending() > 0  # items died with it, unacknowledged

        survivor = _worker(queue_uri, store, "--exit-when-empty", "--idle-ms", "300", "--json")
        stats = json.loads(_finish(survivor))
        assert stats["dead"] == 0 and queue.pending() == 0 and queue.dead_letters() == []
    finally:
        queue.close()
    assert _snapshot(store) == expected
    _verify_clean(store)


@pytest.mark.slow
def test_poison_item_goes_to_dead_letters_and_replays_after_a_fix(queue_uri: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "good", corpus)
    poison = corpus / "poison.pdf"
    shutil.copy(FIXTURES / "bad" / "corrupt.pdf", poison)
    _cli("enqueue", str(corpus), "--queue", queue_uri)
    store = tmp_path / "queued"

    stats = json.loads(_finish(_worker(queue_uri, store, "--exit-when-empty", "--max-deliveries", "3",
                                       "--idle-ms", "200", "--batch", "2", "--json")))
    assert (stats["acked"], stats["retried"], stats["dead"]) == (5, 2, 1)
    [letter] = json.loads(_cli("dlq", "list", "--queue", queue_uri, "--json").stdout)
    assert letter["source"] == str(poison.resolve()) and letter["attempts"] == 3
    assert "parse" in letter["error"]
    good = _plain_ingest([FIXTURES / "good"], tmp_path / "plain-good")
    assert len(_snapshot(store)[0]) == len(good[0])  # everything else went in

    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(poison))
    pdf.drawString(72, 720, "The fixed document talks about zebras crossing the savanna at dawn.")
    pdf.save()
    assert "replayed 1" in _cli("dlq", "replay", "--queue", queue_uri).stdout
    stats = json.loads(_finish(_worker(queue_uri, store, "--exit-when-empty", "--json")))
    assert (stats["acked"], stats["retried"], stats["dead"]) == (1, 0, 0) and stats["documents"]["new"] == 1
    assert json.loads(_cli("dlq", "list", "--queue", queue_uri, "--json").stdout) == []
    uris = {uri for _, uri, *_ in _snapshot(store)[1]}
    assert poison.resolve().as_uri() in uris
    _verify_clean(store)


def test_unreadable_reference_is_dead_lettered_in_process(queue_uri: str, tmp_path: Path) -> None:
    """A reference that cannot be read at all (the file is gone) fails its delivery without failing
    the rest of its batch, is retried, and lands in the dead letters with the error."""
    from ragline.engine import Engine
    from ragline.queues.worker import run_worker

    corpus = _generated(tmp_path / "corpus", 3)
    missing = tmp_path / "gone.txt"
    queue = open_queue(queue_uri)
    try:
        queue.publish([str(corpus / "note-000.md"), str(missing), str(corpus / "note-001.md"),
                       (corpus / "note-002.md").as_uri()])
        with Engine.open(f"local:{tmp_path / 'store'}", embedder=EMBEDDER, parse_workers=0) as engine:
            stats = run_worker(queue, engine, consumer="w", max_deliveries=2, idle_ms=50, batch=10,
                               exit_when_empty=True)
            documents = engine.stats()["documents"]
        assert (stats.acked, stats.retried, stats.dead) == (3, 1, 1)
        assert stats.documents["new"] == 3 and stats.stage_seconds["write"] > 0  # summed ingest reports
        [letter] = queue.dead_letters()
        assert letter.source == str(missing) and letter.attempts == 2
        assert "does not exist" in letter.error
        assert documents == 3 and queue.pending() == 0
    finally:
        queue.close()
