"""``milvus-lite:PATH`` through the Engine with no --state: the state is an SQLite file beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.engine import Engine
from ragline.state import default_state_uri
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


def test_milvus_lite_with_default_state(tmp_path: Path, hashing_embedder) -> None:
    store = f"milvus-lite:{tmp_path / 'mv'}"
    assert default_state_uri(store) == f"sqlite:{tmp_path / 'mv' / 'state.db'}"
    assert default_state_uri(f"milvus-lite:{tmp_path / 'x.db'}?metric=COSINE") == f"sqlite:{tmp_path / 'x.state.db'}"
    with Engine.open(f"local:{tmp_path / 'reference'}", embedder=hashing_embedder) as engine:
        reference = engine.ingest([FIXTURES])
    with Engine.open(store, embedder=hashing_embedder) as engine:
        first = engine.ingest([FIXTURES])
        assert first.counts == reference.counts and first.chunks_written == reference.chunks_written
        again = engine.ingest([FIXTURES])
        assert again.chunks_written == 0 and again.counts["new"] == again.counts["changed"] == 0
        assert engine.search("python tutorial", k=3)
        assert engine.stats()["documents"] == len(engine.ledger.all_documents()) > 0
        assert engine.verify()["drift"] == 0
    assert (tmp_path / "mv" / "state.db").is_file() and (tmp_path / "mv" / "milvus.db").exists()
