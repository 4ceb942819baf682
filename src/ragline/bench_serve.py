"""``ragline bench serve``: the HTTP server under load, beside the same run's in-process search.

    result = bench_serve(concurrency=(1, 16, 64, 256))   # {"levels": [...], "overload": {...}, "direct": {...}}
    print_bench_serve(Console(), result)

The bench starts ``ragline serve`` on 127.0.0.1 itself (or drives ``url``), ingests a corpus
through ``POST /v1/documents`` (Cranfield from ``datasets/`` when present, else the sample
corpus), then runs a closed-loop load (``concurrency`` clients, each sending its next request
when the last one returned) for cached queries (a few queries, repeated: the result cache
answers) and uncached ones (every request a query text never sent before). An open-loop
overload run then offers 10x the measured capacity while an ingestion job runs, and counts
what was shed (429) and the p99 of what was admitted; the job must finish with every document
stored. Last, with the server stopped, ``Engine.search`` runs in-process on the same store
over fresh queries: the figure the HTTP numbers are read against.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ragline._loadclient import LoadClient
from ragline.errors import ConfigError

DEFAULT_CONCURRENCY = (1, 16, 64, 256)
_WORD = re.compile(r"[a-z]{4,}")
_SAMPLES = Path("samples/corpus")
_CRANFIELD = Path("datasets/cranfield")


# ---- corpus and queries ------------------------------------------------------------------------
def load_corpus(path: Path | None) -> tuple[list[dict[str, Any]], list[Path], list[str]]:
    """What to ingest and what to ask: a BEIR-style folder (corpus.jsonl, queries.jsonl) gives
    records and its queries; any other folder gives its files (uploaded as they are) and queries
    drawn from its text files' sentences, whose paragraphs are also the records to ingest later."""
    if path is None:
        path = _CRANFIELD if (_CRANFIELD / "corpus.jsonl").exists() else _SAMPLES
    files: list[Path] = []
    queries: list[str] = []
    if (path / "corpus.jsonl").exists():
        records = []
        for line in (path / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                records.append({"id": str(row["_id"]), "text": row["text"], "title": row.get("title") or None})
        queries_file = path / "queries.jsonl"
        if queries_file.exists():
            queries = [json.loads(line)["text"] for line in queries_file.read_text(encoding="utf-8").splitlines()
                       if line.strip()]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        records = []
        for file in files:
            if file.suffix in {".txt", ".md", ".rst"}:
                paragraphs = [p.strip() for p in file.read_text(encoding="utf-8", errors="replace").split("\n\n")]
                records += [{"id": f"{file.stem}-{i}", "text": p, "title": file.stem}
                            for i, p in enumerate(paragraphs) if len(p) > 80]
    else:
        raise ConfigError(f"bench serve needs a folder (corpus.jsonl or documents), got {path}")
    if not records:
        raise ConfigError(f"no documents found in {path}")
    if not queries:
        queries = generated_queries(records, 200)
    return records, files, queries


def generated_queries(records: Sequence[dict[str, Any]], n: int, seed: int = 7) -> list[str]:
    """Queries made of a document's own words (3-6 of them), so each one has something to find."""
    rng = random.Random(seed)
    queries = []
    for _ in range(n):
        words = _WORD.findall(rng.choice(records)["text"].lower())
        if len(words) >= 3:
            start = rng.randrange(0, max(1, len(words) - 6))
            queries.append(" ".join(words[start:start + rng.randint(3, 6)]))
    return queries or ["search"]


class DistinctQueries:
    """Never the same text twice in one run: base query i with a different tail word each round,
    so neither the result cache nor the query-vector cache can answer (uncached load)."""

    def __init__(self, base: Sequence[str], vocabulary: Sequence[str]):
        self.base = list(base)
        self.vocabulary = list(vocabulary) or ["variant"]
        self.sent = 0

    def __next__(self) -> str:
        i, self.sent = self.sent, self.sent + 1
        query = self.base[i % len(self.base)]
        rounds = i // len(self.base)
        if rounds == 0:
            return query
        # rounds written in base len(vocabulary): each round has its own tail of words.
        tail = []
        while rounds:
            rounds, digit = divmod(rounds, len(self.vocabulary))
            tail.append(self.vocabulary[digit])
        return query + " " + " ".join(tail)

    def __iter__(self) -> DistinctQueries:
        return self


def vocabulary(records: Sequence[dict[str, Any]], n: int = 500) -> list[str]:
    counts: dict[str, int] = {}
    for record in records[:2000]:
        for word in _WORD.findall(record["text"].lower()):
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))[:n]


