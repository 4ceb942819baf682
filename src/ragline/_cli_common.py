"""What every ``ragline`` command module shares: the consoles, the options that are settings, and
opening an Engine from them (``ragline.cli`` and its private command modules import these)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ragline.settings import default

console = Console(stderr=True)
out = Console()

# Options that are settings default to None ("not given"): the value then comes from the settings
# tree (ragline.toml < RAGLINE_* variables < flags; `ragline config show`), where every default lives.
StoreOpt = Annotated[str | None, typer.Option("--store", help="Store URI, e.g. local:./ragline-data "
                                                            f"(default {default('store.uri')}; RAGLINE_STORE)")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace (default "
                                                  f"{default('store.namespace')}; RAGLINE_NAMESPACE)")]
EmbedderOpt = Annotated[str | None, typer.Option("--embedder",
                                                    help="auto (default: openvino on CPUs, onnx on GPUs), openvino, "
                                                         "openvino-bf16/-fp32/-int8, onnx, onnx-fp32, onnx-int8, "
                                                         "onnx:MODEL?precision=...&threads=N, hashing:DIM or "
                                                         "openai:MODEL")]
StateOpt = Annotated[str | None, typer.Option(
    "--state",
    help="Where the ledger, embedding cache and near-dup index live: the store's own file (default), "
         "sqlite:PATH, or postgresql://USER@HOST/DB to share them between workers and servers.")]
QueueOpt = Annotated[str, typer.Option("--queue", envvar="RAGLINE_QUEUE",
                                       help="Queue URI, e.g. redis://127.0.0.1:6379/0?stream=ragline:ingest")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")]


def _engine(store: str | None, namespace: str | None, embedder: str | None,
            **options):  # type: ignore[no-untyped-def]
    from ragline.engine import Engine

    return Engine.open(store, namespace=namespace, embedder=embedder, **options)
