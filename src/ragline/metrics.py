"""Every Prometheus metric ragline exports, and small helpers to record them.

    from ragline import metrics
    metrics.record_ingest_report(report)             # after an ingest run
    payload, content_type = metrics.exposition()     # what GET /metrics answers

All metrics are named ``ragline_*`` and live here, so the Grafana dashboard and the alert rules
(deploy/) can be checked against one list (tests/test_metrics.py). Metrics register in
prometheus-client's default registry. When ``PROMETHEUS_MULTIPROC_DIR`` is set before this module
is imported (uvicorn ``--workers N``), prometheus-client writes every value to files in that
directory, and ``exposition()`` sums the workers' files: counters and histograms add up, gauges
use the ``multiprocess_mode`` given to each (``livesum``: only live processes count).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

# Seconds. Searches are ms-scale (a cached hit well under 1 ms, a hybrid search a few ms, a
# cold embedder tens of ms); the tail up to 10 s still shows deadline and overload trouble.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5,
                   0.75, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

# ----- serving ------------------------------------------------------------------------------
REQUESTS = Counter("ragline_requests_total", "HTTP requests answered, by route template, method and status.",
                   ["route", "method", "status"])
REQUEST_SECONDS = Histogram("ragline_request_seconds", "HTTP request latency by route template.",
                            ["route"], buckets=LATENCY_BUCKETS)
SEARCH_SECONDS = Histogram("ragline_search_seconds", "Search latency inside the engine, by mode.",
                           ["mode"], buckets=LATENCY_BUCKETS)
QUERY_BATCH_SIZE = Histogram("ragline_query_batch_size", "Queries embedded together in one micro-batch.",
                             buckets=BATCH_BUCKETS)
CACHE_HITS = Counter("ragline_cache_hits_total", "Cache lookups answered from the cache (cache=result|query_vector).",
                     ["cache"])
CACHE_MISSES = Counter("ragline_cache_misses_total",
                       "Cache lookups not answered (including a shared cache that is unreachable).", ["cache"])
CACHE_ERRORS = Counter("ragline_cache_errors_total",
                       "Shared-cache operations that failed (the cache was bypassed, the search went on).",
                       ["cache"])
IN_FLIGHT = Gauge("ragline_in_flight", "Requests being worked on now.", multiprocess_mode="livesum")
SHED = Counter("ragline_shed_total", "Requests refused at once (429) because in-flight work was at its bound.",
               ["route"])
ADMISSION_LIMIT = Gauge("ragline_admission_limit",
                        "Requests the server admits at once now (fixed, or adapting to latency); beyond it 429.",
                        multiprocess_mode="livesum")
JOBS = Gauge("ragline_jobs", "Ingestion jobs by state.", ["state"], multiprocess_mode="livesum")

# ----- ingestion ----------------------------------------------------------------------------
DOCUMENTS = Counter("ragline_documents_total", "Documents ingested, by outcome (new, changed, unchanged, ...).",
                    ["outcome"])
CHUNKS = Counter("ragline_chunks_total", "Chunks written to the store.")
TOKENS_EMBEDDED = Counter("ragline_tokens_embedded_total", "Tokens sent through the embedder (cache misses).")
STAGE_BUSY = Counter("ragline_stage_busy_seconds_total", "Seconds each ingest stage spent working.", ["stage"])
QUEUE_DEPTH = Gauge("ragline_queue_depth", "Items waiting in a work queue (new and pending).", ["queue"],
                    multiprocess_mode="max")
QUEUE_LAG = Gauge("ragline_queue_lag_seconds", "Age of the oldest item still pending in a work queue.", ["queue"],
                  multiprocess_mode="max")
DEAD_LETTERS = Counter("ragline_dead_letters_total", "Items given up on and kept as dead letters, by stage.",
                       ["stage"])

CACHES = ("result", "query_vector")


# ----- recording helpers --------------------------------------------------------------------
def record_ingest_report(report: Any) -> None:
    """Add one ``IngestReport`` to the ingestion counters: documents by outcome, chunks written,
    tokens embedded, per-stage busy seconds, and one dead letter per failed item (by stage)."""
    for outcome, n in report.counts.items():
        DOCUMENTS.labels(outcome=outcome).inc(n)
    CHUNKS.inc(report.chunks_written)
    TOKENS_EMBEDDED.inc(report.tokens_embedded)
    for stage, seconds in report.stage_seconds.items():
        if seconds > 0:
            STAGE_BUSY.labels(stage=stage).inc(seconds)
    for item in report.failed:
        DEAD_LETTERS.labels(stage=item.stage).inc()


def record_cache(cache: str, hit: bool) -> None:
    (CACHE_HITS if hit else CACHE_MISSES).labels(cache=cache).inc()


def record_search(mode: str, seconds: float) -> None:
    SEARCH_SECONDS.labels(mode=mode).observe(seconds)


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    REQUEST_SECONDS.labels(route=route).observe(seconds)


def record_batch(size: int) -> None:
    QUERY_BATCH_SIZE.observe(size)


def record_shed(route: str) -> None:
    SHED.labels(route=route).inc()


def set_queue(queue: str, depth: int, lag_seconds: float) -> None:
    QUEUE_DEPTH.labels(queue=queue).set(depth)
    QUEUE_LAG.labels(queue=queue).set(lag_seconds)


def set_jobs(counts: dict[str, int]) -> None:
    """The number of jobs in each state (``queued``, ``running``, ``done``, ``failed``)."""
    for state, n in counts.items():
        JOBS.labels(state=state).set(n)


@contextmanager
def in_flight() -> Iterator[None]:
    IN_FLIGHT.inc()
    try:
        yield
    finally:
        IN_FLIGHT.dec()


@contextmanager
def timed_search(mode: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        record_search(mode, time.perf_counter() - started)


# ----- exposition ---------------------------------------------------------------------------
def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


def collecting_registry() -> CollectorRegistry:
    """The registry to expose: the default one, or (multiprocess mode) a fresh one that reads
    every worker's files."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry


