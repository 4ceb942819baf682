"""Several processes on one store at the same moment (issue 10 item 8): real processes, started
together behind a barrier, open a new store or namespace, or find its derived indexes missing;
all succeed (one builds, the others wait or read) and the store verifies clean after."""

from __future__ import annotations

import multiprocessing
import shutil
import traceback
from pathlib import Path

import pytest

from ragline.ledger import Ledger
from ragline.store.local import LocalStore
from ragline.store.local._verify import check
from tests.store.contract import make_chunks, vectors_for

pytestmark = pytest.mark.integration
PROCESSES = 4


def _write_then_search(store: str, namespace: str, name: str, barrier, results) -> None:
    try:
        barrier.wait(timeout=120)
        with LocalStore(Path(store), namespace) as opened:
            chunks = make_chunks(f"file:///{name}.txt", [f"{name} alpha", f"{name} beta", "common words"])
            opened.upsert(chunks, vectors_for(chunks))
            opened.flush()
            found = {h.chunk.text for h in opened.search_text(name, 10)}
            nearest = opened.search_vector(vectors_for(chunks[:1])[0], 1)[0].chunk.text
        results.put((name, "ok", sorted(found), nearest))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((name, "error", traceback.format_exc(), None))


def _search_only(store: str, namespace: str, name: str, barrier, results) -> None:
    try:
        barrier.wait(timeout=120)
        with LocalStore(Path(store), namespace) as opened:
            found = sorted(h.chunk.text for h in opened.search_text("doc", 100))
            dense = len(opened.search_vector(vectors_for(make_chunks("file:///q", ["doc 1"]))[0], 5))
        results.put((name, "ok", found, dense))
    except BaseException:  # noqa: BLE001
        results.put((name, "error", traceback.format_exc(), None))


def _run_together(target, jobs: list[tuple[str, str, str]]) -> list[tuple]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(jobs)), context.Queue()
    processes = [context.Process(target=target, args=(*job, barrier, results)) for job in jobs]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    errors = [o[2] for o in outcomes if o[1] != "ok"]
    assert not errors, "\n".join(errors)
    return sorted(outcomes)


def _verify_clean(path: Path, namespace: str) -> None:
    with LocalStore(path, namespace) as store:
        ledger = Ledger(store.db, namespace)
        result = check(store, ledger)
    # No ledger documents were written: every chunk is an 'orphan' to verify; the derived
    # indexes must still hold exactly the chunk table.
    assert result["ann_drift"] == 0 and result["bm25_drift"] == 0, result["problems"]


def test_processes_creating_one_new_store_at_once_all_succeed(tmp_path):
    store = tmp_path / "new-store"
    names = [f"writer{i}" for i in range(PROCESSES)]
    outcomes = _run_together(_write_then_search, [(str(store), "default", name) for name in names])
    for name, _, found, nearest in outcomes:
        assert found == [f"{name} alpha", f"{name} beta"] and nearest == f"{name} alpha"
    with LocalStore(store) as reopened:
        assert reopened.count() == 3 * PROCESSES
        assert len(reopened.search_text("common", 100)) == PROCESSES
        assert len(reopened.ann) == 3 * PROCESSES
    _verify_clean(store, "default")
    assert not list(store.rglob("*.partial*"))


def test_processes_creating_new_namespaces_at_once_all_succeed(tmp_path):
    store = tmp_path / "store"
    with LocalStore(store, "existing") as first:
        chunks = make_chunks("file:///e.txt", ["existing text"])
        first.upsert(chunks, vectors_for(chunks))
    # Two processes per new namespace, two namespaces the old layout would have merged.
    jobs = [(str(store), namespace, f"{tag}{i}") for i in range(2)
            for namespace, tag in (("new ns", "spaced"), ("new_ns", "underscored"))]
    _run_together(_write_then_search, jobs)
    for namespace, tag in (("new ns", "spaced"), ("new_ns", "underscored")):
        with LocalStore(store, namespace) as opened:
            assert {h.chunk.text for h in opened.search_text("alpha", 10)} == {f"{tag}0 alpha", f"{tag}1 alpha"}
        _verify_clean(store, namespace)


def test_processes_finding_the_indexes_missing_build_them_once(tmp_path):
    store = tmp_path / "store"
    texts = [f"doc {i} about topic {i % 7}" for i in range(3000)]
    with LocalStore(store) as opened:
        chunks = make_chunks("file:///many.txt", texts)
        opened.upsert(chunks, vectors_for(chunks))
        opened.flush()
        index_dir = opened.index_dir
    shutil.rmtree(index_dir / "bm25")
    for path in index_dir.glob("ann*"):
        path.unlink()
    outcomes = _run_together(_search_only, [(str(store), "default", f"reader{i}") for i in range(PROCESSES)])
    assert all(found == outcomes[0][2] and len(found) == 100 and dense == 5 for _, _, found, dense in outcomes)
    assert len(list(index_dir.glob("ann-*.faiss"))) == 1
    _verify_clean(store, "default")


@pytest.mark.slow
def test_ingests_into_one_new_store_from_several_cli_processes(tmp_path):
    """The whole stack: three `ragline ingest` processes started at once into one new store (two
    into the same namespace), then searched; every run succeeds and every namespace verifies."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import FIXTURES

    store = f"local:{tmp_path / 'store'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("RAGLINE_CRASH_AT", None)
    common = ("--store", store, "--embedder", "hashing:64")
    runs = [subprocess.Popen([sys.executable, "-m", "ragline.cli", "ingest", str(FIXTURES / "good"), *common,
                              "--namespace", namespace, "--json", "--parse-workers", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for namespace in ("team a", "team a", "team_a")]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    for namespace in ("team a", "team_a"):
        verified = subprocess.run([sys.executable, "-m", "ragline.cli", "verify", *common, "--namespace", namespace,
                                   "--json"], capture_output=True, text=True, env=env, timeout=300)
        assert verified.returncode == 0 and json.loads(verified.stdout)["drift"] == 0, verified.stdout
        hits = subprocess.run([sys.executable, "-m", "ragline.cli", "search", "license", *common, "--namespace",
                               namespace, "--json"], capture_output=True, text=True, env=env, timeout=300)
        assert hits.returncode == 0 and json.loads(hits.stdout), hits.stderr
