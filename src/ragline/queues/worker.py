"""The queue worker: takes source references from a queue and ingests them through
``Engine.ingest_items`` (the same stages as ``ragline ingest``), acknowledging each only after the
store and the state hold its result. At-least-once delivery is safe because the ingest is
idempotent (chunk ids are content ids; an unchanged file costs a ledger lookup)."""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

from ragline import metrics
from ragline.errors import RaglineError
from ragline.logs import request_id
from ragline.queues.base import BacklogQueue, Message, Queue
from ragline.records import IngestReport, SourceItem

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class WorkerStats:
    acked: int = 0
    retried: int = 0  # failed deliveries left pending for another try
    dead: int = 0
    sources: list[str] = field(default_factory=list)
    # Summed over this worker's ingest reports: documents by outcome and seconds by stage.
    documents: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def add_report(self, report: IngestReport) -> None:
        for outcome, n in report.counts.items():
            self.documents[outcome] = self.documents.get(outcome, 0) + n
        for stage, seconds in report.stage_seconds.items():
            self.stage_seconds[stage] = round(self.stage_seconds.get(stage, 0.0) + seconds, 3)

    def to_dict(self) -> dict[str, object]:
        return {"acked": self.acked, "retried": self.retried, "dead": self.dead, "documents": self.documents,
                "stage_seconds": self.stage_seconds}


def source_path(source: str) -> Path:
    """A published reference as a path: ``file://`` URIs and plain absolute paths."""
    if source.startswith("file://"):
        return Path(unquote(urlsplit(source).path))
    return Path(source)


def source_references(paths: Sequence[Path]) -> tuple[list[str], list[str], list[str]]:
    """What ``enqueue`` publishes for ``paths``: the absolute paths of the files under them, the
    folder each was found in (a worker names the document relative to it, as ``ragline ingest
    ROOT`` does), and the entries the listing skipped, with why."""
    from ragline.sources.folder import FolderSource

    found: list[str] = []
    roots: list[str] = []
    skipped: list[str] = []
    for path in paths:
        listing = FolderSource(Path(path)).list()
        # A folder's files are listed under its real path; a file given on its own is named by itself.
        root = os.path.realpath(path) if Path(path).is_dir() else ""
        for item in listing.items:
            found.append(str(item.path) if item.path is not None else item.uri)
            roots.append(root)
        skipped += [f"{item.uri}: {item.reason}" for item in listing.skipped]
    return found, roots, skipped


def _source_items(message: Message) -> list[SourceItem]:
    """The file a message references, as a folder listing of ``message.root`` would give it
    (the same uri, fingerprint and relative ``path``). A missing or unreadable file raises."""
    from ragline.errors import SourceError
    from ragline.sources.folder import FolderSource, display_path

    path = source_path(message.source)
    listing = FolderSource(path).list()
    if listing.skipped:
        raise SourceError("; ".join(entry.reason for entry in listing.skipped))
    items = []
    for item in listing.items:
        if message.root and item.path is not None:
            relative = os.path.relpath(item.path, message.root)
            if not relative.startswith(".."):
                item = replace(item, metadata={**item.metadata, "path": display_path(relative)})
        items.append(item)
    return items


def default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _failures(engine: object, messages: Sequence[Message], stats: WorkerStats) -> dict[str, str]:
    """Ingest these messages' files; the error of each that failed, by message id."""
    failures: dict[str, str] = {}
    items: list[tuple[Message, SourceItem]] = []
    for message in messages:
        try:
            items += [(message, item) for item in _source_items(message)]
        except (RaglineError, OSError) as exc:
            failures[message.id] = f"{type(exc).__name__}: {exc}"
    if not items:
        return failures
    try:
        report = engine.ingest_items([item for _, item in items])  # type: ignore[attr-defined]
    except (RaglineError, OSError) as exc:
        batch = list(dict.fromkeys(message for message, _ in items))
        if len(batch) == 1:
            return {**failures, batch[0].id: f"{type(exc).__name__}: {exc}"}
        for message in batch:  # one bad reference must not fail its batch
            failures.update(_failures(engine, [message], stats))
        return failures
    stats.add_report(report)
    metrics.record_ingest_report(report)
    failed = {item.uri: f"{item.stage}: {item.reason}" for item in report.failed}
    for message, item in items:
        if item.uri in failed:
            failures[message.id] = failed[item.uri]
    return failures


