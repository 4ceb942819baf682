"""Crash safety: SIGKILL the ingest at different points, re-run, and compare with a clean run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from tests.conftest import ragline_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMBEDDER = "hashing:64"


def ingest(corpus: Path, store: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
    return ragline_cli("ingest", str(corpus), "--store", f"local:{store}", "--embedder", EMBEDDER, "--json",
                       "--max-tokens", "48", "--overlap", "8", "--batch-chunks", "32", crash_at=crash_at)


def snapshot(store: Path) -> tuple[list[tuple], list[tuple], int]:
    with sqlite3.connect(store / "ragline.db") as db:
        chunks = sorted(db.execute("SELECT chunk_id, doc_id, idx, text, start, end FROM chunks"))
        docs = sorted(db.execute("SELECT doc_id, version, chunk_ids, duplicate_of FROM documents"))
        cache = db.execute("SELECT count(*) FROM embed_cache").fetchone()[0]
    return chunks, docs, cache


def verify(store: Path) -> subprocess.CompletedProcess:
    return ragline_cli("verify", "--store", f"local:{store}", "--embedder", EMBEDDER, "--json")


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    from tests.conftest import FIXTURES

    store = tmp_path_factory.mktemp("clean") / "store"
    result = ingest(FIXTURES, store)
    assert result.returncode == 0, result.stderr
    return snapshot(store)


@pytest.mark.parametrize("crash_at", ["parse:4", "embed:2", "write:3", "commit:2", "index:1", "index:2"])
def test_kill_then_rerun_equals_clean_run(crash_at, clean_run, tmp_path):
    from tests.conftest import FIXTURES

    store = tmp_path / "store"
    crashed = ingest(FIXTURES, store, crash_at)
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr[-2000:])
    rerun = ingest(FIXTURES, store)
    assert rerun.returncode == 0, rerun.stderr
    chunks, docs, _ = snapshot(store)
    clean_chunks, clean_docs, _ = clean_run
    assert chunks == clean_chunks          # same chunk ids and text: nothing missing, no duplicate
    assert len({c[0] for c in chunks}) == len(chunks)
    assert docs == clean_docs
    checked = verify(store)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert '"drift": 0' in checked.stdout


@pytest.mark.parametrize("crash_at", ["write:1", "removal:1"])
def test_kill_during_second_run_after_edits(crash_at, clean_run, tmp_path):
    """A crash while applying changes (edits and deletes; removing replaced chunks) also converges."""
    import shutil

    from tests.conftest import FIXTURES

    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    store = tmp_path / "store"
    assert ingest(corpus, store).returncode == 0
    readme = corpus / "good/psmisc-README.md"
    borrowed = readme.read_text()[:1500]
    readme.unlink()
    bsd = corpus / "good/bsd-license.txt"
    # A real edit: enough new text that the file is no longer a near-duplicate of its old copy.
    bsd.write_text(bsd.read_text() + "\n" + borrowed)
    crashed = ingest(corpus, store, crash_at)
    assert crashed.returncode == -signal.SIGKILL
    assert ingest(corpus, store).returncode == 0
    reference = tmp_path / "reference"
    assert ingest(corpus, reference).returncode == 0
    assert snapshot(store)[0] == snapshot(reference)[0]
    assert '"drift": 0' in verify(store).stdout
