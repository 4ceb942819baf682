"""The store records the settings that shaped its contents and refuses an ingest that would mix
two of them; what does not shape the contents (search-time chunk size, a new ANN dtype) stays free."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import FIXTURES

from ragline.embed.hashing import HashingEmbedder
from ragline.engine import Engine
from ragline.errors import ConfigError


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store built once with max_tokens=128, overlap=16; each test works on its own copy."""
    store = tmp_path_factory.mktemp("shaping") / "store"
    with Engine.open(f"local:{store}", embedder="hashing:64", max_tokens=128, overlap=16, parse_workers=0) as engine:
        report = engine.ingest([FIXTURES / "good"])
    assert report.chunks_written > 0
    return store


@pytest.fixture()
def store(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(built, copy)
    return copy


def _recorded(store: Path) -> dict:
    with Engine.open(f"local:{store}", create_store=False) as engine:
        return json.loads(engine.state.get_meta("default", "config") or "{}")


def test_the_store_records_what_shaped_it(store: Path) -> None:
    recorded = _recorded(store)
    assert recorded["embedder"] == "hashing:64" and recorded["model_id"] == "hashing-64"
    assert (recorded["max_tokens"], recorded["overlap"], recorded["max_chars"]) == (128, 16, None)
    assert recorded["vector_dtype"] == "float32"
    assert recorded["bm25_analyzer"] == "en_stem_snowball_stop"
    assert "revision" in recorded


@pytest.mark.parametrize("options, setting, old, new, hint", [
    ({"max_tokens": 64}, "chunk max_tokens", "128", "64", "Re-run with --max-tokens 128"),
    ({"overlap": 8}, "chunk overlap", "16", "8", "Re-run with --overlap 16"),
    ({"max_chars": 300}, "chunk max_chars", "None", "300", "Set chunk.max_chars = None"),
])
def test_an_ingest_with_other_chunk_settings_is_refused(store: Path, options: dict, setting: str, old: str,
                                                         new: str, hint: str) -> None:
    with Engine.open(f"local:{store}", parse_workers=0, **{"max_tokens": 128, "overlap": 16, **options}) as engine:
        before = engine.store.count()
        with pytest.raises(ConfigError) as caught:
            engine.ingest([FIXTURES / "good"])
        assert engine.store.count() == before  # nothing written
    message = str(caught.value)
    assert f"holds chunks made with {setting}={old}" in message
    assert f"would add chunks made with {setting}={new}" in message
    assert hint in message and "new store or namespace" in message
    assert _recorded(store)[setting.split()[-1]] == (None if old == "None" else int(old))


def test_another_analyzer_or_model_is_refused(store: Path) -> None:
    with Engine.open(f"local:{store}", max_tokens=128, overlap=16, parse_workers=0) as engine:
        recorded = json.loads(engine.state.get_meta("default", "config") or "{}")
        with engine.state.transaction():  # as a store written by a release with another analyzer
            engine.state.set_meta("default", "config", json.dumps({**recorded, "bm25_analyzer": "en_stem"}))
        with pytest.raises(ConfigError, match="BM25 analyzer='en_stem'; this ingest would add chunks made with "
                                              "BM25 analyzer='en_stem_snowball_stop'"):
            engine.ingest([FIXTURES / "good"])
    # An embedder object for another model: the spec check cannot see it, the recorded model can.
    with Engine.open(f"local:{store}", embedder=HashingEmbedder(32), max_tokens=128, overlap=16,
                     parse_workers=0) as engine:
        with engine.state.transaction():
            engine.state.set_meta("default", "config", json.dumps(recorded))
        with pytest.raises(ConfigError, match="embedding model='hashing-64'; .* embedding model='hashing-32'"):
            engine.ingest([FIXTURES / "good"])


def test_searching_with_another_embedder_is_still_refused(store: Path) -> None:
    with pytest.raises(ConfigError, match="built with embedder 'hashing:64'; got 'hashing:32'"):
        Engine.open(f"local:{store}", embedder="hashing:32", create_store=False)


def test_what_does_not_mix_is_allowed(store: Path, tmp_path: Path) -> None:
    # Search with another chunk size: only ingest shapes the contents.
    with Engine.open(f"local:{store}", max_tokens=64, overlap=4, create_store=False) as engine:
        assert engine.search("license", 3, mode="bm25")
    # Same settings again: a no-op re-run.
    with Engine.open(f"local:{store}", max_tokens=128, overlap=16, parse_workers=0) as engine:
        assert engine.ingest([FIXTURES / "good"]).chunks_written == 0
    # Another ANN dtype re-quantizes the index (today's behaviour) and is recorded.
    with Engine.open(f"local:{store}", max_tokens=128, overlap=16, vector_dtype="int8", parse_workers=0) as engine:
        engine.ingest([FIXTURES / "good"])
        assert engine.search("license", 3, mode="dense")
    assert _recorded(store)["vector_dtype"] == "int8"
    # Another namespace of the same store is a new index: any settings.
    with Engine.open(f"local:{store}", namespace="small", max_tokens=64, overlap=8, parse_workers=0) as engine:
        assert engine.ingest([FIXTURES / "good"]).chunks_written > 0


def test_a_store_written_before_the_record_grew_keeps_working(store: Path) -> None:
    # What Engine._persist_config wrote before this change: no max_chars, dim, analyzer or dtype.
    with Engine.open(f"local:{store}", create_store=False) as engine:
        recorded = json.loads(engine.state.get_meta("default", "config") or "{}")
        old = {key: recorded[key] for key in ("embedder", "model_id", "revision", "max_tokens", "overlap")}
        with engine.state.transaction():
            engine.state.set_meta("default", "config", json.dumps(old))
    with Engine.open(f"local:{store}", max_tokens=128, overlap=16, max_chars=5000, parse_workers=0) as engine:
        assert engine.config.embedder == "hashing:64"
        engine.ingest([FIXTURES / "good"])  # max_chars was never recorded: recorded now, not refused
    assert _recorded(store)["max_chars"] == 5000
    with Engine.open(f"local:{store}", max_tokens=64, overlap=16, parse_workers=0) as engine:
        with pytest.raises(ConfigError, match="chunk max_tokens=128"):  # recorded before: still checked
            engine.ingest([FIXTURES / "good"])


def _chunk_ids(store: Path, namespace: str = "default") -> set[str]:
    with Engine.open(f"local:{store}", namespace=namespace, create_store=False) as engine:
        return {hit.chunk.chunk_id for hit in engine.search("the", 10_000, mode="bm25", snippets=False)}


def test_rechunk_rebuilds_the_namespace_as_a_fresh_store_would(store: Path, tmp_path: Path) -> None:
    with Engine.open(f"local:{tmp_path / 'fresh'}", embedder="hashing:64", max_tokens=64, overlap=8,
                     parse_workers=0) as engine:
        fresh = engine.ingest([FIXTURES / "good"])
    with Engine.open(f"local:{store}", max_tokens=64, overlap=8, parse_workers=0) as engine:
        report = engine.ingest([FIXTURES / "good"], rechunk=True)
        assert engine.store.count() == fresh.chunks_written == report.chunks_written
    assert (_recorded(store)["max_tokens"], _recorded(store)["overlap"]) == (64, 8)
    assert _chunk_ids(store) == _chunk_ids(tmp_path / "fresh")
    with Engine.open(f"local:{store}", max_tokens=64, overlap=8, parse_workers=0) as engine:
        assert engine.ingest([FIXTURES / "good"]).chunks_written == 0  # and the new settings stick


@pytest.mark.integration
def test_cli_refuses_then_rechunks(store: Path) -> None:
    import os
    import subprocess
    import sys

    def ragline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ragline.cli", "ingest", str(FIXTURES / "good"), "--store",
                               f"local:{store}", "--parse-workers", "0", *args], capture_output=True, text=True,
                              timeout=300, check=False, env={**os.environ, "COLUMNS": "400"})

    refused = ragline("--max-tokens", "64", "--overlap", "16")
    assert refused.returncode == 2
    assert "chunk max_tokens=128" in refused.stderr and "--rechunk" in refused.stderr
    rebuilt = ragline("--max-tokens", "64", "--overlap", "16", "--rechunk", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert _recorded(store)["max_tokens"] == 64


def test_another_spec_for_the_same_model_file_is_allowed(tmp_path: Path) -> None:
    """How a model runs (threads, device, the ``auto`` alias) is not what it writes: a store built
    with ``onnx-fp32`` reopens with ``onnx-fp32:?threads=1``; another precision is still refused."""
    store = f"local:{tmp_path / 'store'}"
    with Engine.open(store, embedder="onnx-fp32", parse_workers=0) as engine:
        engine.ingest([FIXTURES / "good"])
        built = engine.search("license", 3, mode="dense")
    with Engine.open(store, embedder="onnx-fp32:?threads=1", parse_workers=0) as engine:
        assert engine.embedder.threads == 1  # type: ignore[attr-defined]
        assert [h.chunk.chunk_id for h in engine.search("license", 3, mode="dense")] == \
            [h.chunk.chunk_id for h in built]
        assert engine.ingest([FIXTURES / "good"]).failed == []
    with pytest.raises(ConfigError, match="built with embedder 'onnx-fp32:\\?threads=1'; got 'hashing:384'"):
        Engine.open(store, embedder="hashing:384", create_store=False)
