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
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ragline._cli_common import (
    EmbedderOpt,
    JsonOpt,
    NamespaceOpt,
    StateOpt,
    StoreOpt,
    _engine,
    console,
    out,
)
from ragline._cli_config import config_app
from ragline._cli_queue import dlq_app, enqueue, worker
from ragline.errors import ConfigError, RaglineError
from ragline.progress import shown
from ragline.settings import CONFIG_ENV, DEFAULT_CONFIG_FILE, config_file, default

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ragline: ingest documents into a searchable index and query it.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (speed goals live here, not in tests).")
app.add_typer(bench_app, name="bench")
cache_app = typer.Typer(no_args_is_help=True, help="The embedding cache (shared by every namespace of a store).")
app.add_typer(cache_app, name="cache")
app.add_typer(dlq_app, name="dlq")
app.command()(enqueue)
app.command()(worker)
app.add_typer(config_app, name="config")
FeedbackOpt = Annotated[int | None, typer.Option(
    "--feedback-chunks", min=0, max=1000,
    help=f"Hybrid: top fused chunks whose vectors refine the query (0: off; default "
         f"{default('search.feedback_chunks')}).")]


@app.callback()
def _global_options(
    config: Annotated[Path | None, typer.Option(
        "--config", help=f"Settings file (default: ./{DEFAULT_CONFIG_FILE} if present; {CONFIG_ENV}).")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", envvar="RAGLINE_LOG_JSON",
                                           help="Logs as JSON lines on stderr (time, level, logger, message, "
                                                "request_id, fields).")] = False,
    log_level: Annotated[str | None, typer.Option("--log-level", envvar="RAGLINE_LOG_LEVEL",
                                                  help="DEBUG, INFO, WARNING (default) or ERROR.")] = None,
) -> None:
    """ragline: ingest documents into a searchable index and query it."""
    if config is not None:
        config_file(config)  # a missing file is an error now, not at the first read
        os.environ[CONFIG_ENV] = str(config)  # every reader of the tree in this process takes it
    if log_json or log_level:
        from ragline.logs import configure_logging

        level = (log_level or "WARNING").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"--log-level must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
        configure_logging(json_format=log_json, level=level)


def _parse_filters(filters: list[str]) -> dict[str, object]:
    parsed: dict[str, object] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--filter expects key=value, got {item!r}")
        parsed[key] = int(value) if value.isdigit() else value
    return parsed


