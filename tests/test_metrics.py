"""The metrics module: every metric the server contract names exists with its labels, an
IngestReport is recorded faithfully, and multiprocess mode sums the workers' values."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from ragline import metrics
from ragline.records import IngestReport, Outcome

CONTRACT = {
    "ragline_requests_total": {"route", "method", "status"},
    "ragline_request_seconds_bucket": {"route", "le"},
    "ragline_search_seconds_bucket": {"mode", "le"},
    "ragline_query_batch_size_bucket": {"le"},
    "ragline_cache_hits_total": {"cache"},
    "ragline_cache_misses_total": {"cache"},
    "ragline_in_flight": set(),
    "ragline_shed_total": {"route"},
    "ragline_jobs": {"state"},
    "ragline_documents_total": {"outcome"},
    "ragline_chunks_total": set(),
    "ragline_tokens_embedded_total": set(),
    "ragline_stage_busy_seconds_total": {"stage"},
    "ragline_queue_depth": {"queue"},
    "ragline_queue_lag_seconds": {"queue"},
    "ragline_dead_letters_total": {"stage"},
}


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_contract_metric_exists_with_its_labels() -> None:
    metrics.record_request("/v1/search", "POST", 200, 0.003)
    metrics.record_search("hybrid", 0.002)
    metrics.record_batch(4)
    metrics.record_cache("result", True)
    metrics.record_cache("result", False)
    metrics.record_shed("/v1/search")
    metrics.set_jobs({"queued": 1})
    metrics.set_queue("ragline", 3, 1.5)
    report = IngestReport()
    report.counts["new"] = 1
    report.stage_seconds = {"parse": 0.1}
    report.fail("file:///x", "parse", "bad")
    metrics.record_ingest_report(report)
    with metrics.in_flight():
        payload, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    seen: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(payload.decode()):
        for sample in family.samples:
            seen.setdefault(sample.name, set()).update(sample.labels)
    for name, labels in CONTRACT.items():
        assert name in seen, name
        assert seen[name] == labels, (name, seen[name])
        assert name in metrics.metric_names()


def test_ingest_report_is_recorded_as_deltas() -> None:
    before = {o: _value("ragline_documents_total", outcome=o) for o in ("new", "unchanged", "failed")}
    chunks, tokens = _value("ragline_chunks_total"), _value("ragline_tokens_embedded_total")
    busy = _value("ragline_stage_busy_seconds_total", stage="embed")
    dead = _value("ragline_dead_letters_total", stage="chunk")
    report = IngestReport()
    report.count(Outcome.NEW, 4)
    report.count(Outcome.UNCHANGED, 2)
    report.fail("file:///a", "chunk", "too long")
    report.fail("file:///b", "chunk", "too long")
    report.chunks_written, report.tokens_embedded = 17, 1234
    report.stage_seconds = {"embed": 2.5, "store": 0.0}
    metrics.record_ingest_report(report)
    assert _value("ragline_documents_total", outcome="new") - before["new"] == 4
    assert _value("ragline_documents_total", outcome="unchanged") - before["unchanged"] == 2
    assert _value("ragline_documents_total", outcome="failed") - before["failed"] == 2
    assert _value("ragline_chunks_total") - chunks == 17
    assert _value("ragline_tokens_embedded_total") - tokens == 1234
    assert _value("ragline_stage_busy_seconds_total", stage="embed") - busy == 2.5
    assert _value("ragline_dead_letters_total", stage="chunk") - dead == 2


def test_latency_buckets_resolve_milliseconds() -> None:
    assert metrics.LATENCY_BUCKETS[0] <= 0.001
    assert sum(1 for b in metrics.LATENCY_BUCKETS if b <= 0.01) >= 5
    assert list(metrics.LATENCY_BUCKETS) == sorted(metrics.LATENCY_BUCKETS)


def test_multiprocess_mode_sums_workers(tmp_path: Path) -> None:
    """Two worker processes write to PROMETHEUS_MULTIPROC_DIR; a third exposes their sum, and a
    dead worker's live gauge drops out once it is marked dead."""
    worker = textwrap.dedent("""
        import os, sys
        from ragline import metrics
        metrics.record_request("/v1/search", "POST", 200, 0.004)
        metrics.record_cache("result", True)
        metrics.IN_FLIGHT.inc()
        print(os.getpid())
    """)
    reader = textwrap.dedent("""
        import sys
        from ragline import metrics
        for pid in sys.argv[1:]:
            metrics.mark_process_dead(int(pid))
        sys.stdout.write(metrics.exposition()[0].decode())
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    pids = [subprocess.run([sys.executable, "-c", worker], env=env, check=True, capture_output=True,
                           text=True).stdout.strip() for _ in range(2)]

    def scrape(*dead: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        out = subprocess.run([sys.executable, "-c", reader, *dead], env=env, check=True, capture_output=True,
                             text=True).stdout
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(out) for s in f.samples}

    samples = scrape()
    assert samples[("ragline_requests_total", (("method", "POST"), ("route", "/v1/search"),
                                               ("status", "200")))] == 2
    assert samples[("ragline_cache_hits_total", (("cache", "result"),))] == 2
    assert samples[("ragline_request_seconds_count", (("route", "/v1/search"),))] == 2
    assert samples[("ragline_in_flight", ())] == 2
    # livesum: the workers have exited; once marked dead their in-flight share is gone.
    samples = scrape(*pids)
    assert samples.get(("ragline_in_flight", ()), 0.0) == 0
    assert samples[("ragline_requests_total", (("method", "POST"), ("route", "/v1/search"),
                                               ("status", "200")))] == 2
