"""``ragline bench ingest``: a first run and a no-op re-run of the same folder, timed, with the
pipeline's per-stage breakdown, the embedder's busy fraction and the process tree's memory.

    result = bench_ingest(Path("corpus"))   # {"first": {...}, "rerun": {...}, "rerun_ratio": ...}
    generate_corpus(Path("big"), 200_000)   # sharded JSONL of small documents made of real sentences
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class MemorySampler(threading.Thread):
    """Samples the RSS of this process and its children (parse workers) every ``interval`` s."""

    def __init__(self, interval: float = 0.5):
        super().__init__(name="ragline-rss", daemon=True)
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()
        self.started = time.perf_counter()

    def rss(self) -> int:
        import psutil

        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.samples.append((time.perf_counter() - self.started, self.rss()))

    def stop(self) -> dict[str, Any]:
        self._halt.set()
        self.join()
        self.samples.append((time.perf_counter() - self.started, self.rss()))
        values = [rss for _, rss in self.samples]
        mib = 2**20
        # RSS at each tenth of the run: flat after warm-up means the later tenths stay level.
        tenths = [round(values[min(len(values) - 1, int(len(values) * i / 10))] / mib, 1) for i in range(1, 11)]
        return {"peak_rss_mib": round(max(values) / mib, 1), "rss_by_tenth_mib": tenths,
                "growth_after_first_quarter_mib": round((values[-1] - values[len(values) // 4]) / mib, 1),
                "samples": len(values)}


def bench_ingest(path: Path, *, store: str | None = None, embedder: str | None = None,
                 rerun: bool = True, **options: Any) -> dict[str, Any]:
    from ragline.engine import Engine

    with tempfile.TemporaryDirectory(prefix="ragline-bench-") as tmp:
        uri = store or f"local:{tmp}/store"
        runs = {}
        for name in ("first", "rerun") if rerun else ("first",):
            sampler = MemorySampler()
            sampler.start()
            with Engine.open(uri, embedder=embedder, **options) as engine:
                report = engine.ingest([path])
            runs[name] = {**report.to_dict(), "memory": sampler.stop()}
            for key in ("failed", "skipped", "warnings", "duplicates", "near_duplicates"):
                runs[name][f"{key}_count"] = len(runs[name].pop(key))
    result: dict[str, Any] = {"path": str(path), "embedder": embedder or "onnx", **runs}
    if rerun:
        result["rerun_ratio"] = runs["rerun"]["elapsed_s"] / max(runs["first"]["elapsed_s"], 1e-9)
    return result


def print_bench(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"bench ingest {result['path']} ({result['embedder']})")
    for column in ("run", "seconds", "docs", "docs/s", "chunks written", "chunks/s", "embedded",
                   "cache hit rate", "dedup rate", "peak RSS MiB"):
        table.add_column(column, justify="right")
    runs = [name for name in ("first", "rerun") if name in result]
    for name in runs:
        r = result[name]
        table.add_row(name, f"{r['elapsed_s']:.2f}", str(sum(r["documents"].values())), str(r["docs_per_s"]),
                      str(r["chunks_written"]), str(r["chunks_per_s"]), str(r["chunks_embedded"]),
                      f"{r['cache_hit_rate']:.1%}", f"{r['dedup_rate']:.1%}",
                      str(r["memory"]["peak_rss_mib"]))
    console.print(table)
    if "rerun_ratio" in result:
        console.print(f"re-run took {result['rerun_ratio'] * 100:.2f}% of the first run's time")
    pipeline = result["first"].get("pipeline") or {}
    if pipeline:
        stages = Table(title="first run: busy time by stage (parse, chunk and signature summed over "
                             f"{pipeline.get('parse_workers') or 'no'} worker processes)")
        for column in ("stage", "busy s", "% of wall", "items", "items/s"):
            stages.add_column(column, justify="right")
        wall = pipeline["wall_s"]
        for name, stage in pipeline["stages"].items():
            stages.add_row(name, f"{stage['busy_s']:.2f}", f"{stage['busy_s'] / wall:.0%}", str(stage["items"] or ""),
                           "" if not stage["items"] else str(stage["items_per_s"]))
        console.print(stages)
        console.print(f"embedder busy {pipeline['embedder_busy_fraction']:.1%} of {wall:.1f} s wall time")
    memory = result["first"]["memory"]
    console.print(f"RSS by tenth of the first run (MiB): {memory['rss_by_tenth_mib']}; "
                  f"growth after the first quarter: {memory['growth_after_first_quarter_mib']} MiB")


def generate_corpus(target: Path, n_docs: int, *, source: Path | None = None, per_file: int = 1000,
                    seed: int = 7) -> Path:
    """Write ``n_docs`` small documents (3-8 sentences drawn from a real corpus) as JSONL shards.

    The default source is the bundled Cranfield collection; every document is distinct."""
    source = source or _default_sentences_source()
    sentences: list[str] = []
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            sentences += [s.strip() for s in _SENTENCE.split(record.get("text", "")) if len(s.split()) >= 5]
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    shard = 0
    while written < n_docs:
        count = min(per_file, n_docs - written)
        with (target / f"shard-{shard:05d}.jsonl").open("w", encoding="utf-8") as out:
            for i in range(count):
                body = " ".join(rng.sample(sentences, rng.randint(3, 8)))
                out.write(json.dumps({"_id": f"g{written + i}", "title": f"Generated note {written + i}",
                                      "text": body}) + "\n")
        written += count
        shard += 1
    return target


def _default_sentences_source() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        for candidate in (parent / "datasets" / "cranfield" / "corpus.jsonl",
                          parent / "samples" / "corpus" / "data" / "cranfield-40.jsonl"):
            if candidate.exists():
                return candidate
    raise FileNotFoundError("no sentence source found; pass source=PATH to a JSONL corpus")
