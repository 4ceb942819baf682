"""Ingest jobs: a bounded queue in front of the process's one writer thread.

    writer = Writer(ingest=runtime.ingest, queue_size=16, nice=10)
    job = writer.submit("tenant-a", items)            # Overloaded when the queue is full
    writer.get(job.job_id, "tenant-a")                 # None for another tenant's job

Every write of the server (ingest jobs and deletes) runs on the writer thread, so the local store
is never written by two threads at once. The thread runs at a higher nice value than the
searches (Linux threads have their own), parses in-thread (no process pool), and a delete goes
ahead of queued jobs. Nothing accepted is lost silently: a job that raises is ``failed`` with its
error; documents that fail to parse are listed in its report.

Every persisted record names its ``owner`` (this process: host, pid and start time) and carries a
``heartbeat_at`` that the owner refreshes while the job is queued or running (each save, and a
light timer every ``heartbeat_s``). A process killed outright (SIGKILL, a dead machine) leaves its
record "running"; ``judge_stale`` turns one whose heartbeat is older than the bound into
``failed`` with ``INTERRUPTED``, so no reader waits for it forever.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ragline import metrics
from ragline.records import IngestReport, SourceItem

log = logging.getLogger("ragline.serve")
STATES = ("queued", "running", "done", "failed")


INTERRUPTED = ("interrupted: the server running it stopped; resubmit the documents "
               "(a re-run replaces, never duplicates)")


def process_owner() -> str:
    """This process, as a job record's ``owner``: host, pid and start time (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{time.time():.3f}"


def judge_stale(record: dict[str, Any], stale_s: float, now: float | None = None) -> dict[str, Any]:
    """``record`` as it stands: a queued or running job whose owner's heartbeat is older than
    ``stale_s`` is ``failed`` (``INTERRUPTED``, ``interrupted: True``); others are unchanged."""
    if record.get("state") not in ("queued", "running"):
        return record
    beat = record.get("heartbeat_at") or record.get("started_at") or record.get("created_at") or 0.0
    now = time.time() if now is None else now
    if now - float(beat) <= stale_s:
        return record
    return {**record, "state": "failed", "error": INTERRUPTED, "interrupted": True, "finished_at": float(beat)}


class QueueFull(Exception):
    """The job queue is at its bound: try again later."""


@dataclass
class Job:
    job_id: str
    namespace: str
    items: list[SourceItem]
    state: str = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict[str, int] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    error: str | None = None
    documents: list[dict[str, str]] = field(default_factory=list)
    owner: str = ""
    heartbeat_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "state": self.state, "namespace": self.namespace,
                "documents": list(self.documents), "progress": dict(self.progress), "report": self.report,
                "error": self.error, "created_at": self.created_at, "started_at": self.started_at,
                "finished_at": self.finished_at, "owner": self.owner, "heartbeat_at": self.heartbeat_at}


Ingest = Callable[[str, list[SourceItem], Callable[[str, int], None]], IngestReport]
_URGENT, _JOB = 0, 1