# ---- the server under test ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(store: str, *, embedder: str | None, workers: int = 1, log: Path | None = None,
                   extra: Sequence[str] = (), ready_timeout: float = 300.0,
                   env: Mapping[str, str | None] | None = None, auth: bool = False) -> Iterator[str]:
    """``ragline serve`` in a subprocess on 127.0.0.1 (auth off unless ``auth``: then keys come from
    ``env``), stopped by its pid on exit; ``env`` changes this process's environment for it (e.g.
    ``RAGLINE_SERVE_ADMISSION``; a None value removes a variable)."""
    port = _free_port()
    command = [sys.executable, "-m", "ragline.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--store", store, "--workers", str(workers), *extra, *([] if auth else ["--no-auth"])]
    if embedder:
        command += ["--embedder", embedder]
    url = f"http://127.0.0.1:{port}"
    out = open(log, "ab") if log else subprocess.DEVNULL
    environment = None
    if env:
        environment = {**os.environ, **{k: v for k, v in env.items() if v is not None}}
        for name in [k for k, v in env.items() if v is None]:
            environment.pop(name, None)
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ragline serve exited with {process.returncode} before it was ready"
                                   + (f" (log: {log})" if log else ""))
            try:
                if httpx.get(url + "/readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ragline serve was not ready within {ready_timeout:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def ingest(url: str, records: Sequence[dict[str, Any]], *, files: Sequence[Path] = (), batch: int = 500,
           timeout: float = 1800.0, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Send ``records`` as JSON jobs and ``files`` as multipart uploads (20 a request), and wait
    for every job; returns the jobs' final states."""
    with httpx.Client(base_url=url, headers=headers, timeout=60.0) as client:
        job_ids = []
        for start in range(0, len(records), batch):
            response = client.post("/v1/documents", json={"records": list(records[start:start + batch])})
            response.raise_for_status()
            job_ids.append(response.json()["job_id"])
        for start in range(0, len(files), 20):
            parts = [("files", (file.name, file.read_bytes())) for file in files[start:start + 20]]
            response = client.post("/v1/documents", files=parts)
            response.raise_for_status()
            job_ids.append(response.json()["job_id"])
        return [wait_job(client, job_id, timeout) for job_id in job_ids]


def wait_job(client: httpx.Client, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"ingestion job {job_id} still {job['state']} after {timeout:.0f} s")
        time.sleep(0.25)


def document_count(url: str, headers: dict[str, str] | None = None) -> int | None:
    stats = httpx.get(url + "/v1/stats", headers=headers, timeout=30.0).json()
    for key in ("documents", "docs", "document_count"):
        if isinstance(stats.get(key), int):
            return int(stats[key])
    return None


# ---- load --------------------------------------------------------------------------------------
def percentiles(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    if not latencies_ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    values = np.asarray(latencies_ms)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2), "p99_ms": round(float(p99), 2)}


