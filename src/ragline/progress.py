"""Rich rendering for the CLI: live ingest progress, the final report, and search hits.

Anything a user or a document controls (uris, ids, titles, headings, snippets, error reasons)
goes through ``shown``/``terminal_safe`` before it reaches the terminal: control characters
(ESC sequences, BEL, backspace, carriage return, C1 controls, bidi overrides) are printed as
visible ``\\xNN``/``\\uNNNN`` escapes, and rich markup in them is escaped, so a file name
cannot recolour, retitle or rewrite the terminal. ``--json`` output is not rendered here.
"""

from __future__ import annotations

import re
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ragline.records import Hit, IngestReport

# C0 controls but tab, DEL, C1 controls, and the bidi embedding/override/isolate marks.
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE_LINE = re.compile(f"[\n{_CONTROLS}]")
_UNSAFE_TEXT = re.compile(f"[{_CONTROLS}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(value: object, *, newlines: bool = False) -> str:
    """``value`` as text with every control character shown as an escape (newlines kept only
    when ``newlines``), safe to write to a terminal."""
    return (_UNSAFE_TEXT if newlines else _UNSAFE_LINE).sub(_visible, str(value))


def shown(value: object, *, newlines: bool = False) -> str:
    """``terminal_safe``, then escaped for rich markup: for user text inside a markup string."""
    return escape(terminal_safe(value, newlines=newlines))


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
    console.print(f"[bold]ingested[/] namespace={shown(report.namespace)}  " + "  ".join(
        f"{k}={v}" for k, v in docs.items()))
    console.print(f"chunks written={data['chunks_written']} deleted={data['chunks_deleted']} "
                  f"embedded={data['chunks_embedded']} tokens={data['tokens_embedded']} "
                  f"cache hits={data['cache_hits']} ({data['cache_hit_rate']:.0%})  "
                  f"dedup rate={data['dedup_rate']:.1%}")
    console.print(f"elapsed {data['elapsed_s']:.2f}s  {data['docs_per_s']} docs/s  "
                  f"{data['chunks_per_s']} chunks/s")
    for item in report.failed:
        console.print(f"[red]failed[/] {shown(item.uri)} ({shown(item.stage)}): {shown(item.reason)}")
    for item in report.skipped:
        console.print(f"[yellow]skipped[/] {shown(item.uri)}: {shown(item.reason)}")
    for item in report.warnings:
        console.print(f"[yellow]warning[/] {shown(item.uri)}: {shown(item.reason)}")
    for uri, original in report.duplicates.items():
        console.print(f"[cyan]duplicate[/] {shown(uri)} of {shown(original)}")
    for uri, near in report.near_duplicates.items():
        console.print(f"[cyan]near-duplicate[/] {shown(uri)} of {shown(near['original'])} "
                      f"(similarity {near['similarity']:.2f})")
    pipeline = data.get("pipeline") or {}
    if pipeline.get("wall_s"):
        busy = ", ".join(f"{name} {stage['busy_s']:.1f}s" for name, stage in pipeline["stages"].items()
                         if stage["busy_s"] >= 0.05)
        console.print(f"stages (busy): {busy}; embedder busy {pipeline['embedder_busy_fraction']:.0%} of wall time")


def print_hits(console: Console, query: str, hits: list[Hit], mode: str, elapsed: float) -> None:
    console.print(f"[bold]{len(hits)} hit(s)[/] for {shown(repr(query))} ({shown(mode)}, "
                  f"{elapsed * 1000:.1f} ms)")
    for rank, hit in enumerate(hits, start=1):
        meta = hit.chunk.metadata
        where = [f"chars {hit.chunk.start}-{hit.chunk.end}"]
        if meta.get("page"):
            where.insert(0, f"page {shown(meta['page'])}")
        if meta.get("heading"):
            where.insert(0, f"§ {shown(meta['heading'])}")
        if hit.page_end and hit.page_end != hit.page:
            where[0 if not meta.get("heading") else 1] = f"pages {shown(hit.page)}-{shown(hit.page_end)}"
        score = f"{hit.score:.4f}"
        if hit.doc_score is not None:
            score = f"{hit.doc_score:.4f} ({len(hit.doc_matches)} matching chunk(s), best {hit.score:.4f})"
        console.print(f"[bold]{rank}.[/] {score}  {shown(hit.uri)}  ({', '.join(where)})", highlight=False)
        if hit.snippet is not None:
            raw, last = hit.snippet.text, 0
            text = Text("    ")
            for start, end in hit.snippet.highlights:  # each piece made safe on its own
                text.append(terminal_safe(raw[last:start], newlines=True))
                text.append(terminal_safe(raw[start:end], newlines=True), style="bold yellow")
                last = end
            text.append(terminal_safe(raw[last:], newlines=True))
            console.print(text, highlight=False)
        else:
            console.print(f"    {terminal_safe(' '.join(hit.chunk.text.split())[:240])}", highlight=False,
                          markup=False)


def print_answer(console: Console, events: Any) -> dict[str, Any]:
    """Stream an answer's tokens to the terminal as they come, then its sources (cited ones
    marked). Model output is as untrusted as a document: it goes through ``terminal_safe``.
    Returns the collected answer (text, citations, cited, error)."""
    result: dict[str, Any] = {"text": "", "citations": [], "cited": [], "usage": {}, "error": None}
    for event in events:
        if event.event == "citations":
            result["citations"] = event.data["citations"]
        elif event.event == "token":
            result["text"] += event.data["text"]
            console.print(terminal_safe(event.data["text"], newlines=True), end="", markup=False,
                          highlight=False, soft_wrap=True)
        elif event.event == "done":
            result["cited"], result["usage"] = event.data["cited"], event.data.get("usage", {})
        elif event.event == "error":
            result["error"] = event.data
    console.print()
    if result["citations"]:
        console.print("[bold]Sources[/]")
    for citation in result["citations"]:
        mark = "*" if citation["n"] in result["cited"] else " "
        title = f"{shown(citation['title'])} — " if citation.get("title") else ""
        console.print(f"{mark}[{citation['n']}] {title}{shown(citation['source'])}", highlight=False)
    return result