class Writer:
    def __init__(self, ingest: Ingest, *, queue_size: int = 16, nice: int = 10, jobs_kept: int = 10_000,
                 on_change: Callable[[dict[str, int]], None] | None = None,
                 persist: Callable[[Job], None] | None = None, persist_every_s: float = 1.0,
                 retention_s: float = float("inf"), heartbeat_s: float | None = None):
        self._ingest = ingest
        # Other server processes answer GET /v1/jobs/{id} from what is persisted (state meta).
        self._persist = persist
        self._persist_every_s = persist_every_s
        self.owner = process_owner()
        self._save_lock = threading.Lock()  # a snapshot and its write go together: the last write wins
        self._stop = threading.Event()
        self._heartbeat_s = heartbeat_s
        self._queue_size = queue_size
        self._nice = nice
        self._jobs_kept = jobs_kept
        self._retention_s = retention_s
        self._on_change = on_change
        self._tasks: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queued = 0
        self._thread = threading.Thread(target=self._run, name="ragline-writer", daemon=True)
        self._closed = False
        self._thread.start()
        self._beater: threading.Thread | None = None
        if persist is not None and heartbeat_s:
            self._beater = threading.Thread(target=self._beat, name="ragline-job-heartbeat", daemon=True)
            self._beater.start()

    # ----- jobs ---------------------------------------------------------------------------
    def submit(self, namespace: str, items: list[SourceItem], documents: list[dict[str, str]]) -> Job:
        with self._lock:
            if self._closed:
                raise QueueFull("the server is shutting down")
            if self._queued >= self._queue_size:
                raise QueueFull(f"{self._queued} ingest jobs are waiting (the bound is {self._queue_size})")
            job = Job(job_id=uuid.uuid4().hex, namespace=namespace, items=items, documents=documents,
                      owner=self.owner)
            self._jobs[job.job_id] = job
            self._queued += 1
            self._forget_old()
        self._save(job)
        self._tasks.put((_JOB, next(self._order), job))
        self._changed()
        return job

    def get(self, job_id: str, namespace: str) -> Job | None:
        """The job, if it belongs to ``namespace`` (another tenant's job is not found)."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.namespace == namespace else None

    def counts(self, namespace: str | None = None) -> dict[str, int]:
        """Jobs by state (of one namespace, or all)."""
        with self._lock:
            counts = dict.fromkeys(STATES, 0)
            for job in self._jobs.values():
                if namespace is None or job.namespace == namespace:
                    counts[job.state] += 1
            return counts

    @property
    def queued(self) -> int:
        return self._queued

    # ----- other writes -------------------------------------------------------------------
    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn`` on the writer thread, ahead of queued jobs (after the running one)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._tasks.put((_URGENT, next(self._order), (fn, future)))
        return future

    def close(self, timeout: float = 30.0) -> None:
        """Finish the running job, then stop; jobs still queued are marked failed (not lost silently)."""
        with self._lock:
            self._closed = True
        self._tasks.put((_URGENT, next(self._order), None))
        self._thread.join(timeout)
        self._stop.set()
        if self._beater is not None:
            self._beater.join(timeout)
        with self._lock:
            dropped = [job for job in self._jobs.values() if job.state == "queued"]
            for job in dropped:
                job.state, job.error, job.finished_at = "failed", "the server shut down first", time.time()
        for job in dropped:
            self._save(job)

    # ----- the thread ---------------------------------------------------------------------
    def _run(self) -> None:
        if self._nice and hasattr(os, "setpriority"):
            try:  # Linux: a thread has its own nice value, and processes it starts inherit it
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
            except OSError as exc:
                log.warning("cannot lower the writer thread's priority: %s", exc)
        while True:
            _, _, task = self._tasks.get()
            if task is None:
                return
            if isinstance(task, Job):
                self._run_job(task)
            else:
                fn, future = task
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn())
                    except BaseException as exc:  # noqa: BLE001  (handed to the caller, who answers with it)
                        future.set_exception(exc)

    def _run_job(self, job: Job) -> None:
        with self._lock:
            self._queued -= 1
            if job.state != "queued":  # failed at shutdown
                return
            job.state, job.started_at = "running", time.time()
        self._changed()
        self._save(job)
        saved_at = time.monotonic()

        def progress(stage: str, n: int) -> None:
            nonlocal saved_at
            job.progress[stage] = job.progress.get(stage, 0) + n
            if time.monotonic() - saved_at > self._persist_every_s:
                saved_at = time.monotonic()
                self._save(job)

        try:
            report = self._ingest(job.namespace, job.items, progress)
            job.report = report.to_dict()
            job.state = "done"
        except Exception as exc:
            log.exception("ingest job %s failed", job.job_id)
            job.error = f"{type(exc).__name__}: {exc}"
            job.state = "failed"
        finally:
            job.items = []  # the bytes are not needed any more
            job.finished_at = time.time()
            self._save(job)
            self._changed()

    def _save(self, job: Job) -> None:
        """Persist ``job``; every save is also its heartbeat."""
        if self._persist is None:
            return
        with self._save_lock:
            job.heartbeat_at = time.time()
            try:
                self._persist(job)
            except Exception as exc:  # noqa: BLE001  (this process still answers from memory)
                log.warning("cannot persist job %s: %s", job.job_id, exc)

    def _beat(self) -> None:
        """Refresh the heartbeat of this process's queued and running jobs not saved lately (a
        long embed call or a long queue makes no progress saves)."""
        assert self._heartbeat_s is not None
        while not self._stop.wait(self._heartbeat_s):
            with self._lock:
                live = [job for job in self._jobs.values() if job.state in ("queued", "running")]
            for job in live:
                if time.time() - (job.heartbeat_at or 0.0) >= self._heartbeat_s * 0.9 \
                        and job.state in ("queued", "running"):
                    self._save(job)

    def _forget_old(self) -> None:
        """Beyond ``jobs_kept``, or finished more than ``retention_s`` ago, the oldest finished
        jobs are forgotten (oldest submitted first; an unfinished one stops the sweep)."""
        expired_before = time.time() - self._retention_s
        while self._jobs:
            oldest = next(iter(self._jobs.values()))
            if oldest.state in ("queued", "running"):
                break
            if len(self._jobs) <= self._jobs_kept and (oldest.finished_at or 0.0) >= expired_before:
                break
            self._jobs.popitem(last=False)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.counts())
        with self._lock:
            waiting = [job.created_at for job in self._jobs.values() if job.state == "queued"]
        metrics.set_queue("serve_jobs", len(waiting), time.time() - min(waiting) if waiting else 0.0)


__all__ = ["INTERRUPTED", "STATES", "Job", "QueueFull", "Writer", "judge_stale", "process_owner"]
