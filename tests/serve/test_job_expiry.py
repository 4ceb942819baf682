"""Finished job records expire: beyond ``jobs_kept`` (oldest first) and ``job_retention_s`` after
they finish, both in memory and in the state's meta (where every server process reads them)."""

from __future__ import annotations

import threading
import time

from tests.serve.conftest import bearer, wait_job

from ragline.records import IngestReport
from ragline.serve.jobs import Writer
from ragline.serve.keys import KEYS_NAMESPACE

H = bearer("key-a")


def _submit(client, n: int) -> str:
    accepted = client.post("/v1/documents", json={"records": [{"id": f"r{n}", "text": f"record number {n}"}]},
                           headers=H)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    assert wait_job(client, job_id, H)["state"] == "done"
    return job_id


def _stored(client) -> list[str]:
    state = client.app.state.runtime._keys_state
    return [key.removeprefix("job:") for key, _ in state.meta_items(KEYS_NAMESPACE, "job:")]


def test_only_the_newest_jobs_kept_are_stored(make_client):
    with make_client(api_keys="key-a=tenant-a", jobs_kept=2, job_prune_every_s=0) as client:
        jobs = [_submit(client, n) for n in range(4)]
        assert sorted(_stored(client)) == sorted(jobs[-2:])
        assert client.get(f"/v1/jobs/{jobs[0]}", headers=H).status_code == 404
        assert client.get(f"/v1/jobs/{jobs[-1]}", headers=H).json()["state"] == "done"


def test_finished_jobs_expire_after_the_retention(make_client):
    with make_client(api_keys="key-a=tenant-a", job_retention_s=3600) as client:
        runtime = client.app.state.runtime
        first, second = _submit(client, 1), _submit(client, 2)
        assert sorted(_stored(client)) == sorted([first, second])
        assert runtime.prune_jobs() == 0  # both finished moments ago
        assert runtime.prune_jobs(now=time.time() + 3601) == 2
        assert _stored(client) == []
        # Another process (no memory of the jobs) answers from the state: now not found.
        assert runtime.stored_job(first, "tenant-a") is None


def test_jobs_finished_longer_ago_than_the_retention_are_forgotten_in_memory(make_client):
    with make_client(api_keys="key-a=tenant-a", job_retention_s=0.5, job_prune_every_s=0) as client:
        first = _submit(client, 1)
        assert client.get(f"/v1/jobs/{first}", headers=H).status_code == 200
        time.sleep(0.6)
        second = _submit(client, 2)  # submitting sweeps memory; finishing sweeps the state
        assert client.get(f"/v1/jobs/{first}", headers=H).status_code == 404
        assert _stored(client) == [second]


def test_a_live_servers_running_job_keeps_beating(make_client):
    """What other worker processes read (the state's meta) stays "running" while the job runs,
    though the bound is far shorter than the job: the owner's heartbeat timer refreshes it."""
    records = [{"id": f"r{i}", "text": " ".join(f"word{(i * 31 + j) % 997}" for j in range(150))} for i in range(1500)]
    # The bound leaves 1 s of slack for a heartbeat delayed by a loaded machine (0.3 s did not,
    # once, in a full suite run); the timer alone is tested below, on the Writer.
    with make_client(api_keys="key-a=tenant-a", job_stale_s=1.5) as client:
        runtime = client.app.state.runtime
        job_id = client.post("/v1/documents", json={"records": records}, headers=H).json()["job_id"]
        beats, seen_running = set(), 0
        while (mine := client.get(f"/v1/jobs/{job_id}", headers=H).json())["state"] != "done":
            stored = runtime.stored_job(job_id, "tenant-a")
            assert stored is not None and stored["state"] in ("queued", "running"), stored
            if stored["state"] == "running":
                seen_running += 1
                beats.add(stored["heartbeat_at"])
                assert stored["owner"] == runtime.writer.owner
            time.sleep(0.05)
        assert mine["state"] == "done" and runtime.stored_job(job_id, "tenant-a")["state"] == "done"
        print(f"{seen_running} reads while running, {len(beats)} heartbeats")
        assert len(beats) >= 3, (seen_running, beats)


def test_the_heartbeat_timer_beats_while_a_job_makes_no_progress():
    """A job stuck in one long call (no progress saves) is kept alive by the timer alone."""
    saved: list[tuple[str, float]] = []
    started, release = threading.Event(), threading.Event()

    def ingest(namespace: str, items: list, progress) -> IngestReport:  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(10)
        return IngestReport()

    writer = Writer(ingest, nice=0, persist=lambda job: saved.append((job.state, job.heartbeat_at)),
                    heartbeat_s=0.1)
    try:
        writer.submit("tenant-a", [], [])
        assert started.wait(10)
        time.sleep(1.0)  # ~10 timer beats due; 3 of them on time suffice
        beats = {at for state, at in saved if state == "running"}
        release.set()
    finally:
        writer.close()
    assert len(beats) >= 4, saved  # the save at start, then the timer's
    assert saved[-1][0] == "done"
