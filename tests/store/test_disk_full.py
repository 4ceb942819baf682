"""Disk full (issue 10 item 9), on a real small tmpfs: the CLI fails with one line and exit 2,
leaves no partial files, and a re-run once there is space completes and verifies clean, equal to
a run that never failed. Leftovers of a killed save are removed on the next open."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import ragline_cli
from tests.store.contract import make_chunks, vectors_for
from tests.store.mounts import remount, tmpfs

from ragline.store.local import LocalStore
from ragline.store.local._layout import uncommitted_segment_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EMBEDDER = "hashing:64"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """~1.5 MB of varied text: its store outgrows the small file systems below."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(5000)]
    for i in range(120):
        (folder / f"doc{i:03d}.txt").write_text(" ".join(rng.choice(words, 2000)))
    return folder


def ingest(corpus: Path, store: Path) -> subprocess.CompletedProcess:
    return ragline_cli("ingest", str(corpus), "--store", f"local:{store}", "--embedder", EMBEDDER, "--json",
                   "--parse-workers", "0")


def chunk_ids(store: Path) -> list[str]:
    with sqlite3.connect(store / "ragline.db") as db:
        return sorted(r[0] for r in db.execute("SELECT chunk_id FROM chunks"))


def leftovers(store: Path) -> list[str]:
    found = [str(p.relative_to(store)) for p in store.rglob("*") if ".partial" in p.name]
    for bm25 in store.glob("index/*/bm25"):
        found += uncommitted_segment_files(bm25)
    return found


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, corpus) -> list[str]:
    store = tmp_path_factory.mktemp("clean") / "store"
    assert ingest(corpus, store).returncode == 0
    return chunk_ids(store)


# Sizes at which the disk fills in SQLite: in its first batches, and later in the run (the
# derived indexes have their own test below).
@pytest.mark.parametrize("size", ["600k", "5m"])
def test_disk_full_fails_in_one_line_and_a_rerun_completes(tmp_path, corpus, clean_run, size):
    with tmpfs(tmp_path / "mnt", size) as mount:
        store = mount / "store"
        failed = ingest(corpus, store)
        assert failed.returncode == 2, (failed.returncode, failed.stdout[-500:], failed.stderr[-3000:])
        assert "Traceback" not in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1 and "error:" in failed.stderr
        assert "full" in failed.stderr or "space" in failed.stderr, failed.stderr
        assert leftovers(store) == []
        remount(mount, "size=256m")
        again = ingest(corpus, store)
        assert again.returncode == 0, again.stderr[-3000:]
        assert json.loads(again.stdout)["failed"] == []
        checked = ragline_cli("verify", "--store", f"local:{store}", "--embedder", EMBEDDER, "--json")
        assert checked.returncode == 0 and json.loads(checked.stdout)["drift"] == 0, checked.stdout
        assert chunk_ids(store) == clean_run
        assert leftovers(store) == []


def test_leftovers_of_a_killed_save_are_removed_on_the_next_open(tmp_path):
    path = tmp_path / "s"
    with LocalStore(path) as store:
        chunks = make_chunks("file:///a.txt", ["some text", "more text"])
        store.upsert(chunks, vectors_for(chunks))
        store.flush()
        index_dir = store.index_dir
    graph = next(index_dir.glob("ann-*.faiss"))
    stray = [index_dir / "ann.partial-4242", index_dir / "ann-0123456789abcdef.faiss",
             index_dir / "ann-0123456789abcdef.faiss.partial-4242", index_dir / "bm25" / "ragline-applied.partial"]
    for path_ in stray:
        path_.write_bytes(b"half written")
    with LocalStore(path) as store:
        assert not any(p.exists() for p in stray) and graph.exists()
        assert len(store.search_text("text", 5)) == 2 and store.problems == []


def _fill(mount: Path, leave: int) -> Path:
    """Take all the free space but ``leave`` bytes."""
    import shutil

    filler = mount / "filler"
    free = shutil.disk_usage(mount).free
    with open(filler, "wb") as handle:
        handle.truncate(0)
        block = b"\0" * 2**20
        remaining = max(0, free - leave)
        while remaining > 0:
            remaining -= handle.write(block[:min(len(block), remaining)])
    return filler


@pytest.mark.parametrize("where", ["ann", "bm25"])
def test_disk_full_while_writing_the_derived_indexes(tmp_path, corpus, where):
    """Space runs out while a search rebuilds missing derived indexes: first the ANN graph, or
    the BM25 segments once the ANN fits. One line, exit 2, no partial or uncommitted files; with
    space again the same search works and the store verifies clean."""
    import shutil

    with tmpfs(tmp_path / "mnt", "64m") as mount:
        store = mount / "store"
        assert ingest(corpus, store).returncode == 0
        common = ("--store", f"local:{store}", "--embedder", EMBEDDER, "--json")
        expected = json.loads(ragline_cli("search", "w17 w42", *common, "--mode", "hybrid").stdout)
        index_dir = next(store.glob("index/*/"))
        ann_bytes = sum(p.stat().st_size for p in index_dir.glob("ann*"))
        bm25_bytes = sum(p.stat().st_size for p in (index_dir / "bm25").iterdir())
        for path in index_dir.glob("ann*"):
            path.unlink()
        shutil.rmtree(index_dir / "bm25")
        filler = _fill(mount, ann_bytes // 2 if where == "ann" else ann_bytes + bm25_bytes // 3)
        failed = ragline_cli("search", "w17 w42", *common, "--mode", "hybrid")
        assert failed.returncode == 2, failed.stderr[-3000:]
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
        assert ("ANN" if where == "ann" else "BM25") in failed.stderr, failed.stderr
        assert leftovers(store) == []
        filler.unlink()
        again = ragline_cli("search", "w17 w42", *common, "--mode", "hybrid")
        assert again.returncode == 0, again.stderr
        assert [h["chunk_id"] for h in json.loads(again.stdout)] == [h["chunk_id"] for h in expected]
        checked = ragline_cli("verify", "--store", f"local:{store}", "--embedder", EMBEDDER, "--json")
        assert checked.returncode == 0 and json.loads(checked.stdout)["drift"] == 0, checked.stdout
        assert leftovers(store) == []