async def closed_loop(url: str, queries: Iterator[str], *, concurrency: int, requests: int, k: int = 10,
                      mode: str = "hybrid", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """``concurrency`` clients share ``requests`` requests, each client one request at a time (after
    a 429 it waits the Retry-After it was given). QPS counts answered (200) requests."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    remaining = requests
    async with LoadClient(url, headers=headers, max_connections=concurrency) as client:
        async def user() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                body = {"query": next(queries), "k": k, "mode": mode}
                started = time.perf_counter()
                status, retry_after = await client.post_json("/v1/search", body)
                if status == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 429:  # a well-behaved client waits as told before its next request
                    await asyncio.sleep(min(_seconds(retry_after), 5.0))

        started = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    ok = statuses.get(200, 0)
    return {"concurrency": concurrency, "requests": requests, "ok": ok, "shed": statuses.get(429, 0),
            "errors": requests - ok - statuses.get(429, 0), "statuses": _by_status(statuses),
            "seconds": round(wall, 3),
            "qps": round(ok / wall, 1) if wall > 0 else None, **percentiles(latencies)}


async def open_loop(url: str, queries: Iterator[str], *, rate: float, seconds: float, k: int = 10,
                    mode: str = "hybrid", headers: dict[str, str] | None = None,
                    max_connections: int = 768) -> dict[str, Any]:
    """Requests offered at ``rate`` per second whatever the answers (overload): admitted latencies,
    the share shed with 429, and the rate the client really managed to offer."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    retry_after: list[str] = []
    async with LoadClient(url, headers=headers, max_connections=max_connections) as client:
        async def one(query: str) -> None:
            started = time.perf_counter()
            status, retry = await client.post_json("/v1/search", {"query": query, "k": k, "mode": mode})
            if status == 429:
                retry_after.append(retry or "")
            if status == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

        tasks = []
        started = time.perf_counter()
        interval = 1.0 / rate
        next_at = started
        while time.perf_counter() - started < seconds:
            # Every request due by now goes out (behind schedule, several at once), then sleep.
            while next_at <= time.perf_counter():
                tasks.append(asyncio.create_task(one(next(queries))))
                next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        offered_seconds = time.perf_counter() - started
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
    sent = len(tasks)
    ok, shed = statuses.get(200, 0), statuses.get(429, 0)
    return {"target_rate": round(rate, 1), "offered_rate": round(sent / offered_seconds, 1), "sent": sent,
            "admitted": ok, "shed": shed, "errors": sent - ok - shed, "statuses": _by_status(statuses),
            "shed_rate": round(shed / sent, 3) if sent else None,
            "retry_after_present": bool(retry_after) and all(retry_after), "seconds": round(wall, 3),
            "admitted_qps": round(ok / wall, 1) if wall > 0 else None, **percentiles(latencies)}


# ---- the in-process reference ------------------------------------------------------------------
def direct_search(store: str, queries: Iterator[str], *, n: int, k: int = 10, mode: str = "hybrid",
                  embedder: str | None = None) -> dict[str, Any]:
    """``Engine.search`` in this process on the same store, one query at a time, fresh queries."""
    from ragline.engine import Engine

    with Engine.open(store, embedder=embedder) as engine:
        engine.search(next(queries), k=k, mode=mode)  # model load and index open, not timed
        latencies = []
        started = time.perf_counter()
        for _ in range(n):
            begun = time.perf_counter()
            engine.search(next(queries), k=k, mode=mode)
            latencies.append((time.perf_counter() - begun) * 1000)
        wall = time.perf_counter() - started
    return {"queries": n, "qps": round(n / wall, 1), **percentiles(latencies)}


# ---- the whole run -----------------------------------------------------------------------------
def bench_serve(*, url: str | None = None, corpus: Path | None = None, store: str | None = None,
                embedder: str | None = None, workers: int = 1, concurrency: Sequence[int] = DEFAULT_CONCURRENCY,
                requests: int | None = None, cached_queries: int = 16, overload_factor: float = 10.0,
                overload_seconds: float = 5.0, overload_docs: int = 100, direct_queries: int = 200,
                api_key: str | None = None, server_args: Sequence[str] = (), log: Path | None = None,
                seed: int = 7, admission: str | None = None) -> dict[str, Any]:
    """The full bench; ``requests`` per level defaults to max(200, 8 x concurrency); ``admission``
    ("adaptive" | "static") sets the started server's ``RAGLINE_SERVE_ADMISSION``."""
    records, files, base_queries = load_corpus(corpus)
    random.Random(seed).shuffle(base_queries)
    # Held back from the first ingestion: the documents the overload run ingests (a folder of
    # files is uploaded whole; its text paragraphs are then ingested as records under load).
    held = records[-overload_docs:] if 0 < overload_docs < len(records) else []
    loaded = [] if files else records[:len(records) - len(held)]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    default = _CRANFIELD if (_CRANFIELD / "corpus.jsonl").exists() else _SAMPLES
    result: dict[str, Any] = {"corpus": str(corpus or default), "documents": len(files) or len(records),
                              "embedder": embedder or "default", "workers": workers,
                              "admission": admission or os.environ.get("RAGLINE_SERVE_ADMISSION", "adaptive"),
                              "environment": environment()}
    with tempfile.TemporaryDirectory(prefix="ragline-bench-serve-") as tmp:
        store_uri = store or f"local:{tmp}/store"
        env = {"RAGLINE_SERVE_ADMISSION": admission} if admission else None
        with _server_or_url(url, store_uri, embedder, workers, log, server_args, env) as base:
            started = time.perf_counter()
            jobs = ingest(base, loaded, files=files, headers=headers)
            result["ingest"] = {"documents": len(files) or len(loaded),
                                "seconds": round(time.perf_counter() - started, 2),
                                "jobs_failed": sum(job["state"] != "done" for job in jobs)}
            distinct = DistinctQueries(base_queries, vocabulary(records))
            hot = base_queries[:cached_queries]
            levels = []
            for c in concurrency:
                n = requests or max(200, 8 * c)
                cached = _cycle(hot)
                asyncio.run(closed_loop(base, iter(hot), concurrency=min(c, len(hot)), requests=len(hot),
                                        headers=headers))  # fill the result cache
                levels.append({"kind": "cached", **asyncio.run(
                    closed_loop(base, cached, concurrency=c, requests=n, headers=headers))})
                levels.append({"kind": "uncached", **asyncio.run(
                    closed_loop(base, distinct, concurrency=c, requests=n, headers=headers))})
            result["levels"] = levels
            uncached = [level for level in levels if level["kind"] == "uncached"]
            capacity = max(level["qps"] or 0.0 for level in uncached)
            unloaded = uncached[0]
            result["overload"] = _overload(base, distinct, held, capacity * overload_factor, overload_seconds,
                                           headers, unloaded)
            result["overload"]["admission_limit_after"] = admission_limit(base)
        # In-process reference on the very same store (only when the bench built it).
        if url is None or store is not None:
            result["direct"] = direct_search(store_uri, distinct, n=direct_queries, embedder=embedder)
    return result


def _overload(url: str, queries: DistinctQueries, held: Sequence[dict[str, Any]], rate: float, seconds: float,
              headers: dict[str, str] | None, unloaded: dict[str, Any]) -> dict[str, Any]:
    before = document_count(url, headers)
    job_id = None
    if held:
        response = httpx.post(url + "/v1/documents", json={"records": list(held)}, headers=headers, timeout=60.0)
        response.raise_for_status()
        job_id = response.json()["job_id"]
    run = asyncio.run(open_loop(url, queries, rate=max(rate, 1.0), seconds=seconds, headers=headers))
    run["unloaded_p99_ms"] = unloaded["p99_ms"]
    run["p99_vs_unloaded"] = (round(run["p99_ms"] / unloaded["p99_ms"], 2)
                              if run["p99_ms"] and unloaded["p99_ms"] else None)
    if job_id is not None:
        with httpx.Client(base_url=url, headers=headers, timeout=60.0) as client:
            job = wait_job(client, job_id, 1800.0)
        after = document_count(url, headers)
        stored = after - before if after is not None and before is not None else None
        run["ingest"] = {"documents": len(held), "job_state": job["state"], "job_error": job.get("error"),
                         "documents_added": stored,
                         "lost": len(held) - stored if stored is not None else None,
                         "report_documents": (job.get("report") or {}).get("documents"),
                         "report_failed": len((job.get("report") or {}).get("failed") or [])}
    return run


def admission_limit(url: str) -> float | None:
    """The server's ``ragline_admission_limit`` now (summed over workers), from /metrics."""
    try:
        text = httpx.get(url + "/metrics", timeout=10.0).text
    except httpx.HTTPError:
        return None
    match = re.search(r"^ragline_admission_limit(?:\{[^}]*\})? ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _by_status(statuses: dict[int, int]) -> dict[str, int]:
    """Answers by HTTP status; "0" counts requests that got none (a broken connection, a timeout)."""
    return {str(status): count for status, count in sorted(statuses.items())}


def _seconds(retry_after: str | None) -> float:
    try:
        return max(0.0, float(retry_after or 1))
    except ValueError:
        return 1.0


def _cycle(items: Sequence[str]) -> Iterator[str]:
    while True:
        yield from items


@contextmanager
def _server_or_url(url: str | None, store: str, embedder: str | None, workers: int, log: Path | None,
                   server_args: Sequence[str], env: dict[str, str] | None = None) -> Iterator[str]:
    if url is not None:
        yield url.rstrip("/")
        return
    with running_server(store, embedder=embedder, workers=workers, log=log, extra=server_args,
                        env=env) as started:
        yield started


# ---- output ------------------------------------------------------------------------------------
def print_bench_serve(console: Any, result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"bench serve: {result['corpus']} ({result['documents']} documents), "
                        f"embedder {result['embedder']}, {result['workers']} worker(s), "
                        f"admission {result.get('admission', 'static')}")
    for column in ("queries", "concurrency", "requests", "QPS", "p50 ms", "p95 ms", "p99 ms", "429", "errors"):
        table.add_column(column, justify="right" if column != "queries" else "left")
    for level in result["levels"]:
        table.add_row(level["kind"], str(level["concurrency"]), str(level["requests"]), _fmt(level["qps"]),
                      _fmt(level["p50_ms"]), _fmt(level["p95_ms"]), _fmt(level["p99_ms"]), str(level["shed"]),
                      _errors(level))
    console.print(table)
    over = result["overload"]
    console.print(f"overload: offered {over['offered_rate']} req/s (target {over['target_rate']}, 10x capacity) "
                  f"for {over['seconds']} s: {over['sent']} sent, {over['admitted']} admitted, {over['shed']} shed "
                  f"({_pct(over['shed_rate'])}), {over['errors']} errors; admitted p99 {_fmt(over['p99_ms'])} ms "
                  f"vs unloaded p99 {_fmt(over['unloaded_p99_ms'])} ms (x{_fmt(over['p99_vs_unloaded'])}); "
                  f"admission limit after it {_fmt(over.get('admission_limit_after'))}")
    if "ingest" in over:
        ing = over["ingest"]
        console.print(f"ingestion during overload: job {ing['job_state']}, {ing['documents']} documents sent, "
                      f"{ing['documents_added']} added, lost {ing['lost']}"
                      + (f" (error: {ing['job_error']})" if ing.get("job_error") else ""))
    if "direct" in result:
        direct = result["direct"]
        console.print(f"in-process Engine.search (same store, one thread, fresh queries): {direct['qps']} QPS, "
                      f"p50 {direct['p50_ms']} ms, p99 {direct['p99_ms']} ms")


def plot_bench_serve(result: dict[str, Any], path: Path) -> None:
    """QPS and p50/p99 against concurrency, cached and uncached, with the in-process QPS as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (qps_axis, latency_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind, style in (("cached", "o-"), ("uncached", "s-")):
        levels = [level for level in result["levels"] if level["kind"] == kind]
        xs = [level["concurrency"] for level in levels]
        qps_axis.plot(xs, [level["qps"] or 0 for level in levels], style, label=kind)
        for key, dash in (("p50_ms", "-"), ("p99_ms", "--")):
            latency_axis.plot(xs, [level[key] or np.nan for level in levels], style[0] + dash,
                              label=f"{kind} {key[:3]}")
    if "direct" in result:
        qps_axis.axhline(result["direct"]["qps"], color="grey", linestyle=":", label="Engine.search in-process")
    for axis, label in ((qps_axis, "QPS"), (latency_axis, "latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent clients")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    latency_axis.set_yscale("log")
    over = result["overload"]
    fig.suptitle(f"ragline serve, hybrid k=10 · overload x10: shed {_pct(over['shed_rate'])}, "
                 f"admitted p99 {_fmt(over['p99_ms'])} ms")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _errors(level: dict[str, Any]) -> str:
    """The error count, with its statuses when there are any (e.g. "3 (0: 2, 504: 1)")."""
    failed = {status: n for status, n in (level.get("statuses") or {}).items() if status not in ("200", "429")}
    return str(level["errors"]) + (f" ({', '.join(f'{s}: {n}' for s, n in failed.items())})" if failed else "")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def environment() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
