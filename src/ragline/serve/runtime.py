"""The process-wide runtime of the server: ONE embedder, the caches, one ``Engine`` per namespace.

    runtime = Runtime(ServeSettings(store="local:./data", embedder="hashing:384"))
    hits = runtime.engine("tenant-a").search("query")      # engines open lazily, share the embedder
    runtime.close()

Searches run on ``search_threads`` threads, each on its namespace's reading engine; every write
(ingest jobs, deletes) runs on the one writer thread (``jobs.Writer``) through a second engine per
namespace, so a search never waits on an ingest's transaction (SQLite WAL: readers do not block
on the writer; the reading engine catches its indexes up from the change log). Reading engines
share the embedder and the process's caches; the result cache is keyed by namespace and store
generation, so a write invalidates what it changed. The writer embeds with its own copy of a
local model limited to ``ingest_threads`` (a model runs one call at a time: sharing it would make
every query wait behind an ingest batch).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ragline import metrics
from ragline.caches import MISSING, QueryVectorCache, ResultCache
from ragline.embed import open_embedder
from ragline.embed.base import Embedder
from ragline.embed.device import physical_cores
from ragline.engine import Engine, EngineConfig
from ragline.llm import ChatClient, open_llm
from ragline.records import IngestReport, SourceItem
from ragline.serve.batcher import QueryBatcher
from ragline.serve.jobs import Job, Writer, judge_stale
from ragline.serve.keys import KEYS_NAMESPACE, KeyRegistry
from ragline.serve.settings import ServeSettings
from ragline.state import open_state
from ragline.store import open_store

log = logging.getLogger("ragline.serve")


class MeteredQueryVectors(QueryVectorCache):
    def get(self, key: Hashable) -> Any:
        value = super().get(key)
        metrics.record_cache("query_vector", value is not MISSING)
        return value


class MeteredResults(ResultCache):
    """Also remembers, per thread, whether the last lookup was a hit (the response's ``cached``)."""

    def __init__(self, maxsize: int):
        super().__init__(maxsize)
        self._last = threading.local()

    def get(self, key: Hashable) -> Any:
        value = super().get(key)
        hit = value is not MISSING
        self._last.hit = hit
        metrics.record_cache("result", hit)
        return value

    def last_was_hit(self) -> bool:
        return bool(getattr(self._last, "hit", False))

    def forget_last(self) -> None:
        self._last.hit = False


class ServedEngine(Engine):
    """An engine whose query embeddings (cache misses only) go through the micro-batcher."""

    batcher: QueryBatcher | None = None

    def _embed_query(self, query: str) -> np.ndarray:
        if self.batcher is None:
            return super()._embed_query(query)
        return self.batcher.embed_blocking(query)


class Runtime:
    def __init__(self, settings: ServeSettings, embedder: Embedder | None = None):
        self.settings = settings
        query_embedders = [embedder] * settings.query_workers if embedder else _query_embedders(settings)
        self.embedder = query_embedders[0]
        self.ingest_embedder = self.embedder if embedder is not None else _ingest_embedder(settings, self.embedder)
        self.query_vectors = MeteredQueryVectors(settings.query_cache_size)
        self.results = MeteredResults(settings.result_cache_size)
        self.batcher = QueryBatcher(query_embedders, window_s=settings.query_batch_window_s(),
                                    max_batch=settings.batch_max, on_batch=metrics.record_batch)
        # The chat model of POST /v1/answer (None: not configured); one client, shared by requests.
        self.llm: ChatClient | None = None
        if settings.llm:
            self.llm = open_llm(settings.llm, base_url=settings.llm_base_url)
        self.search_pool = ThreadPoolExecutor(settings.search_threads, thread_name_prefix="ragline-search")
        self._lock = threading.Lock()
        self._readers: dict[str, ServedEngine] = {}
        self._writers: dict[str, Engine] = {}   # touched only on the writer thread
        # The keys live in the state's meta; a store handle of a reserved namespace reaches it.
        self._keys_store = open_store(settings.store, KEYS_NAMESPACE)
        try:
            self._keys_state = open_state(settings.state, self._keys_store)
            self.keys = KeyRegistry(self._keys_state, settings.key_map(),
                                    admin_key=settings.admin_key.get_secret_value() if settings.admin_key else None)
        except BaseException:
            self._keys_store.close()
            raise
        self.writer = Writer(self._ingest, queue_size=settings.job_queue_size, nice=settings.ingest_nice,
                             jobs_kept=settings.jobs_kept, on_change=metrics.set_jobs, persist=self._save_job,
                             retention_s=settings.job_retention_s, heartbeat_s=settings.job_stale_s / 3)
        self._pruned_at = float("-inf")
        self.sweep_stale_jobs()

    def _config(self, namespace: str, **options: Any) -> EngineConfig:
        return EngineConfig(store=self.settings.store, state=self.settings.state, namespace=namespace,
                            embedder=self.settings.embedder, **options)

    def engine(self, namespace: str) -> ServedEngine:
        """The namespace's reading engine (searches, documents, stats), opened on first use. With
        ``cache`` (redis://) its result and query-vector caches are the shared ones, so every
        worker and server on that Redis reuses each other's results; else the process's LRUs."""
        with self._lock:
            engine = self._readers.get(namespace)
            if engine is None:
                shared = self.settings.cache
                engine = ServedEngine(self._config(namespace, cache=shared), self.embedder)
                if not shared:
                    engine.query_vectors, engine.results = self.query_vectors, self.results
                engine.batcher = self.batcher if self.batcher.enabled else None
                self._readers[namespace] = engine
            return engine

    @staticmethod
    def last_search_cached(engine: Engine) -> bool:
        """Whether this thread's last search on ``engine`` was answered by its result cache."""
        return bool(getattr(engine.results, "last_was_hit", lambda: False)())

    @staticmethod
    def forget_last_search(engine: Engine) -> None:
        forget = getattr(engine.results, "forget_last", None)
        if forget is not None:
            forget()

    def write_engine(self, namespace: str) -> Engine:
        """The namespace's writing engine; call on the writer thread only. Parsing runs in that
        thread (no process pool), so it keeps the thread's lower priority."""
        engine = self._writers.get(namespace)
        if engine is None:
            engine = Engine(self._config(namespace, parse_workers=0, query_cache_size=0, result_cache_size=0),
                            self.ingest_embedder)
            self._writers[namespace] = engine
        return engine

    def _ingest(self, namespace: str, items: list[SourceItem], progress: Callable[[str, int], None]) -> IngestReport:
        report = self.write_engine(namespace).ingest_items(items, progress=progress)
        metrics.record_ingest_report(report)
        return report

    # ----- jobs seen by every server process (state meta, beside the keys) ----------------------
    def _save_job(self, job: Job) -> None:
        with self._keys_state.transaction():
            self._keys_state.set_meta(KEYS_NAMESPACE, f"job:{job.job_id}", json.dumps(job.to_dict()))
        if job.finished_at is not None and time.monotonic() - self._pruned_at >= self.settings.job_prune_every_s:
            self.prune_jobs()

    def prune_jobs(self, now: float | None = None) -> int:
        """Remove the stored records of jobs finished more than ``job_retention_s`` before ``now``,
        and of the oldest finished beyond ``jobs_kept``; returns how many. Unfinished jobs stay."""
        self._pruned_at = time.monotonic()
        now = time.time() if now is None else now
        finished: list[tuple[float, str]] = []
        for key, raw in self._keys_state.meta_items(KEYS_NAMESPACE, "job:"):
            try:  # an interrupted job (its server died) counts as finished at its last heartbeat
                at = judge_stale(json.loads(raw), self.settings.job_stale_s, now).get("finished_at")
            except (ValueError, AttributeError, TypeError):
                at = 0.0  # unreadable: nothing can answer from it
            if at is not None:
                finished.append((float(at), key))
        finished.sort()
        beyond = len(finished) - self.settings.jobs_kept
        doomed = [key for i, (at, key) in enumerate(finished)
                  if i < beyond or now - at > self.settings.job_retention_s]
        with self._keys_state.transaction():
            for key in doomed:
                self._keys_state.delete_meta(KEYS_NAMESPACE, key)
        return len(doomed)

    def stored_job(self, job_id: str, namespace: str) -> dict[str, Any] | None:
        """A job another server process accepted, if it belongs to ``namespace``."""
        if not job_id.isalnum() or len(job_id) > 64:
            return None
        raw = self._keys_state.get_meta(KEYS_NAMESPACE, f"job:{job_id}")
        job = json.loads(raw) if raw else None
        if job is None or job.get("namespace") != namespace:
            return None
        return judge_stale(job, self.settings.job_stale_s)

    def sweep_stale_jobs(self) -> int:
        """Store as failed (``INTERRUPTED``) every queued or running job whose owner stopped
        beating (a server killed outright); at startup. Returns how many."""
        stale: dict[str, str] = {}
        for key, raw in self._keys_state.meta_items(KEYS_NAMESPACE, "job:"):
            try:
                record = json.loads(raw)
                judged = judge_stale(record, self.settings.job_stale_s)
            except (ValueError, AttributeError, TypeError):
                continue
            if judged is not record:
                stale[key] = json.dumps(judged)
        if stale:
            with self._keys_state.transaction():
                for key, value in stale.items():
                    self._keys_state.set_meta(KEYS_NAMESPACE, key, value)
            log.warning("%d ingest job(s) left unfinished by a stopped server are marked failed", len(stale))
        return len(stale)

    def probe(self) -> None:
        """Raise unless the state and the store answer (``/readyz``)."""
        self.keys.namespaces()
        self._keys_store.count()

    def namespaces(self) -> list[str]:
        with self._lock:
            return sorted(self._readers)

    def close(self) -> None:
        self.writer.close()
        self.batcher.close()
        self.search_pool.shutdown(wait=True, cancel_futures=True)
        engines: list[Engine] = [*self._readers.values(), *self._writers.values()]
        self._readers, self._writers = {}, {}
        for engine in engines:
            # Not Engine.close(): that would close the shared embedder once per namespace.
            try:
                engine.state.close()
            finally:
                engine.store.close()
            if engine.results is not self.results:
                engine.results.close()  # a shared (Redis) cache's connections
                engine.query_vectors.close()
        if self.llm is not None:
            self.llm.close()
        self._keys_state.close()
        self._keys_store.close()
        for copy in {id(e): e for e in [self.ingest_embedder, *self.batcher.embedders]}.values():
            copy.close()


def _is_local(spec: str) -> bool:
    return spec.partition(":")[0].partition("-")[0] in ("auto", "onnx", "openvino")


def _query_embedders(settings: ServeSettings) -> list[Embedder]:
    """``query_workers`` copies of a local model, each on its share of the cores' threads and
    loaded now (so /readyz means the model is loaded and no first query pays for it); for other
    backends (hashing, remote) the one embedder, used by that many batches at once."""
    if not _is_local(settings.embedder):
        return [open_embedder(settings.embedder)] * settings.query_workers
    threads = max(1, physical_cores() // settings.query_workers)
    copies = [open_embedder(settings.embedder, threads=threads) for _ in range(settings.query_workers)]
    for copy in copies:
        copy.embed(["warm up"])
    return copies


def _ingest_embedder(settings: ServeSettings, shared: Embedder) -> Embedder:
    """The writer's model: a copy of a local model limited to ``ingest_threads`` inference threads
    (loaded lazily on the writer thread, so its threads inherit that thread's nice value), or the
    shared one for other backends (hashing, remote) and ``ingest_threads=0``."""
    if not settings.ingest_threads or not _is_local(settings.embedder):
        return shared
    return open_embedder(settings.embedder, threads=settings.ingest_threads)


__all__ = ["MeteredQueryVectors", "MeteredResults", "Runtime", "ServedEngine"]
