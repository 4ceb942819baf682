"""``ragline bench ingest``: a first run and a no-op re-run of the same folder, timed.

    result = bench_ingest(Path("corpus"))   # {"first": {...}, "rerun": {...}, "rerun_ratio": ...}
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def bench_ingest(path: Path, *, store: str | None = None, embedder: str | None = None) -> dict[str, Any]:
    from ragline.engine import Engine

    with tempfile.TemporaryDirectory(prefix="ragline-bench-") as tmp:
        uri = store or f"local:{tmp}/store"
        runs = {}
        for name in ("first", "rerun"):
            with Engine.open(uri, embedder=embedder) as engine:
                report = engine.ingest([path])
            runs[name] = report.to_dict()
    first, rerun = runs["first"], runs["rerun"]
    return {"path": str(path), "first": first, "rerun": rerun,
            "rerun_ratio": rerun["elapsed_s"] / max(first["elapsed_s"], 1e-9)}


def print_bench(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"bench ingest {result['path']}")
    for column in ("run", "seconds", "docs", "docs/s", "chunks written", "chunks/s", "embedded", "cache hits"):
        table.add_column(column, justify="right")
    for name in ("first", "rerun"):
        r = result[name]
        table.add_row(name, f"{r['elapsed_s']:.2f}", str(sum(r["documents"].values())), str(r["docs_per_s"]),
                      str(r["chunks_written"]), str(r["chunks_per_s"]), str(r["chunks_embedded"]),
                      str(r["cache_hits"]))
    console.print(table)
    console.print(f"re-run took {result['rerun_ratio'] * 100:.2f}% of the first run's time")
    stages = result["first"].get("stage_seconds", {})
    if stages:
        console.print("first run, seconds by stage: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
