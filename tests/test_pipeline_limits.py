"""Memory is bounded per document: hostile inputs fail as too_large (report, --json, dead letters),
and ingesting a folder of them keeps the whole process tree's peak RSS under a stated figure."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.parse.pdfgen import make_pdf
from tests.parse.test_pdf import dense_page

# The stated bound for the hostile folder below, with the default (ONNX MiniLM) embedder and two
# parse worker processes: parent + workers, sampled every 20 ms.
PEAK_RSS_LIMIT = int(1.5 * 2**30)


def test_too_large_documents_are_failures_with_a_clear_reason(tmp_path, engine_factory):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bomb.pdf").write_bytes(make_pdf([dense_page(100)] * 50))       # ~5M characters, ~2 KiB
    (docs / "line.txt").write_bytes(b"0123456789abcdef" * 20_000)           # one 320k-character line
    (docs / "ok.md").write_text("# Fine\n\nA small document about basalt.\n")
    (docs / "records.jsonl").write_text(json.dumps({"id": "big", "text": "word " * 100_000}) + "\n"
                                        + json.dumps({"id": "small", "text": "lava"}) + "\n")
    with engine_factory(max_doc_chars=200_000) as engine:
        report = engine.ingest([docs])
        dead = {uri.rsplit("/", 1)[-1]: reason for uri, _stage, reason in engine.ledger.dead_letters()}
    failed = {f.uri.rsplit("/", 1)[-1]: f.reason for f in report.failed}
    assert set(failed) == {"bomb.pdf", "line.txt", "records.jsonl#big"}
    assert set(dead) == {"bomb.pdf", "line.txt"}  # JSONL record failures are not dead-lettered (yet)
    assert all(reason.startswith("too_large: ") for reason in dead.values())
    # a JSONL record's reason names its line first ("line 1: too_large: ...")
    assert all(reason.split(": ", 1)[-1 if reason.startswith("line ") else 0].startswith("too_large")
               and "raise --max-doc-chars" in reason for reason in failed.values())
    assert failed["records.jsonl#big"].startswith("line 1: too_large: ")
    assert "by page 3 of 50" in failed["bomb.pdf"]  # ~97k characters a page: stopped at the third
    assert report.counts["new"] == 2                       # ok.md and records.jsonl#small
    assert [f["reason"] for f in report.to_dict()["failed"]] == [f.reason for f in report.failed]


class PeakRss:
    """Peak resident memory of one process (default: this one) and all its descendants, sampled
    in a thread."""

    def __init__(self, pid: int | None = None, interval: float = 0.02):
        self.pid, self.interval, self.peak, self._stop = pid, interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        root = psutil.Process(self.pid)
        while not self._stop.is_set():
            total = 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for process in tree:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def hostile_folder(root: Path) -> Path:
    root.mkdir()
    # sorted first, so the parse pool is running when the big files come
    lines = [json.dumps({"id": f"r{i}", "text": f"Record {i % 200} about lava, basalt and tides. " * 4})
             for i in range(6000)]
    (root / "a-many-records.jsonl").write_text("\n".join(lines) + "\n")
    (root / "bomb.pdf").write_bytes(make_pdf([dense_page(300)] * 400))       # ~120M characters in ~5 KiB
    (root / "one-page-bomb.pdf").write_bytes(make_pdf([dense_page(1500)]))  # 1.5M characters on one page
    (root / "huge-line.txt").write_bytes(b"0123456789abcdef" * (15 * 2**20 // 16))  # 15 MiB, no spaces
    (root / "hex-blob.txt").write_bytes(b"deadbeef" * (4 * 2**20 // 8))    # 4 MiB: one [UNK] token
    (root / "huge.md").write_bytes(b"# Big\n\n" + b"Basalt lava flows over the plain. " * 330_000)  # 11M chars
    (root / "deep.html").write_bytes(b"<html><body>" + b"<div>" * 20_000 + b"deep text" + b"</div>" * 20_000
                                     + b"</body></html>")
    (root / "big.html").write_bytes(b"<html><body>" + b"<p>lava flows over basalt plains today</p>\n" * 60_000
                                    + b"</body></html>")
    return root


# Run in a fresh interpreter, so the figure is the ingest's own, not whatever the test session
# (its models, its earlier tests' caches, servers it started) already holds.
_INGEST_SCRIPT = """
import json, sys
from ragline.engine import Engine
with Engine.open("local:" + sys.argv[2], parse_workers=2) as engine:
    report = engine.ingest([sys.argv[1]])
print(json.dumps({"counts": report.counts, "parse_workers": report.pipeline["parse_workers"],
                  "failed": {f.uri.rsplit("/", 1)[-1]: f.reason for f in report.failed}}))
"""


@pytest.mark.slow
def test_hostile_folder_keeps_the_process_trees_peak_rss_bounded(tmp_path, capsys):
    import os
    import subprocess
    import sys

    folder = hostile_folder(tmp_path / "hostile")
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", _INGEST_SCRIPT, str(folder), str(tmp_path / "store")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    with PeakRss(child.pid) as rss:
        out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    failed, counts = result["failed"], result["counts"]
    with capsys.disabled():
        print(f"\nhostile folder: peak RSS of the process tree {rss.peak / 2**20:.0f} MiB "
              f"(limit {PEAK_RSS_LIMIT / 2**20:.0f} MiB), {time.perf_counter() - started:.0f} s, "
              f"documents {counts}, failed: {sorted(failed)}")
    assert {"bomb.pdf", "huge-line.txt", "huge.md"} <= set(failed)
    assert all(failed[name].startswith("too_large: ") for name in ("bomb.pdf", "huge-line.txt", "huge.md"))
    assert result["parse_workers"] == 2
    assert counts["new"] + counts["duplicate"] >= 6000
    assert rss.peak < PEAK_RSS_LIMIT