def exposition() -> tuple[bytes, str]:
    """The text a ``/metrics`` endpoint answers, and its content type."""
    return generate_latest(collecting_registry()), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (multiprocess mode only; call from the supervisor)."""
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)


def serve_metrics(port: int, host: str = "127.0.0.1") -> Any:
    """Expose the metrics over HTTP on ``host:port`` (a background thread); returns the server,
    whose ``shutdown()`` stops it. Loopback by default: metrics are for a local scraper."""
    server, _thread = start_http_server(port, addr=host, registry=collecting_registry())
    return server


def metric_names() -> set[str]:
    """Every sample name ragline's metrics can produce (``_total``, ``_bucket``, ``_count``,
    ``_sum``, ``_created`` included), for checking dashboards and alert rules."""
    names: set[str] = set()
    for metric in ALL_METRICS:
        for family in metric.describe():
            base = family.name
            kind = family.type
            if kind == "counter":
                names |= {f"{base}_total", f"{base}_created"}
            elif kind == "histogram":
                names |= {f"{base}_bucket", f"{base}_count", f"{base}_sum", f"{base}_created"}
            else:
                names.add(base)
    return names


ALL_METRICS = (REQUESTS, REQUEST_SECONDS, SEARCH_SECONDS, QUERY_BATCH_SIZE, CACHE_HITS, CACHE_MISSES,
               CACHE_ERRORS, IN_FLIGHT, ADMISSION_LIMIT, SHED, JOBS, DOCUMENTS, CHUNKS, TOKENS_EMBEDDED, STAGE_BUSY,
               QUEUE_DEPTH, QUEUE_LAG, DEAD_LETTERS)

__all__ = [
    "ADMISSION_LIMIT", "ALL_METRICS", "BATCH_BUCKETS", "CACHES", "CACHE_ERRORS", "CACHE_HITS", "CACHE_MISSES", "CHUNKS",
    "DEAD_LETTERS", "DOCUMENTS", "IN_FLIGHT", "JOBS", "LATENCY_BUCKETS", "QUERY_BATCH_SIZE", "QUEUE_DEPTH",
    "QUEUE_LAG", "REQUESTS", "REQUEST_SECONDS", "SEARCH_SECONDS", "SHED", "STAGE_BUSY", "TOKENS_EMBEDDED",
    "collecting_registry", "exposition", "in_flight", "mark_process_dead", "metric_names", "multiprocess_dir",
    "record_batch", "record_cache", "record_ingest_report", "record_request", "record_search", "record_shed",
    "serve_metrics", "set_jobs", "set_queue", "timed_search",
]