def _search_filter(filters: list[str], where: list[str], path_prefix: Path | None) -> list[dict[str, object]]:
    """The search command's filter options as one filter (a list of filters, ANDed)."""
    from ragline.sources.folder import file_uri
    from ragline.store.filters import parse_where

    conditions: list[dict[str, object]] = [_parse_filters(filters)] if filters else []
    conditions += [parse_where(expression) for expression in where]
    if path_prefix is not None:
        prefix = file_uri(path_prefix)
        if path_prefix.is_dir() or str(path_prefix).endswith("/"):
            prefix = prefix.rstrip("/") + "/"  # the folder's files, not 'docs-old' beside 'docs'
        conditions.append({"uri": {"prefix": prefix}})
    return conditions


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    store: StoreOpt = None, state: StateOpt = None,
    namespace: NamespaceOpt = None, embedder: EmbedderOpt = None,
    include: Annotated[list[str], typer.Option("--include", help="Glob of files to take (repeatable).")] = [],
    exclude: Annotated[list[str], typer.Option("--exclude", help="Glob of files to leave (repeatable).")] = [],
    max_tokens: Annotated[int | None, typer.Option(min=8, help="Chunk size in model tokens (at most the model's "
                                                   f"limit; default {default('chunk.max_tokens')}).")] = None,
    overlap: Annotated[int | None, typer.Option(min=0, help="Tokens shared by consecutive chunks (less than half "
                                                f"of --max-tokens; default {default('chunk.overlap')}).")] = None,
    max_file_size: Annotated[int | None, typer.Option(min=1, max=1024, help="Largest file to ingest, in MiB "
                                                      f"(default {default('ingest.max_file_bytes') >> 20}).")]
        = None,
    max_doc_chars: Annotated[int | None, typer.Option(min=1000, help="Most characters of text one document (file "
                                                      "or JSONL record) may yield; more fails as too_large "
                                                      f"(default {default('ingest.max_doc_chars')}).")] = None,
    batch_chunks: Annotated[int | None, typer.Option(min=1, max=100_000, help="Chunks embedded and committed "
                                                     f"together (default {default('ingest.batch_chunks')}).")]
        = None,
    near_dup_threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Jaccard similarity (word "
                                                             "5-shingles) at which a document is a near-duplicate; "
                                                             "0 turns it off (default "
                                                             f"{default('ingest.near_dup_threshold')}).")] = None,
    parse_workers: Annotated[int | None, typer.Option(min=0, max=256, help="Parse processes (default: half "
                                                         "the cores; 0: parse in the main process).")] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any document failed.")] = False,
    multivector: Annotated[bool, typer.Option(
        "--multivector", help="Also store per-token vectors for `search --rerank maxsim` "
                              "(~tokens x dim x 2 bytes per chunk; the store keeps doing it).")] = False,
    vector_dtype: Annotated[str | None, typer.Option(
        "--vector-dtype", help="ANN index precision: float32, float16, int8 or binary (rescored "
        "from SQLite). Default: the store's own, or float32 for a new store. A change rebuilds the index.")] = None,
    follow_symlinks: Annotated[bool, typer.Option(
        "--follow-symlinks", help="Also follow symlinks that lead outside the folder given "
                                  "(by default they are reported as skipped).")] = False,
    rechunk: Annotated[bool, typer.Option(
        "--rechunk", help="Drop this namespace's documents and re-ingest PATHS with the chunk settings given "
                          "(a store refuses to mix two chunk settings otherwise). Give every source it was "
                          "built from: documents from others are gone.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files and folders; re-runs cost only what changed."""
    from ragline.progress import IngestProgress

    with _engine(store, namespace, embedder, state=state, max_tokens=max_tokens, overlap=overlap,
                 max_file_bytes=None if max_file_size is None else max_file_size * 2**20,
                 max_doc_chars=max_doc_chars, batch_chunks=batch_chunks,
                 near_dup_threshold=near_dup_threshold, parse_workers=parse_workers,
                 vector_dtype=vector_dtype) as engine:
        with IngestProgress(console, enabled=not as_json and console.is_terminal) as progress:
            report = engine.ingest(paths, include=include, exclude=exclude,
                                   progress=progress.update, on_listed=progress.set_total,
                                   multivector=multivector, follow_symlinks=follow_symlinks, rechunk=rechunk)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        from ragline.progress import print_report
        print_report(out, report)
    if strict and report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: str, k: Annotated[int, typer.Option("-k", min=1, max=10_000, help="Number of results.")] = 5,
    mode: Annotated[str, typer.Option(help="dense, bm25 or hybrid")] = "hybrid",
    filter: Annotated[list[str], typer.Option("--filter", help="key=value metadata filter (repeatable).")] = [],
    where: Annotated[list[str], typer.Option("--where", help="Metadata condition (repeatable, ANDed): "
                                             "'kind in pdf,html', 'year>=1990', 'kind!=pdf', "
                                             "'date<2021-06-01', 'not lang=de'.")] = [],
    path_prefix: Annotated[Path | None, typer.Option("--path-prefix", help="Only documents from this "
                                                        "folder (or whose path starts so).")] = None,
    group_by: Annotated[str | None, typer.Option("--group-by", help="'doc': one result per document "
                                                    "(its best chunk, with the number that matched).")] = None,
    store: StoreOpt = None, state: StateOpt = None,
    namespace: NamespaceOpt = None, embedder: EmbedderOpt = None,
    rerank: Annotated[str | None, typer.Option(help="Re-rank candidates: maxsim (needs ingest --multivector).")] = None,
    rerank_depth: Annotated[int | None, typer.Option(min=1, max=100_000,
                                                        help="Candidates to re-rank (default max(4k, 40)).")] = None,
    feedback_chunks: FeedbackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the index."""
    conditions = _search_filter(filter, where, path_prefix)
    options = {} if feedback_chunks is None else {"feedback_chunks": feedback_chunks}
    with _engine(store, namespace, embedder, state=state, create_store=False, **options) as engine:
        started = time.perf_counter()
        hits = engine.search(query, k, mode=mode, filter=conditions, group_by=group_by,
                             rerank=rerank, rerank_depth=rerank_depth)
        elapsed = time.perf_counter() - started
    if as_json:
        out.print_json(json.dumps([h.to_dict() for h in hits]))
        return
    from ragline.progress import print_hits
    print_hits(out, query, hits, mode, elapsed)


@app.command()
def answer(
    question: str,
    llm: Annotated[str | None, typer.Option("--llm", envvar="RAGLINE_LLM",
                                            help="openai:MODEL (any OpenAI-compatible chat server; "
                                                 "key from $OPENAI_API_KEY).")] = None,
    llm_base_url: Annotated[str | None, typer.Option("--llm-base-url", envvar="RAGLINE_LLM_BASE_URL",
                                                     help="The chat server, e.g. http://127.0.0.1:8000/v1 "
                                                          "(default $OPENAI_BASE_URL or OpenAI).")] = None,
    # The old name (before serve's --llm-base-url set the spelling): still accepted, not shown.
    base_url: Annotated[str | None, typer.Option("--base-url", hidden=True)] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Chunks to retrieve.")] = 8,
    mode: Annotated[str, typer.Option(help="dense, bm25 or hybrid")] = "hybrid",
    max_context_tokens: Annotated[int, typer.Option(min=16, max=1_000_000,
                                                    help="Token budget of the packed context.")] = 2000,
    store: StoreOpt = None, state: StateOpt = None,
    namespace: NamespaceOpt = None, embedder: EmbedderOpt = None, as_json: JsonOpt = False,
) -> None:
    """Answer a question from the index with a chat model that cites its sources by number."""
    from ragline.answer import Answerer
    from ragline.llm import open_llm
    from ragline.progress import print_answer

    if not llm:
        raise ConfigError("no chat model: pass --llm openai:MODEL (or set RAGLINE_LLM)")
    if base_url is not None:
        if llm_base_url is not None and llm_base_url != base_url:
            raise ConfigError("--base-url is the old name of --llm-base-url: give one of them")
        console.print("[yellow]note:[/] --base-url is deprecated: use --llm-base-url")
        llm_base_url = base_url
    with _engine(store, namespace, embedder, state=state, create_store=False) as engine, \
            open_llm(llm, base_url=llm_base_url) as chat:
        events = Answerer(engine, chat, k=k, mode=mode, max_context_tokens=max_context_tokens).stream(question)
        result = print_answer(Console(quiet=True) if as_json else out, events)
    if as_json:
        out.print_json(json.dumps(result))
    if result["error"]:
        console.print(f"[bold red]error:[/] {shown(result['error']['code'])}: {shown(result['error']['message'])}")
        raise typer.Exit(3)


@app.command()
def stats(store: StoreOpt = None, state: StateOpt = None, namespace: NamespaceOpt = None,
          embedder: EmbedderOpt = None, as_json: JsonOpt = False) -> None:
    """Show what the store holds."""
    with _engine(store, namespace, embedder, state=state, create_store=False) as engine:
        result = engine.stats()
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table(show_header=False, box=None)
    for key, value in result.items():
        table.add_row(shown(key), shown(value))
    out.print(table)


@app.command()
def delete(
    doc: Annotated[list[str], typer.Option("--doc", help="Document id to delete (repeatable).")] = [],
    source: Annotated[Path | None, typer.Option(
        "--source", help="Delete every document from this file or folder.")] = None,
    store: StoreOpt = None, state: StateOpt = None,
    namespace: NamespaceOpt = None, embedder: EmbedderOpt = None,
) -> None:
    """Delete documents from the store (and from both indexes)."""
    if not doc and source is None:
        raise ConfigError("give --doc ID or --source PATH")
    with _engine(store, namespace, embedder, state=state) as engine:
        removed = engine.delete(doc_ids=doc, source=source)
    out.print(f"deleted {removed} chunk(s)")


@app.command()
def verify(repair: Annotated[bool, typer.Option(help="Fix the drift found.")] = False,
           store: StoreOpt = None, state: StateOpt = None, namespace: NamespaceOpt = None,
           embedder: EmbedderOpt = None, as_json: JsonOpt = False) -> None:
    """Check the ledger against the store and its indexes; exit 1 on drift (unless repaired)."""
    with _engine(store, namespace, embedder, state=state, create_store=repair) as engine:
        result = engine.verify(repair=repair)
    if as_json:
        out.print_json(json.dumps(result))
    else:
        out.print(f"chunks {result['chunks']}, documents {result['documents']}, drift {result['drift']}")
        for problem in result.get("before", {}).get("problems", []) or result["problems"]:
            out.print(f"  problem: {shown(problem)}")
        for action in result.get("repaired", []):
            out.print(f"  repaired: {shown(action)}")
    if result["drift"]:
        raise typer.Exit(1)


@app.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv.")],
    store: Annotated[str | None, typer.Option(
        "--store", help="Store URI to build or reuse (default: a temporary one)")] = None,
    mode: Annotated[list[str], typer.Option(
        "--mode", help="dense, bm25 or hybrid (repeatable; default all three)")] = [],
    split: Annotated[str, typer.Option(help="Which qrels file to score against.")] = "test",
    depth: Annotated[int, typer.Option(min=1, max=100_000,
                                       help="Results retrieved per query (MAP is computed over them).")] = 1000,
    run_file: Annotated[str | None, typer.Option("--run-file", help="Write TREC run files PREFIX.MODE.trec")] = None,
    feedback_chunks: FeedbackOpt = None,
    embedder: EmbedderOpt = None, as_json: JsonOpt = False,
) -> None:
    """Score retrieval on a BEIR collection: nDCG@10, Recall@100, MAP, MRR@10 per mode."""
    from ragline.evaluate import print_eval, run_eval

    result = run_eval(dataset, store=store, modes=mode or ("dense", "bm25", "hybrid"), split=split,
                      embedder=embedder, depth=depth, run_file=run_file, feedback_chunks=feedback_chunks)
    if as_json:
        out.print_json(json.dumps(result))
    else:
        print_eval(out, result)


@bench_app.command("ingest")
def bench_ingest(
    path: Annotated[Path | None, typer.Argument(help="Folder or file to ingest.")] = None,
    store: Annotated[str | None, typer.Option(help="Store URI (default: a temporary one)")] = None,
    state: StateOpt = None,
    embedder: EmbedderOpt = None,
    generate: Annotated[int, typer.Option(min=0, help="Ingest a generated corpus of this many small documents "
                                                "(JSONL shards of real sentences) instead of PATH.")] = 0,
    generate_html: Annotated[int, typer.Option(help="Ingest this many generated HTML pages (real sentences "
                                                     "in page chrome: nav, header, sidebars, footer).")] = 0,
    rerun: Annotated[bool, typer.Option(help="Also time a no-op re-run.")] = True,
    parse_workers: Annotated[int | None, typer.Option(min=0, max=256, help="Parse processes (0: none).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """End-to-end ingest of PATH with a per-stage breakdown, the embedder's busy fraction and peak
    RSS; then a no-op re-run."""
    import tempfile

    from ragline.bench import bench_ingest as run_bench
    from ragline.bench import generate_corpus

    with tempfile.TemporaryDirectory(prefix="ragline-gen-") as tmp:
        if generate:
            path = generate_corpus(Path(tmp) / "corpus", generate)
        elif generate_html:
            from ragline.bench_html import generate_html_corpus
            path = generate_html_corpus(Path(tmp) / "site", generate_html)
        if path is None:
            raise typer.BadParameter("give PATH, --generate N or --generate-html N")
        options: dict[str, Any] = {} if parse_workers is None else {"parse_workers": parse_workers}
        if state is not None:
            options["state"] = state
        result = run_bench(path, store=store, embedder=embedder, rerun=rerun, **options)
    if as_json:
        out.print_json(json.dumps(result))
        return
    from ragline.bench import print_bench
    print_bench(out, result)


@cache_app.command("stats")
def cache_stats(store: StoreOpt = None, state: StateOpt = None,
                embedder: EmbedderOpt = None, as_json: JsonOpt = False) -> None:
    """Entries and size per model, and the lifetime hit rate."""
    with _engine(store, "default", embedder, state=state) as engine:
        result = engine.cache_stats()
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table(title="embedding cache")
    for column in ("model", "entries", "MiB"):
        table.add_column(column, justify="right")
    for model in result["models"]:
        table.add_row(shown(model["model"]), str(model["entries"]), f"{model['mib']:.2f}")
    out.print(table)
    rate = result["lifetime_hit_rate"]
    out.print(f"lifetime: {result['lifetime_hits']} hits, {result['lifetime_misses']} misses"
              + (f", hit rate {rate:.1%}" if rate is not None else ""))


@cache_app.command("clear")
def cache_clear(store: StoreOpt = None, state: StateOpt = None, embedder: EmbedderOpt = None,
                model: Annotated[str | None, typer.Option(help="Only this model's entries (as named by "
                                                                   "`cache stats`).")] = None,
                as_json: JsonOpt = False) -> None:
    """Delete cached embeddings (the store's chunks keep their vectors)."""
    with _engine(store, "default", embedder, state=state) as engine:
        removed = engine.clear_cache(model=model)
    if as_json:
        out.print_json(json.dumps({"removed": removed}))
    else:
        out.print(f"removed {removed} cached embeddings")


@bench_app.command("search")
def bench_search(
    n: Annotated[int, typer.Option("--n", min=1, help="Chunks (vectors) in the benchmark store.")] = 200_000,
    queries: Annotated[int, typer.Option(min=1, max=225, help="Real Cranfield queries to run (at most 225).")] = 225,
    dtype: Annotated[list[str], typer.Option("--dtype", help="ANN dtype to measure (repeatable; default: all).")] = [],
    cranfield: Annotated[Path | None, typer.Option(help="BEIR-format Cranfield folder.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Dense and hybrid search on N expanded real embeddings, for every ANN vector dtype."""
    from ragline.bench import bench_search as run_bench
    from ragline.bench import print_search_bench

    result = run_bench(n, queries, dtypes=dtype or None, cranfield=cranfield,
                       log=None if as_json else (lambda message: console.print(message)))
    if as_json:
        out.print_json(json.dumps(result))
        return
    print_search_bench(out, result)


@bench_app.command("embed")
def bench_embed(
    chunks: Annotated[int, typer.Option("--chunks", min=1, help="Number of real chunks to embed.")] = 300,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Interleaved timing rounds (best is kept).")] = 3,
    corpus: Annotated[Path | None, typer.Option(
        help="Cranfield BEIR folder (default: found beside the checkout).")] = None,
    threads: Annotated[int | None, typer.Option(
        min=1, max=1024, help="Threads for every embedder (default: physical cores).")] = None,
    baseline: Annotated[bool, typer.Option(help="Include sentence-transformers (torch) as the baseline.")] = True,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a bar chart (PNG) here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every runtime and precision (ONNX Runtime, OpenVINO) vs sentence-transformers: speed, drift
    from fp32, share of peak GEMM."""
    from ragline.bench import bench_embed as run_bench
    from ragline.bench import plot_bench_embed, print_bench_embed

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


@bench_app.command("serve")
def bench_serve(
    url: Annotated[str | None, typer.Option(help="Drive this running server instead of starting one.")] = None,
    corpus: Annotated[Path | None, typer.Option(
        help="BEIR folder or folder of text files (default: datasets/cranfield, else samples/corpus).")] = None,
    embedder: EmbedderOpt = None,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 1,
    concurrency: Annotated[list[int], typer.Option(
        "--concurrency", "-c", min=1, help="Concurrent clients (repeatable; default 1 16 64 256).")] = [],
    requests: Annotated[int | None, typer.Option(min=1, help="Requests per level (default max(200, 8 x c)).")] = None,
    overload_seconds: Annotated[float, typer.Option(min=0.1, help="Length of the 10x overload run.")] = 5.0,
    overload_docs: Annotated[int, typer.Option(min=0, help="Documents ingested during the overload run.")] = 100,
    direct_queries: Annotated[int, typer.Option(min=1, help="In-process Engine.search queries.")] = 200,
    api_key: Annotated[str | None, typer.Option(envvar="RAGLINE_API_KEY", help="Bearer key for --url.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a latency/QPS chart (PNG) here.")] = None,
    server_log: Annotated[Path | None, typer.Option(help="Append the started server's output here.")] = None,
    admission: Annotated[str | None, typer.Option(
        help="The started server's admission limit: adaptive | static (default: $RAGLINE_SERVE_ADMISSION, "
             "else adaptive).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The HTTP server under load: QPS and p50/p95/p99 per concurrency for cached and uncached hybrid
    queries, a 10x overload run with ingestion, and in-process Engine.search beside them."""
    from ragline.bench_serve import DEFAULT_CONCURRENCY, plot_bench_serve, print_bench_serve
    from ragline.bench_serve import bench_serve as run_bench

    result = run_bench(url=url, corpus=corpus, embedder=embedder, workers=workers,
                       concurrency=concurrency or DEFAULT_CONCURRENCY, requests=requests,
                       overload_seconds=overload_seconds, overload_docs=overload_docs,
                       direct_queries=direct_queries, api_key=api_key, log=server_log, admission=admission)
    if plot is not None:
        plot_bench_serve(result, plot)
    if as_json:
        out.print_json(json.dumps(result))
        return
    print_bench_serve(out, result)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes (uvicorn workers).")] = 1,
    store: Annotated[str | None, typer.Option("--store", envvar="RAGLINE_STORE", help="Store URI.")] = None,
    state: StateOpt = None,
    embedder: EmbedderOpt = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Development only (127.0.0.1): no API keys, "
                                          "every request works in namespace 'default'.")] = False,
    cache: Annotated[str | None, typer.Option("--cache", help="A result/query-vector cache shared by every "
                                              "worker, e.g. redis://127.0.0.1:6379/0?ttl=600.")] = None,
    llm: Annotated[str | None, typer.Option("--llm", help="openai:MODEL for POST /v1/answer (any "
                                            "OpenAI-compatible chat server; key from $OPENAI_API_KEY).")] = None,
    llm_base_url: Annotated[str | None, typer.Option("--llm-base-url", help="The chat server, e.g. "
                                                     "http://127.0.0.1:8080/v1.")] = None,
) -> None:
    """Serve search and ingestion over HTTP (README "HTTP server"; keys: RAGLINE_SERVE_API_KEYS,
    RAGLINE_SERVE_ADMIN_KEY; every other setting: RAGLINE_SERVE_*)."""
    from ragline.serve.launch import launch
    from ragline.serve.settings import ServeSettings

    given: dict[str, Any] = {"store": store, "state": state, "embedder": embedder,
                             "auth": False if no_auth else None, "cache": cache, "llm": llm,
                             "llm_base_url": llm_base_url}
    launch(ServeSettings(host=host, port=port, workers=workers, **{k: v for k, v in given.items() if v is not None}))


def main() -> None:
    try:
        # Without standalone mode click *returns* an Exit's code instead of raising it.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except RaglineError as exc:
        console.print(f"[bold red]error:[/] {shown(exc)}")
        sys.exit(2)
    except OSError as exc:  # disk full, I/O error, permissions: one line, not a traceback
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        # Usage errors: typer vendors its own click, so match the interface, not the class.
        exit_code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show") and isinstance(exit_code, int):
            exc.show()
            sys.exit(exit_code)
        raise


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
