"""Rich rendering for the CLI: live ingest progress, the final report, and search hits."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ragline.records import Hit, IngestReport

STAGES = ("files", "read", "parsed", "chunks", "embedded", "written", "unchanged", "failed")


class IngestProgress:
    """Per-stage counts and rates, with an ETA from the file rate; refreshed a few times a second."""

    def __init__(self, console: Console, enabled: bool = True):
        self.console = console
        self.enabled = enabled
        self.counts = dict.fromkeys(STAGES, 0)
        self.total = 0
        self.started = time.perf_counter()
        self._live: Live | None = None
        self._last = 0.0

    def __enter__(self) -> IngestProgress:
        if self.enabled:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def set_total(self, n: int) -> None:
        self.total += n

    def update(self, stage: str, n: int) -> None:
        self.counts[stage] = self.counts.get(stage, 0) + n
        now = time.perf_counter()
        if self._live is not None and now - self._last > 0.2:
            self._last = now
            self._live.update(self._render())

    def _render(self) -> Table:
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        done = self.counts["files"]
        eta = (self.total - done) * elapsed / done if done else float("nan")
        table = Table(title=f"ingest: {done}/{self.total} files, {elapsed:.0f}s elapsed, "
                            f"ETA {eta:.0f}s" if done else f"ingest: listing {self.total} files")
        table.add_column("stage")
        table.add_column("count", justify="right")
        table.add_column("per s", justify="right")
        for stage in STAGES:
            table.add_row(stage, str(self.counts[stage]), f"{self.counts[stage] / elapsed:.1f}")
        return table


def print_report(console: Console, report: IngestReport) -> None:
    # uris, ids and reasons are data: a record id "[/x]" must not be read as markup
    data = report.to_dict()
    docs = data["documents"]
    console.print(f"[bold]ingested[/] namespace={escape(report.namespace)}  " + "  ".join(
        f"{k}={v}" for k, v in docs.items()))
    console.print(f"chunks written={data['chunks_written']} deleted={data['chunks_deleted']} "
                  f"embedded={data['chunks_embedded']} tokens={data['tokens_embedded']} "
                  f"cache hits={data['cache_hits']} ({data['cache_hit_rate']:.0%})  "
                  f"dedup rate={data['dedup_rate']:.1%}")
    console.print(f"elapsed {data['elapsed_s']:.2f}s  {data['docs_per_s']} docs/s  "
                  f"{data['chunks_per_s']} chunks/s")
    for item in report.failed:
        console.print(f"[red]failed[/] {escape(item.uri)} ({item.stage}): {escape(item.reason)}")
    for item in report.skipped:
        console.print(f"[yellow]skipped[/] {escape(item.uri)}: {escape(item.reason)}")
    for item in report.warnings:
        console.print(f"[yellow]warning[/] {escape(item.uri)}: {escape(item.reason)}")
    for uri, original in report.duplicates.items():
        console.print(f"[cyan]duplicate[/] {escape(uri)} of {escape(original)}")
    for uri, near in report.near_duplicates.items():
        console.print(f"[cyan]near-duplicate[/] {escape(uri)} of {escape(near['original'])} "
                      f"(similarity {near['similarity']:.2f})")
    pipeline = data.get("pipeline") or {}
    if pipeline.get("wall_s"):
        busy = ", ".join(f"{name} {stage['busy_s']:.1f}s" for name, stage in pipeline["stages"].items()
                         if stage["busy_s"] >= 0.05)
        console.print(f"stages (busy): {busy}; embedder busy {pipeline['embedder_busy_fraction']:.0%} of wall time")


def print_hits(console: Console, query: str, hits: list[Hit], mode: str, elapsed: float) -> None:
    console.print(f"[bold]{len(hits)} hit(s)[/] for {query!r} ({mode}, {elapsed * 1000:.1f} ms)")
    for rank, hit in enumerate(hits, start=1):
        meta = hit.chunk.metadata
        where = [f"chars {hit.chunk.start}-{hit.chunk.end}"]
        if meta.get("page"):
            where.insert(0, f"page {meta['page']}")
        if meta.get("heading"):
            where.insert(0, f"§ {meta['heading']}")
        if hit.page_end and hit.page_end != hit.page:
            where[0 if not meta.get("heading") else 1] = f"pages {hit.page}-{hit.page_end}"
        score = f"{hit.score:.4f}"
        if hit.doc_score is not None:
            score = f"{hit.doc_score:.4f} ({len(hit.doc_matches)} matching chunk(s), best {hit.score:.4f})"
        console.print(f"[bold]{rank}.[/] {score}  {hit.uri}  ({', '.join(where)})", highlight=False)
        if hit.snippet is not None:
            text = Text("    " + hit.snippet.text)
            for start, end in hit.snippet.highlights:
                text.stylize("bold yellow", start + 4, end + 4)
            console.print(text, highlight=False)
        else:
            console.print(f"    {' '.join(hit.chunk.text.split())[:240]}", highlight=False, markup=False)
