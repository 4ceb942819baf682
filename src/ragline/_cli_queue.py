"""The queue commands of ``ragline``: ``enqueue``, ``worker`` and ``dlq list|replay|drop``
(README "Queue workers")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ragline._cli_common import EmbedderOpt, JsonOpt, NamespaceOpt, QueueOpt, StateOpt, StoreOpt, _engine, console, out
from ragline.progress import shown

dlq_app = typer.Typer(no_args_is_help=True, help="The queue's dead letters: items that failed every try.")


def enqueue(paths: Annotated[list[Path], typer.Argument(help="Files or folders whose files to enqueue.")],
            queue: QueueOpt, as_json: JsonOpt = False) -> None:
    """Publish references (absolute paths) to the files under PATHS for `ragline worker`; never their bytes."""
    from ragline.queues import open_queue
    from ragline.queues.worker import source_references

    sources, roots, skipped = source_references(paths)
    opened = open_queue(queue)
    try:
        ids = opened.publish(sources, roots)
    finally:
        opened.close()
    if as_json:
        out.print_json(json.dumps({"enqueued": len(ids), "skipped": skipped}))
        return
    out.print(f"enqueued {len(ids)} file(s)")
    for line in skipped:
        out.print(f"  skipped: {shown(line)}")


def worker(
    queue: QueueOpt, store: StoreOpt = None, state: StateOpt = None,
    namespace: NamespaceOpt = None, embedder: EmbedderOpt = None,
    max_deliveries: Annotated[int, typer.Option(min=1, max=1000, help="Deliveries before an item goes to the "
                                                "dead letters.")] = 3,
    idle_ms: Annotated[int, typer.Option(min=1, help="Idle time after which an unacknowledged item (its worker "
                                         "died, or it failed) is reclaimed.")] = 60_000,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Items ingested together.")] = 16,
    consumer: Annotated[str | None, typer.Option(help="Consumer name (default: host-pid).")] = None,
    exit_when_empty: Annotated[bool, typer.Option("--exit-when-empty", help="Stop once no item is new or "
                                                  "pending (default: wait for more).")] = False,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", min=1, max=65535,
                                                     help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Consume a queue: ingest each referenced file, acknowledging it once stored."""
    from ragline.logs import json_logging_enabled
    from ragline.queues import open_queue
    from ragline.queues.worker import run_worker

    opened = open_queue(queue)
    exporter = None
    try:
        if metrics_port is not None:
            from ragline.metrics import serve_metrics

            exporter = serve_metrics(metrics_port)
        with _engine(store, namespace, embedder, state=state, parse_workers=0) as engine:
            stats = run_worker(opened, engine, consumer=consumer, max_deliveries=max_deliveries,
                               idle_ms=idle_ms, batch=batch, exit_when_empty=exit_when_empty,
                               log=None if json_logging_enabled() else lambda line: console.print(shown(line)))
    finally:
        opened.close()
        if exporter is not None:
            exporter.shutdown()
    if as_json:
        out.print_json(json.dumps(stats.to_dict()))
    else:
        out.print(f"acked {stats.acked}, retried {stats.retried}, dead letters {stats.dead}")


@dlq_app.command("list")
def dlq_list(queue: QueueOpt, as_json: JsonOpt = False) -> None:
    """The dead letters: source, error and attempts."""
    from dataclasses import asdict

    from ragline.queues import open_queue

    opened = open_queue(queue)
    try:
        letters = opened.dead_letters()
    finally:
        opened.close()
    if as_json:
        out.print_json(json.dumps([asdict(letter) for letter in letters]))
        return
    for letter in letters:
        out.print(f"{letter.id}  {shown(letter.source)}  attempts {letter.attempts}  {shown(letter.error)}")


@dlq_app.command("replay")
def dlq_replay(queue: QueueOpt, ids: Annotated[list[str], typer.Argument(help="Dead letter ids (default: all).")]
               = []) -> None:
    """Publish dead letters again (after fixing their files) and remove them from the list."""
    from ragline.queues import open_queue

    opened = open_queue(queue)
    try:
        out.print(f"replayed {opened.replay(ids)} item(s)")
    finally:
        opened.close()


@dlq_app.command("drop")
def dlq_drop(queue: QueueOpt, ids: Annotated[list[str], typer.Argument(help="Dead letter ids (default: all).")]
             = []) -> None:
    """Remove dead letters for good."""
    from ragline.queues import open_queue

    opened = open_queue(queue)
    try:
        out.print(f"dropped {opened.drop(ids)} item(s)")
    finally:
        opened.close()
