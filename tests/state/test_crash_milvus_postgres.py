"""The commit protocol on a store that cannot join a transaction: Milvus Lite with its state in a
real PostgreSQL. A first ingest, then a changed corpus (edits, a deleted file, a changed and a
removed JSONL record, so replaced chunks must be removed), SIGKILLed at each point of the
protocol; the re-run converges to a clean run's store (same chunk ids, texts and vectors, no
orphans) and ledger, and ``verify`` is clean."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import psycopg
import pytest
from tests.conftest import FIXTURES, ragline_cli
from tests.state.test_engine_postgres import _fresh

pytestmark = [pytest.mark.slow, pytest.mark.integration]

EMBEDDER = "hashing:64"


def _ingest(corpus: Path, store: str, state: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    return ragline_cli("ingest", str(corpus), "--store", store, "--state", state, "--embedder", EMBEDDER, "--json",
                "--max-tokens", "48", "--overlap", "8", "--batch-chunks", "32", crash_at=crash_at)


def _verify(store: str, state: str) -> dict:
    result = ragline_cli("verify", "--store", store, "--state", state, "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def _change(corpus: Path) -> None:
    """Edits that replace chunks of several documents and delete others."""
    bsd = corpus / "good/bsd-license.txt"
    bsd.write_text(bsd.read_text().replace("Redistribution", "Copying and redistribution")
                   + "\nThis paragraph is new, so the last chunks change as well.\n")
    (corpus / "good/psmisc-README.md").unlink()
    records = (corpus / "good/records.jsonl").read_text().splitlines()
    first = json.loads(records[0])
    first["text"] = "a changed record: " + first["text"][::-1]
    (corpus / "good/records.jsonl").write_text("\n".join([json.dumps(first), *records[2:]]) + "\n")


def _snapshot(store_path: Path, state: str) -> tuple[list[tuple], list[tuple]]:
    from pymilvus import MilvusClient

    client = MilvusClient(str(store_path / "milvus.db"))
    try:
        client.load_collection("ragline_chunks")
        iterator = client.query_iterator("ragline_chunks", batch_size=1000, filter='namespace == "default"',
                                         output_fields=["chunk_id", "doc_id", "text", "vector"])
        rows = []
        while batch := iterator.next():
            rows += [(r["chunk_id"], r["doc_id"], r["text"], np.round(np.asarray(r["vector"], np.float32), 6).tobytes())
                     for r in batch]
        iterator.close()
    finally:
        client.close()
    with psycopg.connect(state) as conn:
        docs = sorted(conn.execute("SELECT doc_id, version, chunk_ids, duplicate_of FROM ragline_documents"))
    return sorted(rows), docs


def _reset(corpus: Path, *, changed: bool) -> Path:
    """The corpus at one path (document ids follow the path), as first ingested or changed."""
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(FIXTURES, corpus)
    if changed:
        _change(corpus)
    return corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus") / "docs"


@pytest.fixture(scope="module")
def clean_run(corpus: Path, postgres_server: str,
              tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple], list[tuple]]:
    """The changed corpus ingested once, with no crash: what every crashed store must become."""
    path, state = tmp_path_factory.mktemp("clean") / "mv", _fresh(postgres_server)
    result = _ingest(_reset(corpus, changed=True), f"milvus-lite:{path}", state)
    assert result.returncode == 0, result.stderr
    return _snapshot(path, state)


@pytest.mark.parametrize("crash_at", ["state_commit:1", "removal:1", "removal:2", "removal:3"])
def test_kill_then_rerun_equals_clean_run(crash_at: str, corpus: Path, clean_run, postgres_server: str,
                                          tmp_path: Path) -> None:
    path, state = tmp_path / "mv", _fresh(postgres_server)
    store = f"milvus-lite:{path}"
    first = _ingest(_reset(corpus, changed=False), store, state)
    assert first.returncode == 0, first.stderr
    after = _reset(corpus, changed=True)
    crashed = _ingest(after, store, state, crash_at)
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr[-2000:])
    if crash_at.startswith("removal"):
        # The ledger holds the new versions; the chunks they replaced are still in Milvus.
        assert _verify(store, state)["orphan_chunks"]
    rerun = _ingest(after, store, state)
    assert rerun.returncode == 0, rerun.stderr
    checked = _verify(store, state)  # (before the snapshot: an open Milvus Lite locks its folder)
    assert checked["drift"] == 0 and checked["orphan_chunks"] == [], checked
    chunks, docs = _snapshot(path, state)
    clean_chunks, clean_docs = clean_run
    assert [c[:3] for c in chunks] == [c[:3] for c in clean_chunks]  # ids, documents, texts
    assert chunks == clean_chunks                                      # and vectors
    assert docs == clean_docs
    with psycopg.connect(state) as conn:  # every journalled removal was finished
        assert conn.execute("SELECT count(*) FROM ragline_meta WHERE key LIKE '%:removal:%'").fetchone()[0] == 0
