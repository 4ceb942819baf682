"""The local streaming engine: one ingest run over listings, with stages joined by bounded queues.

    run = IngestRun(store, ledger, embedder, chunker, cache, settings, report, progress)
    run.delete_missing(listing)      # vanished files first, so copies of them come back this run
    run.ingest_listings([listing])
    run.finish()                     # every batch embedded and written, derived indexes flushed

Where each stage runs:

    coordinator thread          parse pool (processes)        embedder thread
    ------------------          ----------------------        ---------------
    list, skip unchanged,  ──►  parse, clean, chunk,     ──►  (results back, in submission order)
    read bytes                  MinHash signature
    dedup (exact + LSH),
    cache lookup, batch    ──────────────── bounded queue ──►  embed the cache misses
    write (one SQLite      ◄──────────────── done queue ─────  (owns the model and its threads)
    transaction per batch)

Backpressure: at most ``parse_window`` parse tasks are in flight and at most ``embed_queue``
batches wait for the embedder; the coordinator blocks (writing finished batches meanwhile)
when either is full, so memory stays bounded whatever the corpus size.

Determinism: items are processed in uri order and parse results are consumed in submission
order, so the store's contents do not depend on the order the input was given in or on which
worker finished first. Crash safety: a batch's chunks, vectors, cache rows, deletions, ledger
rows and near-dup signatures commit in one SQLite transaction (the local store with its default
state), or the store's write commits first and then the state's (``ragline.state.commit_scope``),
and batches commit in order, so the ledger never runs ahead of the store.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragline._faults import crashpoint
from ragline.chunk import Chunker
from ragline.embed.base import Embedder
from ragline.errors import RaglineError, SourceError
from ragline.ids import content_hash, make_doc_id
from ragline.neardup import NearDupConfig, similarity
from ragline.parse.detect import EXTENSIONS
from ragline.parse_stage import (
    DocUnit,
    FileTask,
    ParseStage,
    RecordsTask,
    TaskResult,
    _init_worker,
    _run_in_worker,
)
from ragline.records import Chunk, Document, FailedItem, IngestReport, NotARegularFile, Outcome, SourceItem
from ragline.settings import default
from ragline.sources._files import MAX_KEPT_RECORD_PROBLEMS, dump_problems, load_problems, stream_hash, uri_exists
from ragline.sources.folder import Listing
from ragline.sources.jsonl import JsonlRecord, iter_jsonl_records
from ragline.state import EmbeddingCacheState, LedgerState, State, commit_scope, open_state
from ragline.state.base import PrefetchingLedger, PrefetchingNearDup
from ragline.store.base import SyncableIndexes

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class IngestSettings:
    """One run's knobs; every default (and what it is for) is in ``ragline.settings.IngestSection``."""

    max_file_bytes: int = default("ingest.max_file_bytes")
    batch_chunks: int = default("ingest.batch_chunks")
    retry_failed_reads: bool = default("ingest.retry_failed_reads")
    parse_workers: int | None = default("ingest.parse_workers")
    pool_after: int = default("ingest.pool_after")
    records_per_task: int = default("ingest.records_per_task")
    embed_queue: int = default("ingest.embed_queue")
    near_dup: NearDupConfig = field(default_factory=NearDupConfig)
    max_doc_chars: int = default("ingest.max_doc_chars")
    index_every_chunks: int = default("ingest.index_every_chunks")
    index_every_s: float = default("ingest.index_every_s")


