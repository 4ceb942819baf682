"""The ``ragline`` command line: a thin veneer over ``Engine``.

    ragline ingest docs/ --store local:./ragline-data
    ragline search "how do deletes propagate?" -k 5 --mode hybrid
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ragline.errors import ConfigError, RaglineError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ragline: ingest documents into a searchable index and query it.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (speed goals live here, not in tests).")
app.add_typer(bench_app, name="bench")
console = Console(stderr=True)
out = Console()

StoreOpt = Annotated[str, typer.Option("--store", envvar="RAGLINE_STORE", help="Store URI, e.g. local:./ragline-data")]
NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", envvar="RAGLINE_NAMESPACE")]
EmbedderOpt = Annotated[Optional[str], typer.Option("--embedder", envvar="RAGLINE_EMBEDDER",
                                                    help="onnx (default precision), onnx-fp32, onnx-int8, onnx:MODEL?precision=...&threads=N, or hashing:DIM")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")]
DEFAULT_STORE = "local:ragline-data"


def _engine(store: str, namespace: str, embedder: str | None, **options):  # type: ignore[no-untyped-def]
    from ragline.engine import Engine

    return Engine.open(store, namespace=namespace, embedder=embedder, **options)


def _parse_filters(filters: list[str]) -> dict[str, object]:
    parsed: dict[str, object] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--filter expects key=value, got {item!r}")
        parsed[key] = int(value) if value.isdigit() else value
    return parsed


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    store: StoreOpt = DEFAULT_STORE, namespace: NamespaceOpt = "default", embedder: EmbedderOpt = None,
    include: Annotated[list[str], typer.Option("--include", help="Glob of files to take (repeatable).")] = [],
    exclude: Annotated[list[str], typer.Option("--exclude", help="Glob of files to leave (repeatable).")] = [],
    max_tokens: Annotated[int, typer.Option(help="Chunk size in model tokens.")] = 256,
    overlap: Annotated[int, typer.Option(help="Tokens shared by consecutive chunks.")] = 32,
    max_file_size: Annotated[int, typer.Option(help="Largest file to ingest, in MiB.")] = 20,
    batch_chunks: Annotated[int, typer.Option(help="Chunks embedded and committed together.")] = 256,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any document failed.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files and folders; re-runs cost only what changed."""
    from ragline.progress import IngestProgress

    with _engine(store, namespace, embedder, max_tokens=max_tokens, overlap=overlap,
                 max_file_bytes=max_file_size * 2**20, batch_chunks=batch_chunks) as engine:
        with IngestProgress(console, enabled=not as_json and console.is_terminal) as progress:
            report = engine.ingest(paths, include=include, exclude=exclude,
                                   progress=progress.update, on_listed=progress.set_total)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        from ragline.progress import print_report
        print_report(out, report)
    if strict and report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: str, k: Annotated[int, typer.Option("-k", help="Number of results.")] = 5,
    mode: Annotated[str, typer.Option(help="dense, bm25 or hybrid")] = "hybrid",
    filter: Annotated[list[str], typer.Option("--filter", help="key=value metadata filter (repeatable).")] = [],
    store: StoreOpt = DEFAULT_STORE, namespace: NamespaceOpt = "default", embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the index."""
    with _engine(store, namespace, embedder) as engine:
        started = time.perf_counter()
        hits = engine.search(query, k, mode=mode, filter=_parse_filters(filter))
        elapsed = time.perf_counter() - started
    if as_json:
        out.print_json(json.dumps([{
            "chunk_id": h.chunk.chunk_id, "doc_id": h.chunk.doc_id, "score": h.score, "uri": h.uri,
            "start": h.chunk.start, "end": h.chunk.end, "page": h.chunk.metadata.get("page"),
            "heading": h.chunk.metadata.get("heading"), "ranks": h.ranks, "text": h.chunk.text,
        } for h in hits]))
        return
    from ragline.progress import print_hits
    print_hits(out, query, hits, mode, elapsed)


@app.command()
def stats(store: StoreOpt = DEFAULT_STORE, namespace: NamespaceOpt = "default",
          embedder: EmbedderOpt = None, as_json: JsonOpt = False) -> None:
    """Show what the store holds."""
    with _engine(store, namespace, embedder) as engine:
        result = engine.stats()
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table(show_header=False, box=None)
    for key, value in result.items():
        table.add_row(key, str(value))
    out.print(table)


@app.command()
def delete(
    doc: Annotated[list[str], typer.Option("--doc", help="Document id to delete (repeatable).")] = [],
    source: Annotated[Optional[Path], typer.Option("--source", help="Delete every document from this file or folder.")] = None,
    store: StoreOpt = DEFAULT_STORE, namespace: NamespaceOpt = "default", embedder: EmbedderOpt = None,
) -> None:
    """Delete documents from the store (and from both indexes)."""
    if not doc and source is None:
        raise ConfigError("give --doc ID or --source PATH")
    with _engine(store, namespace, embedder) as engine:
        removed = engine.delete(doc_ids=doc, source=source)
    out.print(f"deleted {removed} chunk(s)")


@app.command()
def verify(repair: Annotated[bool, typer.Option(help="Fix the drift found.")] = False,
           store: StoreOpt = DEFAULT_STORE, namespace: NamespaceOpt = "default",
           embedder: EmbedderOpt = None, as_json: JsonOpt = False) -> None:
    """Check the ledger against the store and its indexes; exit 1 on drift (unless repaired)."""
    with _engine(store, namespace, embedder) as engine:
        result = engine.verify(repair=repair)
    if as_json:
        out.print_json(json.dumps(result))
    else:
        out.print(f"chunks {result['chunks']}, documents {result['documents']}, drift {result['drift']}")
        for problem in result.get("before", {}).get("problems", []) or result["problems"]:
            out.print(f"  problem: {problem}")
        for action in result.get("repaired", []):
            out.print(f"  repaired: {action}")
    if result["drift"]:
        raise typer.Exit(1)


@bench_app.command("ingest")
def bench_ingest(path: Path, store: Annotated[Optional[str], typer.Option(help="Store URI (default: a temporary one)")] = None,
                 embedder: EmbedderOpt = None, as_json: JsonOpt = False) -> None:
    """First run, then a no-op re-run, of an ingest of PATH; prints times and rates."""
    from ragline.bench import bench_ingest as run_bench

    result = run_bench(path, store=store, embedder=embedder)
    if as_json:
        out.print_json(json.dumps(result))
        return
    from ragline.bench import print_bench
    print_bench(out, result)


@bench_app.command("embed")
def bench_embed(
    chunks: Annotated[int, typer.Option("--chunks", help="Number of real chunks to embed.")] = 300,
    rounds: Annotated[int, typer.Option("--rounds", help="Interleaved timing rounds (best is kept).")] = 3,
    corpus: Annotated[Optional[Path], typer.Option(help="Cranfield BEIR folder (default: found beside the checkout).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Threads for every embedder (default: physical cores).")] = None,
    baseline: Annotated[bool, typer.Option(help="Include sentence-transformers (torch) as the baseline.")] = True,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a bar chart (PNG) here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """fp32 and int8 ONNX embedders vs sentence-transformers: speed, quality vs fp32, share of peak GEMM."""
    from ragline.bench import bench_embed as run_bench, plot_bench_embed, print_bench_embed

    try:
        result = run_bench(chunks=chunks, rounds=rounds, corpus=corpus, threads=threads, baseline=baseline)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    if plot is not None:
        plot_bench_embed(result, plot)
    if as_json:
        out.print_json(json.dumps(result))
        return
    print_bench_embed(out, result)


def main() -> None:
    try:
        # Without standalone mode click *returns* an Exit's code instead of raising it.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except RaglineError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        # Usage errors: typer vendors its own click, so match the interface, not the class.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
