"""A store on a read-only mount can still be searched; read-only commands never create a store;
bad store URIs are clear errors (issue 10 item 11, the store-opening parts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragline.engine import Engine
from ragline.errors import ConfigError, StoreError
from tests.store.mounts import remount, tmpfs

pytestmark = pytest.mark.integration
EMBEDDER = "hashing:64"


def ragline(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "1000"}
    return subprocess.run([sys.executable, "-m", "ragline.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_a_store_on_a_read_only_mount_can_be_searched(tmp_path):
    from tests.conftest import FIXTURES

    with tmpfs(tmp_path / "mnt", "64m") as mount:
        store = mount / "store"
        with Engine.open(f"local:{store}", embedder=EMBEDDER, parse_workers=0) as engine:
            engine.ingest([FIXTURES / "good"])
            expected = {mode: [h.chunk.chunk_id for h in engine.search("license", 5, mode=mode)]
                        for mode in ("dense", "bm25", "hybrid")}
        remount(mount, "ro")
        before = sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*"))
        with Engine.open(f"local:{store}", embedder=EMBEDDER, create_store=False) as engine:
            assert engine.store.read_only
            for mode, ids in expected.items():
                assert [h.chunk.chunk_id for h in engine.search("license", 5, mode=mode)] == ids
            assert engine.verify()["drift"] == 0
            assert engine.stats()["chunks"] > 0
            with pytest.raises(StoreError, match="read-only"):
                engine.ingest([FIXTURES / "good"])
        assert sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*")) == before
        common = ("--store", f"local:{store}", "--embedder", EMBEDDER)
        searched = ragline("search", "license", *common, "--json")
        assert searched.returncode == 0, searched.stderr
        assert [h["chunk_id"] for h in json.loads(searched.stdout)] == expected["hybrid"]
        checked = ragline("verify", *common, "--json")
        assert checked.returncode == 0 and json.loads(checked.stdout)["drift"] == 0, checked.stderr
        written = ragline("ingest", str(FIXTURES / "good"), *common)
        assert written.returncode == 2 and "read-only" in written.stderr
        assert "Traceback" not in written.stderr and len(written.stderr.strip().splitlines()) == 1
        remount(mount, "rw")  # so the tmpfs can be unmounted cleanly


def test_read_only_commands_never_create_a_store(tmp_path):
    missing = tmp_path / "no-store"
    for command in (["search", "x"], ["stats"], ["verify"]):
        result = ragline(*command, "--store", f"local:{missing}", "--embedder", EMBEDDER)
        assert result.returncode == 2, result.stderr
        assert "no ragline store" in result.stderr and "Traceback" not in result.stderr
    assert not missing.exists()
    with pytest.raises(ConfigError, match="no ragline store"):
        Engine.open(f"local:{missing}", embedder="hashing:64", create_store=False)
    assert not missing.exists()


def test_a_store_uri_naming_a_file_or_nothing_is_a_config_error(tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("not a store")
    for uri, message in ((f"local:{afile}", "is a file"), (str(afile), "is a file"),
                         ("local:", "store path is empty"), ("", "store URI is empty")):
        with pytest.raises(ConfigError, match=message):
            Engine.open(uri, embedder="hashing:64")
        result = ragline("ingest", str(tmp_path), "--store", uri, "--embedder", EMBEDDER)
        assert result.returncode == 2 and message in result.stderr, result.stderr
    assert afile.read_text() == "not a store"
