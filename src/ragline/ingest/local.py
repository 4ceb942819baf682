"""The local streaming runner: one ingest run over listings, composing the stages with bounded
queues, a parse process pool and an embedder thread. It decides where stages run, nothing else:
planning (``plan``), parsing (``parse_stage``), dedup (``dedup``), embed-with-cache (``embed``)
and commit (``commit``) are units of their own that any other runner calls the same way.

    run = IngestRun(store, ledger, embedder, chunker, cache, settings, report, progress)
    run.delete_missing(listing)      # vanished items first, so copies of them come back this run
    run.ingest_listings([listing])
    run.finish()                     # every batch embedded and written, derived indexes flushed

Where each stage runs:

    coordinator thread          parse pool (processes)        embedder thread
    ------------------          ----------------------        ---------------
    plan, skip unchanged,  ──►  parse, clean, chunk,     ──►  (results back, in submission order)
    read bytes                  MinHash signature
    dedup (exact + LSH),
    cache lookup, batch    ──────────────── bounded queue ──►  embed the cache misses
    commit (one scope      ◄──────────────── done queue ─────  (owns the model and its threads)
    per batch)

Backpressure: at most ``2 x workers + 2`` parse tasks are in flight and at most ``embed_queue``
batches wait for the embedder; the coordinator blocks (writing finished batches meanwhile)
when either is full, so memory stays bounded whatever the corpus size.

Determinism: items are processed in uri order (a sequence of items, as ``ingest_items`` gets
them, in the order given) and parse results are consumed in submission order, so the store's
contents do not depend on the order a folder was listed in or on which worker finished first.
Crash safety: batches commit in order through ``commit.commit_batch``, so the ledger never runs
ahead of the store.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from ragline._faults import crashpoint
from ragline.chunk import Chunker
from ragline.embed.base import Embedder
from ragline.errors import RaglineError, SourceError
from ragline.ids import content_hash, make_doc_id
from ragline.ingest._files import FileContext, read_failure, read_limited, return_free_heap
from ragline.ingest.batch import Batch, FileDone, PendingDoc
from ragline.ingest.commit import commit_batch, forget_vanished
from ragline.ingest.dedup import Dedup
from ragline.ingest.embed import CachedEmbedding
from ragline.ingest.plan import (
    Decision,
    decide,
    merge_listings,
    report_unchanged,
    same_content,
    skip_is_known,
    vanished,
)
from ragline.ingest.settings import IngestSettings
from ragline.parse_stage import DocUnit, FileTask, ParseStage, RecordsTask, TaskResult, _init_worker, _run_in_worker
from ragline.records import FailedItem, IngestReport, Outcome, SourceItem
from ragline.sources._files import MAX_KEPT_RECORD_PROBLEMS, dump_problems, uri_exists
from ragline.sources.base import ExpandsRecords, Listing, RecordContainer
from ragline.state import EmbeddingCacheState, LedgerState, State, open_state
from ragline.state.base import PrefetchingLedger, PrefetchingNearDup
from ragline.store.base import SyncableIndexes

__all__ = ["IngestRun", "Progress"]

Progress = Callable[[str, int], None]


class _EmbedWorker(threading.Thread):
    """Owns the embedder: takes batches from a bounded queue, embeds their cache misses."""

    def __init__(self, embedder: Embedder, maxsize: int):
        super().__init__(name="ragline-embed", daemon=True)
        self.embedder = embedder
        self.inbox: queue.Queue[Batch | None] = queue.Queue(maxsize=maxsize)
        self.outbox: queue.Queue[Batch] = queue.Queue()
        self.busy = 0.0

    def run(self) -> None:
        while (batch := self.inbox.get()) is not None:
            started = time.perf_counter()
            try:
                if batch.to_embed:
                    batch.fresh = self.embedder.embed(CachedEmbedding.texts_to_embed(batch))
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
        self.dedup = Dedup(ledger, self.near)
        self.embedding = CachedEmbedding(cache, embedder)
        workers = settings.parse_workers
        self.workers = max(1, (os.cpu_count() or 2) // 2) if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._pool_workers = 0
        self._tasks_submitted = 0
        self._inflight: deque[tuple[Future[TaskResult] | TaskResult, FileContext, bool]] = deque()
        self.batch = Batch()
        self._dispatch_seconds = 0.0
        self._next_seq = 1
        self._unwritten: deque[Batch] = deque()           # dispatched, not yet written, in order
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
        """An item that can no longer be ingested must not keep serving its old chunks."""
        previous = self.ledger.doc_ids_of_file(uri)
        if previous:
            self._delete(sorted(previous))
            self._dispatch()

    # ----- plan and read (coordinator) -----------------------------------------------------------
    def ingest_listings(self, listings: Iterable[Listing]) -> None:
        listings = [_as_container_listing(listing) for listing in listings]
        plan = merge_listings(listings)
        for error in plan.errors:  # e.g. a folder that cannot be listed
            self.report.fail(error.uri, error.stage, error.reason)
            last = self.ledger.last_dead_letter(error.uri)
            if last is None or tuple(last) != (error.stage, error.reason):
                with self.state.transaction():
                    self.ledger.dead_letter(error.uri, error.stage, error.reason)
        for entry in plan.skipped:
            self._skip_listed(entry)
        expanders = {item.uri: listing.source for listing in reversed(listings) for item in listing.items}
        for item in plan.items:  # uri order (a sequence of items: as given), see merge_listings
            self.ingest_file(item, expanders.get(item.uri))
            self.progress("files", 1)

    def _skip_listed(self, entry: FailedItem) -> None:
        """An entry the source saw but cannot ingest (FIFO, device, dangling link, ...)."""
        if skip_is_known(self.ledger.file(entry.uri), entry):
            self.report.count(Outcome.SKIPPED)
            self.report.skipped.append(entry)
            return
        self._fail(SourceItem(uri=entry.uri), entry.stage, entry.reason, skipped=True)
        self._drop_documents_of(entry.uri)

    def ingest_file(self, item: SourceItem, source: Any = None) -> None:
        """Plan, read and hand one listed item to the parse stage (as records if ``source`` says
        the item is a record container)."""
        known = self.ledger.file(item.uri)
        if decide(item, known, retry_failed_reads=self.settings.retry_failed_reads) is Decision.UNCHANGED:
            assert known is not None
            self._report_unchanged(item, known)
            return
        limit = self.settings.max_file_bytes
        container = source.records_in(item, max_record_bytes=limit) if isinstance(source, ExpandsRecords) \
            else None
        started = time.perf_counter()
        try:
            if container is not None:
                version = container.version()  # hashed in blocks: a container never sits in memory
                if not container.holds_records():
                    container = None
            if container is None:
                if item.size > limit:  # from the listing's stat: nothing is read
                    self._too_large(item, item.size)
                    return
                data = read_limited(source, item, limit)
                if len(data) > limit:  # grew since the listing
                    self._too_large(item, len(data))
                    return
                version = content_hash(data)
        except (OSError, SourceError) as exc:
            failure = read_failure(exc)
            self._fail(item, failure.stage, failure.reason, skipped=failure.skipped, record=failure.record)
            if failure.drop_documents:
                self._drop_documents_of(item.uri)
            return
        finally:
            self._timed("read", started, 1)
        self.progress("read", 1)
        if same_content(known, version):
            assert known is not None
            with self.state.transaction():  # touched but identical: remember the new stat key
                self.ledger.record_file(item.uri, item.stat_key, version, known.state,
                                        stage=known.stage, error=known.error)
            self._report_unchanged(item, known)
            return
        previous = self.ledger.doc_ids_of_file(item.uri)
        if container is not None:
            self._submit_records(container, version, previous)
        else:
            context = FileContext(item, version, None, previous)
            self._submit(FileTask(item.uri, data, version, dict(item.metadata)), context, last=True)

    def _too_large(self, item: SourceItem, size: int) -> None:
        limit = self.settings.max_file_bytes
        self._fail(item, "too_large", f"file too large: {size / 2**20:.1f} MiB > limit {limit / 2**20:.1f} MiB "
                                      "(raise --max-file-size to ingest it)")
        self._drop_documents_of(item.uri)

    def _report_unchanged(self, item: SourceItem, known: Any) -> None:
        n = report_unchanged(self.report, self.ledger, item, known)
        if known.state not in ("failed", "skipped"):
            self.progress("unchanged", n)

    def _submit_records(self, container: RecordContainer, version: str, previous: set[str]) -> None:
        """Records are streamed from the container and sent in groups; unchanged records are not
        sent (their version matches the ledger's)."""
        item = container.item
        context = FileContext(item, version, "jsonl", previous, records=True)
        group: list[tuple[Any, str]] = []
        started = time.perf_counter()
        try:
            for record in container.records():
                if record.error:
                    self._record_problem(context, FailedItem(record.uri, "parse", record.error))
                    continue
                doc_id = make_doc_id(self.ledger.namespace, record.uri)
                context.seen.add(doc_id)
                record_version = container.record_version(record)
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

    def _record_problem(self, context: FileContext, problem: FailedItem) -> None:
        self.report.fail(problem.uri, problem.stage, problem.reason)
        context.record_errors_total += 1
        if len(context.record_errors) < MAX_KEPT_RECORD_PROBLEMS:
            context.record_errors.append(problem)

    # ----- the parse stage: bounded, ordered -------------------------------------------------
    def _submit(self, task: FileTask | RecordsTask, context: FileContext, *, last: bool) -> None:
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

    def _accept(self, result: TaskResult, context: FileContext, last: bool) -> None:
        item = context.item
        if not context.records:
            if result.errors:
                error = result.errors[0]
                self._fail(item, error.stage, error.reason, skipped=error.skipped)
                if error.drop_documents and context.previous:
                    self._delete(sorted(context.previous))
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
            if context.records:
                self.progress("parsed", 1)
            problems = dump_problems(context.record_errors, context.record_errors_total)
            self.batch.files.append(FileDone(item, context.version, context.kind or "unknown", problems))
            self._delete(sorted(context.previous - (context.seen - context.failed)))
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
        original = self.dedup.original_of(unit)
        if original is not None:
            if original.similarity is None:
                self.report.duplicates[doc.uri] = original.uri
            else:
                self.report.near_duplicates[doc.uri] = {"original": original.uri,
                                                        "similarity": round(original.similarity, 3)}
            copy = PendingDoc(doc, unit.text_hash, file_uri, [], old_ids, Outcome.DUPLICATE,
                              duplicate_of=original.doc_id)
            self.dedup.hold(copy)  # its stored row (maybe an original) is stale from now on
            self.batch.docs.append(copy)
            return
        pending = PendingDoc(doc, unit.text_hash, file_uri, unit.chunks, old_ids, outcome,
                             signature=unit.signature)
        self.dedup.hold(pending)
        self.batch.docs.append(pending)
        self.batch.n_chunks += len(unit.chunks)
        self.progress("chunks", len(unit.chunks))
        if self.batch.n_chunks >= self.settings.batch_chunks:
            self._dispatch()

    def _delete(self, doc_ids: list[str]) -> None:
        self.batch.deleted_docs.extend(doc_ids)
        self.dedup.claim(doc_ids)  # gone for dedup now, not only once the batch is written

    # ----- embed (handed to the embedder thread) ---------------------------------------------
    def _dispatch(self) -> None:
        started = time.perf_counter()
        try:
            self._dispatch_batch()
        finally:
            self._dispatch_seconds += time.perf_counter() - started

    def _dispatch_batch(self) -> None:
        batch, self.batch = self.batch, Batch()
        if not batch:
            return
        batch.seq, self._next_seq = self._next_seq, self._next_seq + 1
        started = time.perf_counter()
        self.embedding.prepare(batch)
        self.report.cache_hits += len(batch.cached)
        self._timed("cache", started, len(batch.chunks))
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

    # ----- commit (coordinator; batches in order) ------------------------------------------------
    def _embedded(self, n: int, seconds: float) -> None:
        self._add_stage("embed", seconds, n)
        self.progress("embedded", n)

    def _write(self, batch: Batch) -> None:
        try:
            vectors = self.embedding.vectors(batch, self.report, self._embedded)
        except RaglineError as exc:
            # Nothing of this batch is written: its files stay unrecorded, so the next run retries.
            with self.state.transaction():
                for pending in batch.docs:
                    self.report.fail(pending.doc.uri, "embed", str(exc))
                    self.ledger.dead_letter(pending.doc.uri, "embed", str(exc))
            return
        finally:
            for pending in batch.docs:
                self.dedup.release(pending)
            self.dedup.unclaim(batch.deleted_docs)
            self.embedding.release(batch)
        started = time.perf_counter()
        commit_batch(self.store, self.state, self.ledger, self.near, batch, vectors, self.report)
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
        return_free_heap()
        self._timed("index", started)
        self._unindexed, self._indexed_at = 0, time.perf_counter()

    # ----- deletes of vanished items, end of run -------------------------------------------------
    def delete_missing(self, listing: Listing) -> None:
        """Delete documents of items that were ingested from this root and no longer exist."""
        listing = _as_container_listing(listing)
        known = self.ledger.files_under(listing.root_uri) if listing.complete else []
        for uri in vanished(listing, known, uri_exists):
            forget_vanished(self.store, self.state, self.ledger, self.near, uri, self.report)

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


class _ContainerSource:
    """A listing made by a record container itself (``JsonlSource(path).list()``) is ingested as
    that one container, so its records are planned, deduplicated and deleted as in a folder."""

    def __init__(self, container: RecordContainer):
        self.container = container

    def records_in(self, item: SourceItem, *, max_record_bytes: int | None = None) -> RecordContainer | None:
        return self.container if item.uri == self.container.item.uri else None


def _as_container_listing(listing: Listing) -> Listing:
    source = listing.source
    if not isinstance(source, RecordContainer) or isinstance(source, ExpandsRecords):
        return listing
    item = source.item
    return Listing(root_uri=item.uri, items=[item], source=_ContainerSource(source))