def observe_backlog(queue: Queue) -> None:
    """Set the queue depth and lag gauges (queues that can tell; a failure to ask is not fatal)."""
    if not isinstance(queue, BacklogQueue):
        return
    try:
        depth, lag = queue.backlog()
    except Exception:  # noqa: BLE001 - metrics must never stop the worker; receive() will report
        return
    metrics.set_queue(queue.name, depth, lag)


def _own_context(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` in a copy of the caller's context, so the request ids it sets per batch
    (``ragline.logs.request_id``) never leak into the caller's later logs."""
    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return contextvars.copy_context().run(function, *args, **kwargs)
    return run


@_own_context
def run_worker(queue: Queue, engine: object, *, consumer: str | None = None, max_deliveries: int = 3,
               idle_ms: int = 60_000, batch: int = 16, block_ms: int = 1000, exit_when_empty: bool = False,
               log: Callable[[str], None] | None = None) -> WorkerStats:
    """Consume until stopped (or, with ``exit_when_empty``, until no item is new or pending).

    A delivery whose file failed stays pending and is reclaimed after ``idle_ms`` (by any worker);
    at its ``max_deliveries``-th delivery it goes to the dead letters instead, with its error and
    attempts, and so does an item reclaimed more often than that (its worker keeps dying)."""
    consumer = consumer or default_consumer()
    stats = WorkerStats()
    logger = logging.getLogger("ragline.worker")

    def say(line: str, **fields: object) -> None:
        """To the caller's ``log`` when given, else to the ``ragline.worker`` logger (structured)."""
        if log is not None:
            log(line)
        else:
            logger.warning(line, extra={"consumer": consumer, **fields})

    observed = 0.0
    while True:
        if time.monotonic() - observed >= 1.0:  # depth and lag for the metrics, at most once a second
            observe_backlog(queue)
            observed = time.monotonic()
        messages = queue.receive(consumer, batch, block_ms=min(block_ms, idle_ms), idle_ms=idle_ms)
        if not messages:
            if exit_when_empty and queue.pending() == 0:
                observe_backlog(queue)
                return stats
            time.sleep(0.05 if exit_when_empty else 0)
            continue
        request_id.set(f"{consumer}/{messages[0].id}")  # the JSON logs' id for this batch
        fresh = []
        for message in messages:
            if message.deliveries > max_deliveries:
                queue.dead_letter(message)
                stats.dead += 1
                metrics.DEAD_LETTERS.labels(stage="queue").inc()
                say(f"dead letter: {message.source} (delivered {message.deliveries} times)",
                    event="dead_letter", source=message.source, deliveries=message.deliveries)
            else:
                fresh.append(message)
        failures = _failures(engine, fresh, stats) if fresh else {}
        for message in fresh:
            error = failures.get(message.id)
            if error is None:
                queue.ack(message.id)  # only now: the ingest committed its store and state
                stats.acked += 1
                stats.sources.append(message.source)
            elif message.deliveries >= max_deliveries:
                queue.dead_letter(message, error)
                stats.dead += 1
                metrics.DEAD_LETTERS.labels(stage="queue").inc()
                say(f"dead letter: {message.source}: {error}", event="dead_letter", source=message.source,
                    deliveries=message.deliveries, error=error)
            else:
                queue.record_error(message.id, error)
                stats.retried += 1
                say(f"failed (try {message.deliveries} of {max_deliveries}): {message.source}: {error}",
                    event="retry", source=message.source, deliveries=message.deliveries, error=error)
