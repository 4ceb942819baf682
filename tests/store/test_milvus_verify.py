"""``verify`` on a Milvus Lite store: the store checks itself against the ledger (a clean store,
an orphan inserted through pymilvus directly, a chunk deleted behind the ledger's back), and
``--repair`` converges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragline.engine import Engine
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture()
def milvus_engine(tmp_path: Path, hashing_embedder):
    with Engine.open(f"milvus-lite:{tmp_path / 'mv'}", embedder=hashing_embedder) as engine:
        engine.ingest([FIXTURES / "good"])
        yield engine


def _a_stored_doc(engine: Engine):
    return next(d for d in engine.ledger.all_documents() if d.chunk_ids and not d.duplicate_of)


def test_clean_store_verifies_clean(milvus_engine: Engine) -> None:
    report = milvus_engine.verify()
    assert report["drift"] == 0 and report["problems"] == [], report
    assert report["chunks"] == milvus_engine.store.count() > 0
    assert report["dim"] == 64


def test_orphan_inserted_through_pymilvus_is_found_and_removed(milvus_engine: Engine) -> None:
    store = milvus_engine.store
    doc = _a_stored_doc(milvus_engine)
    row = store.client.get(store.collection, ids=[doc.chunk_ids[0]])[0]  # type: ignore[attr-defined]
    # A chunk of a document the ledger never heard of (all the other fields are valid).
    row = {k: v for k, v in row.items() if k != "sparse"}
    row.update(chunk_id="orphan-chunk-0001", doc_id="no-such-document")
    store.client.insert(store.collection, [row])  # type: ignore[attr-defined]
    found = milvus_engine.verify()
    assert found["orphan_chunks"] == ["orphan-chunk-0001"]
    assert found["missing_chunk_documents"] == [] and found["drift"] == 1, found
    repaired = milvus_engine.verify(repair=True)
    assert repaired["drift"] == 0 and repaired["repaired"] == ["deleted 1 orphan chunk(s)"], repaired
    assert store.get(["orphan-chunk-0001"]) == []
    assert store.get([doc.chunk_ids[0]])  # the real chunk it was copied from stays


def test_missing_chunk_is_found_and_its_document_reingested(milvus_engine: Engine) -> None:
    store = milvus_engine.store
    doc = _a_stored_doc(milvus_engine)
    before = sorted((c.chunk_id, c.text) for c in store.get(list(doc.chunk_ids)))
    store.client.delete(store.collection, ids=[doc.chunk_ids[-1]])  # type: ignore[attr-defined]
    found = milvus_engine.verify()
    assert found["missing_chunk_documents"] == [doc.doc_id] and found["orphan_chunks"] == [], found
    repaired = milvus_engine.verify(repair=True)
    assert repaired["drift"] == 0, repaired
    assert milvus_engine.ledger.document(doc.doc_id) is None  # sent back to the next ingest
    report = milvus_engine.ingest([FIXTURES / "good"])
    assert report.counts["new"] == 1 and report.counts["changed"] == 0
    assert sorted((c.chunk_id, c.text) for c in store.get(list(doc.chunk_ids))) == before
    assert milvus_engine.verify()["drift"] == 0


def test_cli_verify_takes_a_milvus_lite_store(tmp_path: Path) -> None:
    store = f"milvus-lite:{tmp_path / 'mv'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ingest = subprocess.run([sys.executable, "-m", "ragline.cli", "ingest", str(FIXTURES / "good"), "--store", store,
                             "--embedder", "hashing:64", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    verify = subprocess.run([sys.executable, "-m", "ragline.cli", "verify", "--store", store, "--json"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    result = json.loads(verify.stdout)
    assert result["drift"] == 0 and result["chunks"] > 0 and result["documents"] > 0