def _return_free_heap() -> None:
    """Give the heap a catch-up freed back to the OS. glibc keeps freed small blocks in its
    arenas, and each catch-up frees many (rows, texts, vectors): measured on 50k chunks synced
    every 8k, the RSS after the run was 356 MiB without this and 255 MiB with it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        pass


# ----- coordinator-side bookkeeping ------------------------------------------------------------
@dataclass
class _FileContext:
    item: SourceItem
    version: str
    kind: str | None
    previous: set[str] = field(default_factory=set)  # doc ids this file produced last time
    seen: set[str] = field(default_factory=set)
    jsonl: bool = False
    failed: set[str] = field(default_factory=set)  # JSONL: doc ids of records that failed to parse
    record_errors: list[FailedItem] = field(default_factory=list)  # JSONL: bad lines, kept for re-runs
    record_errors_total: int = 0


@dataclass
class _PendingDoc:
    doc: Document
    text_hash: str
    file_uri: str
    chunks: list[Chunk]
    old_chunk_ids: tuple[str, ...]
    outcome: Outcome
    duplicate_of: str | None = None
    signature: np.ndarray | None = None


@dataclass
class _Batch:
    seq: int = 0
    docs: list[_PendingDoc] = field(default_factory=list)
    # item, version, kind, the file's per-record problems (JSONL; reported again on unchanged re-runs)
    files: list[tuple[SourceItem, str, str, str | None]] = field(default_factory=list)
    deleted_docs: list[str] = field(default_factory=list)
    n_chunks: int = 0
    # filled when dispatched to the embedder
    chunks: list[Chunk] = field(default_factory=list)
    cached: dict[int, np.ndarray] = field(default_factory=dict)
    to_embed: list[int] = field(default_factory=list)   # positions whose text this batch embeds
    fresh: np.ndarray | None = None
    error: BaseException | None = None
    embed_seconds: float = 0.0


class _EmbedWorker(threading.Thread):
    """Owns the embedder: takes batches from a bounded queue, embeds their cache misses."""

    def __init__(self, embedder: Embedder, maxsize: int):
        super().__init__(name="ragline-embed", daemon=True)
        self.embedder = embedder
        self.inbox: queue.Queue[_Batch | None] = queue.Queue(maxsize=maxsize)
        self.outbox: queue.Queue[_Batch] = queue.Queue()
        self.busy = 0.0

    def run(self) -> None:
        while (batch := self.inbox.get()) is not None:
            started = time.perf_counter()
            try:
                if batch.to_embed:
                    batch.fresh = self.embedder.embed([batch.chunks[i].text for i in batch.to_embed])
                    crashpoint("embed")
            except BaseException as exc:  # noqa: BLE001 - handed to the coordinator, which decides
                batch.error = exc
            batch.embed_seconds = time.perf_counter() - started
            self.busy += batch.embed_seconds
            self.outbox.put(batch)


class IngestRun:
    def __init__(self, store: Any, ledger: LedgerState, embedder: Embedder, chunker: Chunker,
                 cache: EmbeddingCacheState, settings: IngestSettings, report: IngestReport,
                 progress: Progress | None = None, *, state: State | None = None):
        self.store, self.ledger, self.embedder, self.chunker = store, ledger, embedder, chunker
        self.cache, self.settings, self.report = cache, settings, report
        self.progress = progress or (lambda stage, n: None)
        self.stage_seconds: dict[str, float] = {}
        self.stage_items: dict[str, int] = {}
        self.parse_stage = ParseStage(chunker, ledger.namespace, settings.max_file_bytes, settings.near_dup,
                                      settings.max_doc_chars)
        # None: the local store's own file (what the ledger and cache given were opened on).
        self.state = state or open_state(None, store)
        self.near = self.state.near_dup(ledger.namespace, settings.near_dup) if settings.near_dup.enabled \
            else None
        workers = settings.parse_workers
        self.workers = max(1, (os.cpu_count() or 2) // 2) if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._pool_workers = 0
        self._tasks_submitted = 0
        self._inflight: deque[tuple[Future[TaskResult] | TaskResult, _FileContext, bool]] = deque()
        self.batch = _Batch()
        self._dispatch_seconds = 0.0
        self._next_seq = 1
        self._unwritten: deque[_Batch] = deque()         # dispatched, not yet written, in order
        self._pending_hashes: dict[str, _PendingDoc] = {}  # dedup keys of unwritten documents
        self._pending_bands: dict[tuple[int, int], list[_PendingDoc]] = {}  # LSH of unwritten originals
        self._embedding: dict[str, int] = {}               # text hash -> batch seq embedding it
        self._embed_worker = _EmbedWorker(embedder, settings.embed_queue)
        self._embed_worker.start()
        self.started = time.perf_counter()
        self._unindexed = 0                                # changes written since the last sync
        self._indexed_at = self.started

    # ----- timing ----------------------------------------------------------------------------
    def _timed(self, stage: str, started: float, items: int = 0) -> None:
        self._add_stage(stage, time.perf_counter() - started, items)

    def _add_stage(self, stage: str, seconds: float, items: int = 0) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
        self.stage_items[stage] = self.stage_items.get(stage, 0) + items

    def stage_report(self) -> dict[str, Any]:
        wall = max(time.perf_counter() - self.started, 1e-9)
        stages = {name: {"busy_s": round(seconds, 3), "items": self.stage_items.get(name, 0),
                         "items_per_s": round(self.stage_items.get(name, 0) / seconds, 1) if seconds else None}
                  for name, seconds in self.stage_seconds.items()}
        return {"wall_s": round(wall, 3), "stages": stages, "parse_workers": self._pool_workers,
                "embedder_busy_fraction": round(self._embed_worker.busy / wall, 3)}

    # ----- failures are data -----------------------------------------------------------------
    def _fail(self, item: SourceItem, stage: str, reason: str, *, skipped: bool = False,
              record: bool = True) -> None:
        if skipped:
            self.report.count(Outcome.SKIPPED)
            self.report.skipped.append(FailedItem(item.uri, stage, reason))
        else:
            self.report.fail(item.uri, stage, reason)
        if record:
            with self.state.transaction():
                self.ledger.record_file(item.uri, item.stat_key, None, "skipped" if skipped else "failed",
                                        stage=stage, error=reason)
                # Recorded when first seen (or changed), not on every unchanged re-run.
                self.ledger.dead_letter(item.uri, stage, reason)
        self.progress("failed", 1)

    def _drop_documents_of(self, uri: str) -> None:
        """A file that can no longer be ingested must not keep serving its old chunks."""
        previous = self.ledger.doc_ids_of_file(uri)
        if previous:
            self.batch.deleted_docs.extend(sorted(previous))
            self._dispatch()

    # ----- reading (coordinator) ---------------------------------------------------------------
    def ingest_listings(self, listings: Iterable[Listing]) -> None:
        items: dict[str, SourceItem] = {}
        skipped: dict[str, FailedItem] = {}
        for listing in listings:
            for error in listing.errors:  # e.g. a folder that cannot be listed
                self.report.fail(error.uri, error.stage, error.reason)
                last = self.ledger.last_dead_letter(error.uri)
                if last is None or tuple(last) != (error.stage, error.reason):
                    with self.state.transaction():
                        self.ledger.dead_letter(error.uri, error.stage, error.reason)
            for entry in listing.skipped:
                skipped.setdefault(entry.uri, entry)
            for item in listing.items:
                items.setdefault(item.uri, item)
        for uri in sorted(skipped):
            self._skip_listed(skipped[uri])
        for uri in sorted(items):  # uri order: the result never depends on the input's order
            self.ingest_file(items[uri])
            self.progress("files", 1)

    def _skip_listed(self, entry: FailedItem) -> None:
        """An entry the source saw but cannot ingest (FIFO, device, dangling link, ...)."""
        known = self.ledger.file(entry.uri)
        if known is not None and known.state == "skipped" and known.error == entry.reason:
            self.report.count(Outcome.SKIPPED)
            self.report.skipped.append(entry)
            return
        self._fail(SourceItem(uri=entry.uri), entry.stage, entry.reason, skipped=True)
        self._drop_documents_of(entry.uri)

    def ingest_file(self, item: SourceItem) -> None:
        known = self.ledger.file(item.uri)
        if known is not None and known.stat_key == item.stat_key and item.stat_key:
            retry = known.state == "failed" and known.stage == "read" and self.settings.retry_failed_reads
            if not retry:
                self._report_unchanged(item, known)
                return
        suffix = Path(item.uri).suffix.lower()
        limit = self.settings.max_file_bytes
        jsonl = EXTENSIONS.get(suffix) == "jsonl"
        started = time.perf_counter()
        try:
            if jsonl:
                # Hashed in blocks: a JSONL file of any size never sits in memory.
                version, head = stream_hash(item)
                jsonl = not head.startswith(b"%PDF-")
            if not jsonl:
                if item.size > limit:  # from the listing's stat: nothing is read
                    self._too_large(item, item.size)
                    return
                data = item.read_bytes(limit=limit)
                if len(data) > limit:  # grew since the listing
                    self._too_large(item, len(data))
                    return
                version = content_hash(data)
        except FileNotFoundError:
            self._fail(item, "read", "file vanished during the run", record=False)
            return
        except (NotARegularFile, IsADirectoryError, SourceError):
            self._fail(item, "list", "not a regular file (replaced since the listing)", skipped=True)
            self._drop_documents_of(item.uri)
            return
        except OSError as exc:
            self._fail(item, "read", f"cannot read file: {exc.strerror or type(exc).__name__}")
            return
        finally:
            self._timed("read", started, 1)
        self.progress("read", 1)
        if known is not None and known.version == version and known.state in ("stored", "skipped"):
            with self.state.transaction():  # touched but identical: remember the new stat key
                self.ledger.record_file(item.uri, item.stat_key, version, known.state,
                                        stage=known.stage, error=known.error)
            self._report_unchanged(item, known)
            return
        previous = self.ledger.doc_ids_of_file(item.uri)
        if jsonl:
            self._submit_jsonl(item, version, previous)
        else:
            context = _FileContext(item, version, None, previous)
            self._submit(FileTask(item.uri, data, version, dict(item.metadata)), context, last=True)

    def _too_large(self, item: SourceItem, size: int) -> None:
        limit = self.settings.max_file_bytes
        self._fail(item, "too_large", f"file too large: {size / 2**20:.1f} MiB > limit {limit / 2**20:.1f} MiB "
                                      "(raise --max-file-size to ingest it)")
        self._drop_documents_of(item.uri)

    def _report_unchanged(self, item: SourceItem, known: Any) -> None:
        if known.state == "failed":
            self.report.fail(item.uri, known.stage or "parse", f"{known.error} (unchanged since last run)")
        elif known.state == "skipped":
            self.report.count(Outcome.SKIPPED)
            self.report.skipped.append(FailedItem(item.uri, known.stage or "detect", known.error or ""))
        else:
            # (a JSONL file whose every line is bad holds no document: 0, its lines are failures)
            n = self.ledger.count_documents_of_file(item.uri)
            self.report.count(Outcome.UNCHANGED, n)
            self.progress("unchanged", n)
            for problem in load_problems(known.error):  # a JSONL file's bad lines, every run
                self.report.fail(problem.uri, problem.stage, problem.reason)

    def _submit_jsonl(self, item: SourceItem, version: str, previous: set[str]) -> None:
        """Records are streamed from the file and sent in groups; unchanged records are not sent.

        The first record with a given id wins; later ones with the same id are reported and
        ignored, so two versions of one document never both reach the store."""
        context = _FileContext(item, version, "jsonl", previous, jsonl=True)
        group: list[tuple[JsonlRecord, str]] = []
        started = time.perf_counter()
        try:
            with item.open() as stream:
                for record in iter_jsonl_records(stream, item.uri, max_record_bytes=self.settings.max_file_bytes):
                    if record.error:
                        self._record_problem(context, FailedItem(record.uri, "parse", record.error))
                        continue
                    doc_id = make_doc_id(self.ledger.namespace, record.uri)
                    if doc_id in context.seen:
                        self._record_problem(context, FailedItem(
                            f"{item.uri}#line={record.line}", "parse",
                            f"duplicate id {record.metadata['record_id']!r} on line {record.line}: "
                            "the first record with this id is kept, this one is ignored"))
                        continue
                    context.seen.add(doc_id)
                    record_version = content_hash(
                        f"{record.title}\x1f{record.text}\x1f{sorted({**item.metadata, **record.metadata}.items())}")
                    known = self.ledger.document(doc_id)
                    if known is not None and known.version == record_version:
                        self.report.count(Outcome.UNCHANGED)
                        continue
                    group.append((record, record_version))
                    if len(group) >= self.settings.records_per_task:
                        self._timed("read", started)
                        self._submit(RecordsTask(group, dict(item.metadata)), context, last=False)
                        group, started = [], time.perf_counter()
        except OSError as exc:
            # The file went away or broke mid-stream: recorded as a failed read (retried next
            # run); without the file's last task, none of its documents is deleted.
            self._timed("read", started)
            self._fail(item, "read", f"cannot read file: {exc.strerror or type(exc).__name__}")
            return
        self._timed("read", started)
        self._submit(RecordsTask(group, dict(item.metadata)), context, last=True)

    def _record_problem(self, context: _FileContext, problem: FailedItem) -> None:
        self.report.fail(problem.uri, problem.stage, problem.reason)
        context.record_errors_total += 1
        if len(context.record_errors) < MAX_KEPT_RECORD_PROBLEMS:
            context.record_errors.append(problem)

    # ----- the parse stage: bounded, ordered -------------------------------------------------
    def _submit(self, task: FileTask | RecordsTask, context: _FileContext, *, last: bool) -> None:
        self._tasks_submitted += 1
        if self._pool is None and self.workers > 0 and self._tasks_submitted >= self.settings.pool_after:
            self._start_pool()
        if self._pool is None:
            self._inflight.append((self.parse_stage(task), context, last))
        else:
            self._inflight.append((self._pool.submit(_run_in_worker, task), context, last))
        window = 2 * self.workers + 2
        while len(self._inflight) > (window if self._pool else 0):
            self._consume_head()

    def _start_pool(self) -> None:
        try:
            pickle.dumps(self.parse_stage)
        except Exception:  # noqa: BLE001 - a tokenizer that cannot travel: parse on this thread instead
            self.workers = 0
            return
        self._pool_workers = self.workers
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_init_worker, initargs=(self.parse_stage,))

    def _consume_head(self) -> None:
        pending, context, last = self._inflight.popleft()
        started = time.perf_counter()
        result = pending.result() if isinstance(pending, Future) else pending
        self._timed("wait_parse", started)
        for stage, seconds in result.seconds.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
        self.stage_items["parse"] = self.stage_items.get("parse", 0) + len(result.units)
        self.stage_items["chunk"] = self.stage_items.get("chunk", 0) + sum(len(u.chunks) for u in result.units)
        self._accept(result, context, last)
        self._collect_written(block=False)

    def _accept(self, result: TaskResult, context: _FileContext, last: bool) -> None:
        item = context.item
        if not context.jsonl:
            if result.errors:
                error = result.errors[0]
                self._fail(item, error.stage, error.reason, skipped=error.skipped)
                if error.drop_documents and context.previous:
                    self.batch.deleted_docs.extend(sorted(context.previous))
                    self._dispatch()
                return
            crashpoint("parse")
            self.progress("parsed", 1)
            context.kind = result.kind
            for warning in result.warnings:
                self.report.warnings.append(FailedItem(item.uri, "parse", warning))
            if result.needs_ocr:
                self.report.needs_ocr.append(item.uri)
        else:
            for error in result.errors:
                # A record that no longer parses must not keep serving its old chunks.
                context.failed.add(make_doc_id(self.ledger.namespace, error.uri))
                self._record_problem(context, FailedItem(error.uri, error.stage, error.reason))
        started, nested = time.perf_counter(), self._dispatch_seconds
        if result.units:  # a state behind a round trip answers the file's documents at once
            if isinstance(self.ledger, PrefetchingLedger):
                self.ledger.prefetch_documents([u.doc.doc_id for u in result.units],
                                               [u.text_hash for u in result.units])
            if isinstance(self.near, PrefetchingNearDup):
                self.near.prefetch_candidates([u.signature for u in result.units if u.signature is not None])
        for unit in result.units:
            context.seen.add(unit.doc.doc_id)
            self._add_document(unit, item.uri)
        # Dispatching (and the writes it may wait for) is accounted to its own stages.
        self._add_stage("dedup", time.perf_counter() - started - (self._dispatch_seconds - nested))
        if last:
            if context.jsonl:
                self.progress("parsed", 1)
            problems = dump_problems(context.record_errors, context.record_errors_total)
            self.batch.files.append((item, context.version, context.kind or "unknown", problems))
            self.batch.deleted_docs.extend(sorted(context.previous - (context.seen - context.failed)))
            if len(self.batch.files) >= 256:
                self._dispatch()

    # ----- dedup and batching (coordinator) ----------------------------------------------------
    def _add_document(self, unit: DocUnit, file_uri: str) -> None:
        doc = unit.doc
        known = self.ledger.document(doc.doc_id)
        if known is not None and known.version == doc.version:
            self.report.count(Outcome.UNCHANGED)
            return
        outcome = Outcome.CHANGED if known is not None else Outcome.NEW
        old_ids = known.chunk_ids if known else ()
        original = self._exact_original(unit)
        similarity_score = None
        if original is None and unit.signature is not None and self.near is not None:
            near = self._near_original(unit)
            if near is not None:
                original, similarity_score = near
        if original is not None and original[0] != doc.doc_id:
            if similarity_score is None:
                self.report.duplicates[doc.uri] = original[1]
            else:
                self.report.near_duplicates[doc.uri] = {"original": original[1],
                                                        "similarity": round(similarity_score, 3)}
            pending = _PendingDoc(doc, unit.text_hash, file_uri, [], old_ids, Outcome.DUPLICATE,
                                  duplicate_of=original[0])
            self.batch.docs.append(pending)
            return
        pending = _PendingDoc(doc, unit.text_hash, file_uri, unit.chunks, old_ids, outcome,
                              signature=unit.signature)
        self._pending_hashes[unit.text_hash] = pending
        if unit.signature is not None and self.near is not None:
            for band in enumerate(self.near.band_keys(unit.signature)):
                self._pending_bands.setdefault(band, []).append(pending)
        self.batch.docs.append(pending)
        self.batch.n_chunks += len(unit.chunks)
        self.progress("chunks", len(unit.chunks))
        if self.batch.n_chunks >= self.settings.batch_chunks:
            self._dispatch()

    def _exact_original(self, unit: DocUnit) -> tuple[str, str] | None:
        pending = self._pending_hashes.get(unit.text_hash)
        if pending is not None and pending.doc.doc_id != unit.doc.doc_id:
            return pending.doc.doc_id, pending.doc.uri
        record = self.ledger.original_of(unit.text_hash, unit.doc.doc_id)
        return (record.doc_id, record.uri) if record else None

    def _near_original(self, unit: DocUnit) -> tuple[tuple[str, str], float] | None:
        assert self.near is not None and unit.signature is not None
        best: tuple[tuple[str, str], float] | None = None
        candidates: dict[int, _PendingDoc] = {}
        for band in enumerate(self.near.band_keys(unit.signature)):  # unwritten originals
            for pending in self._pending_bands.get(band, ()):
                candidates[id(pending)] = pending
        for pending in candidates.values():
            if pending.doc.doc_id == unit.doc.doc_id or pending.signature is None:
                continue
            score = similarity(unit.signature, pending.signature)
            if score >= self.near.config.threshold and (best is None or score > best[1]):
                best = ((pending.doc.doc_id, pending.doc.uri), score)
        stored = self.near.query(unit.doc.doc_id, unit.signature)
        if stored is not None and (best is None or stored[1] > best[1]):
            record = self.ledger.document(stored[0])
            if record is not None and record.duplicate_of is None:
                best = ((record.doc_id, record.uri), stored[1])
        return best

    # ----- embed (handed to the embedder thread) ---------------------------------------------
    def _dispatch(self) -> None:
        started = time.perf_counter()
        try:
            self._dispatch_batch()
        finally:
            self._dispatch_seconds += time.perf_counter() - started

    def _dispatch_batch(self) -> None:
        batch, self.batch = self.batch, _Batch()
        if not (batch.docs or batch.files or batch.deleted_docs):
            return
        batch.seq, self._next_seq = self._next_seq, self._next_seq + 1
        batch.chunks = [c for p in batch.docs for c in p.chunks]
        started = time.perf_counter()
        hashes = [c.content_hash for c in batch.chunks]
        if hashes:
            batch.cached, missing = self.cache.lookup(hashes)
            self.report.cache_hits += len(batch.cached)
            claimed: set[str] = set()
            for i in missing:  # each distinct text is embedded once in the whole run
                h = hashes[i]
                if h in claimed:
                    continue
                if h not in self._embedding:  # else an earlier batch embeds it; read from cache
                    claimed.add(h)
                    self._embedding[h] = batch.seq
                    batch.to_embed.append(i)
        self._timed("cache", started, len(hashes))
        self._unwritten.append(batch)
        while True:
            try:
                self._embed_worker.inbox.put(batch, timeout=0.05)
                break
            except queue.Full:
                self._collect_written(block=True)

    def _collect_written(self, *, block: bool) -> None:
        """Write every batch the embedder has finished (at least one if ``block``)."""
        while self._unwritten:
            waited = time.perf_counter()
            try:
                batch = self._embed_worker.outbox.get(block=block, timeout=None)
            except queue.Empty:
                return
            if block:  # the coordinator idles until the embedder finishes a batch
                self._add_stage("wait_embed", time.perf_counter() - waited)
            assert batch is self._unwritten[0], "batches come back in order"
            self._unwritten.popleft()
            self._write(batch)
            block = False

    def drain(self) -> None:
        """Dispatch what is pending and wait until every batch is embedded and written."""
        while self._inflight:
            self._consume_head()
        self._dispatch()
        while self._unwritten:
            self._collect_written(block=True)

    # ----- write (coordinator; one transaction per batch) --------------------------------------
    def _vectors(self, batch: _Batch) -> np.ndarray | None:
        if not batch.chunks:
            return None
        if batch.error is not None:
            raise batch.error
        hashes = [c.content_hash for c in batch.chunks]
        vectors: list[np.ndarray | None] = [batch.cached.get(i) for i in range(len(hashes))]
        if batch.to_embed:
            assert batch.fresh is not None
            self._add_stage("embed", batch.embed_seconds, len(batch.to_embed))
            by_hash = {hashes[i]: batch.fresh[row] for row, i in enumerate(batch.to_embed)}
            for i, h in enumerate(hashes):
                if vectors[i] is None and h in by_hash:
                    vectors[i] = by_hash[h]
            self.cache.store(list(by_hash), batch.fresh)
            self.report.chunks_embedded += len(batch.to_embed)
            self.report.tokens_embedded += sum(batch.chunks[i].token_count for i in batch.to_embed)
            self.progress("embedded", len(batch.to_embed))
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:  # embedded by an earlier batch (now in the cache), or that batch failed
            found, still = self.cache.lookup([hashes[i] for i in missing])
            for j, i in enumerate(missing):
                vectors[i] = found.get(j)
            if still:
                texts = {hashes[missing[j]]: batch.chunks[missing[j]].text for j in still}
                fresh = self.embedder.embed(list(texts.values()))
                self.cache.store(list(texts), fresh)
                by_hash = dict(zip(texts, fresh))
                for j in still:
                    vectors[missing[j]] = by_hash[hashes[missing[j]]]
                self.report.chunks_embedded += len(texts)
        return np.vstack(vectors).astype(np.float32)  # type: ignore[arg-type]

    def _write(self, batch: _Batch) -> None:
        try:
            vectors = self._vectors(batch)
        except RaglineError as exc:
            # Nothing of this batch is written: its files stay unrecorded, so the next run retries.
            with self.state.transaction():
                for pending in batch.docs:
                    self.report.fail(pending.doc.uri, "embed", str(exc))
                    self.ledger.dead_letter(pending.doc.uri, "embed", str(exc))
            return
        finally:
            self._release(batch)
        started = time.perf_counter()
        with commit_scope(self.store, self.state) as removals:
            offset = 0
            for pending in batch.docs:
                doc, n = pending.doc, len(pending.chunks)
                new_ids = {c.chunk_id for c in pending.chunks}
                if n:
                    assert vectors is not None
                    self.report.chunks_written += self.store.upsert(pending.chunks, vectors[offset:offset + n])
                    offset += n
                # Removed only after the ledger marks the new version stored (the commit protocol).
                removals.replace(doc.doc_id, [cid for cid in pending.old_chunk_ids if cid not in new_ids])
                self.ledger.record_document(
                    doc_id=doc.doc_id, uri=doc.uri, file_uri=pending.file_uri, version=doc.version,
                    text_hash=pending.text_hash, title=doc.title, kind=doc.kind,
                    duplicate_of=pending.duplicate_of, chunk_ids=[c.chunk_id for c in pending.chunks],
                    metadata={k: v for k, v in doc.metadata.items() if k != "uri"})
                if self.near is not None:
                    if pending.signature is not None and pending.duplicate_of is None:
                        self.near.add(doc.doc_id, pending.signature)
                    else:
                        self.near.remove([doc.doc_id])
                self.report.count(pending.outcome)
            if batch.deleted_docs:
                removals.drop(batch.deleted_docs)
                self.ledger.remove_documents(batch.deleted_docs)
                if self.near is not None:
                    self.near.remove(batch.deleted_docs)
                self.report.count(Outcome.DELETED, len(batch.deleted_docs))
            for item, version, kind, problems in batch.files:
                self.ledger.record_file(item.uri, item.stat_key, version, "stored", kind=kind, error=problems)
        self.report.chunks_deleted += removals.removed
        self._timed("write", started, len(batch.chunks))
        self.progress("written", len(batch.chunks))
        self._unindexed += len(batch.chunks) + len(batch.deleted_docs)
        self._maybe_sync_indexes()

    def _maybe_sync_indexes(self) -> None:
        """Catch the derived indexes up every ``index_every_chunks`` changes or ``index_every_s``
        seconds, so the memory that indexing takes is bounded by the step, not by the run."""
        if not self._unindexed or not isinstance(self.store, SyncableIndexes):
            return
        if (self._unindexed < self.settings.index_every_chunks
                and time.perf_counter() - self._indexed_at < self.settings.index_every_s):
            return
        started = time.perf_counter()
        self.store.sync()
        _return_free_heap()
        self._timed("index", started)
        self._unindexed, self._indexed_at = 0, time.perf_counter()

    def _release(self, batch: _Batch) -> None:
        for pending in batch.docs:
            if self._pending_hashes.get(pending.text_hash) is pending:
                del self._pending_hashes[pending.text_hash]
            if pending.signature is not None and self.near is not None:
                for band in enumerate(self.near.band_keys(pending.signature)):
                    left = [p for p in self._pending_bands.get(band, ()) if p is not pending]
                    if left:
                        self._pending_bands[band] = left
                    else:
                        self._pending_bands.pop(band, None)
        for i in batch.to_embed:
            h = batch.chunks[i].content_hash
            if self._embedding.get(h) == batch.seq:
                del self._embedding[h]

    # ----- deletes of vanished files, end of run -------------------------------------------------
    def delete_missing(self, listing: Listing) -> None:
        """Delete documents of files that were ingested from this root and no longer exist."""
        if not listing.complete:
            return  # an unlistable directory must not be mistaken for deleted files
        listed = {item.uri for item in listing.items} | {entry.uri for entry in listing.skipped}
        for record in self.ledger.files_under(listing.root_uri):
            if record.uri in listed or uri_exists(record.uri):
                continue
            docs = list(self.ledger.documents_of_file(record.uri))
            with commit_scope(self.store, self.state) as removals:
                if docs:
                    removals.drop(docs)
                    self.ledger.remove_documents(docs)
                    if self.near is not None:
                        self.near.remove(docs)
                    self.report.count(Outcome.DELETED, len(docs))
                self.ledger.forget_file(record.uri)
            self.report.chunks_deleted += removals.removed

    def finish(self) -> None:
        self.drain()
        started = time.perf_counter()
        self.store.flush()
        self._timed("index", started)
        self.close()

    def close(self) -> None:
        if self._embed_worker.is_alive():
            self._embed_worker.inbox.put(None)
            self._embed_worker.join()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
