"""The engine end to end with the local store and its state in a real PostgreSQL."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest
from tests.conftest import FIXTURES, ragline_cli

from ragline.engine import Engine
from ragline.state import read_meta

EMBEDDER = "hashing:64"


def test_ingest_rerun_search_verify(tmp_path: Path, postgres_uri: str, hashing_embedder) -> None:
    """The same corpus with the default state and with PostgreSQL: the same report, chunks and
    ledger; the re-run is a no-op; search and verify work."""
    with Engine.open(f"local:{tmp_path / 'reference'}", embedder=hashing_embedder) as engine:
        reference = engine.ingest([FIXTURES])
        reference_docs = sorted(engine.ledger.all_documents(), key=lambda d: d.doc_id)
        reference_dead = engine.ledger.dead_letters()
    store = f"local:{tmp_path / 'store'}"
    with Engine.open(store, state=postgres_uri, embedder=hashing_embedder) as engine:
        first = engine.ingest([FIXTURES])
        assert first.chunks_written == reference.chunks_written > 0
        assert first.counts == reference.counts
        assert sorted(f.uri for f in first.failed) == sorted(f.uri for f in reference.failed)
        assert sorted(engine.ledger.all_documents(), key=lambda d: d.doc_id) == reference_docs
        assert sorted(engine.ledger.dead_letters()) == sorted(reference_dead)
        again = engine.ingest([FIXTURES])
        assert again.chunks_written == 0 and again.chunks_embedded == 0 and again.chunks_deleted == 0
        assert again.counts["new"] == again.counts["changed"] == 0
        hits = engine.search("python tutorial", k=3)
        assert hits and all(h.chunk.text for h in hits)
        stats = engine.stats()
        assert stats["documents"] == len(reference_docs)
        assert stats["embedding_cache_entries"] > 0
        report = engine.verify()
        assert report["drift"] == 0, report
        assert report["documents"] == len(reference_docs)
    # The ledger is in PostgreSQL, not in the store's file.
    with sqlite3.connect(tmp_path / "store" / "ragline.db") as db:
        assert db.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM chunks").fetchone()[0] == first.chunks_written
    with psycopg.connect(postgres_uri) as conn:
        assert conn.execute("SELECT count(*) FROM ragline_documents").fetchone()[0] == len(reference_docs)
    # How the store was built is remembered in the state, and read before any engine opens.
    saved = json.loads(read_meta(postgres_uri, store, "default", "config"))
    assert saved["model_id"] == hashing_embedder.model_id
    assert read_meta(postgres_uri, store, "other", "config") is None


def _ingest(store: Path, state: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    return ragline_cli("ingest", str(FIXTURES), "--store", f"local:{store}", "--state", state, "--embedder", EMBEDDER,
                "--json", "--max-tokens", "48", "--overlap", "8", "--batch-chunks", "32", crash_at=crash_at)


def _snapshot(store: Path, state: str) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(store / "ragline.db") as db:
        chunks = sorted(db.execute("SELECT chunk_id, doc_id, idx, text, start, \"end\" FROM chunks"))
    with psycopg.connect(state) as conn:
        docs = sorted(conn.execute("SELECT doc_id, version, chunk_ids, duplicate_of FROM ragline_documents"))
    return chunks, docs


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("crash_at", ["state_commit:2", "commit:2"])
def test_kill_between_store_and_state_commit(crash_at: str, tmp_path: Path, postgres_server: str,
                                             request: pytest.FixtureRequest) -> None:
    """SIGKILL after the store committed a batch and before the state did (or before both):
    the re-run converges to a clean run's store and ledger, and verify is clean."""
    clean_state = request.getfixturevalue("postgres_uri")
    crashed_state = _fresh(postgres_server)
    clean = _ingest(tmp_path / "clean", clean_state)
    assert clean.returncode == 0, clean.stderr
    crashed = _ingest(tmp_path / "crashed", crashed_state, crash_at)
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr[-2000:])
    rerun = _ingest(tmp_path / "crashed", crashed_state)
    assert rerun.returncode == 0, rerun.stderr
    assert _snapshot(tmp_path / "crashed", crashed_state) == _snapshot(tmp_path / "clean", clean_state)
    verify = ragline_cli("verify", "--store", f"local:{tmp_path / 'crashed'}", "--state", crashed_state, "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["drift"] == 0


def _fresh(server: str) -> str:
    import uuid
    from urllib.parse import quote

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{server}{'&' if '?' in server else '?'}options={quote(f'-csearch_path={schema}')}"


def test_near_duplicates_split_into_runs_as_one_run(tmp_path: Path, postgres_server: str) -> None:
    """With the state in PostgreSQL (prefetched candidates, a round trip per file) the same ordered
    records give the same originals, duplicates and chunks in one run as in three (two states, one
    namespace: doc ids, which break ties between equally near originals, are per namespace)."""
    from tests.ingest.test_split_runs import outcome, reproduction
    from tests.state.conftest import fresh_schema

    records = reproduction(150)
    one = outcome(tmp_path / "one", [records], 0.9, state=fresh_schema(postgres_server))
    three = outcome(tmp_path / "three", [records[:50], records[50:100], records[100:]], 0.9,
                    state=fresh_schema(postgres_server))
    assert len(one[1]) > 20 and three == one
