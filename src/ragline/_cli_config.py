"""``ragline config show``: the effective settings, and where each value came from.

    ragline config show --set chunk.max_tokens=128
    ragline --config prod.toml config show --json
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from ragline.errors import ConfigError
from ragline.progress import shown
from ragline.redact import REDACTED, redact
from ragline.settings import resolve_settings

config_app = typer.Typer(no_args_is_help=True, help="The settings tree: ragline.toml < RAGLINE_* variables < flags.")


@config_app.command("show")
def show(
    store: Annotated[str | None, typer.Option("--store", help="As the other commands' --store.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="As the other commands' --state.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    embedder: Annotated[str | None, typer.Option("--embedder")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens")] = None,
    overlap: Annotated[int | None, typer.Option("--overlap")] = None,
    settings: Annotated[list[str], typer.Option("--set", help="Any setting as SECTION.KEY=VALUE (repeatable), "
                                                "e.g. search.feedback_chunks=0.")] = [],
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")] = False,
) -> None:
    """Print every setting's effective value and its source: default, toml:FILE, env:NAME or flag
    (the serve section as ``ragline serve`` resolves it, flat RAGLINE_SERVE_* variables included)."""
    flags: dict[str, object] = {"store.uri": store, "store.state": state, "store.namespace": namespace,
                                "embed.spec": embedder, "chunk.max_tokens": max_tokens, "chunk.overlap": overlap}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        flags[name.strip()] = value
    resolved = resolve_settings(flags)
    # The server reads flat RAGLINE_SERVE_<FIELD> variables over the tree (ServeSettings): show
    # the serve section as it would run (flags still win).
    from ragline.serve.settings import flat_env_overrides

    served = flat_env_overrides({name.partition(".")[2]: value for name, value in flags.items()
                                 if name.startswith("serve.")})
    rows = []
    for name, value, source in resolved.rows():
        section, _, key = name.partition(".")
        if section == "serve" and key in served:
            value, source = served[key]
        rows.append((name, _printable(value), source))
    out = Console()
    if as_json:
        out.print_json(json.dumps({"file": str(resolved.file) if resolved.file else None,
                                   "settings": {name: {"value": value, "source": source}
                                                for name, value, source in rows}}))
        return
    table = Table(title=f"settings ({resolved.file or 'no ragline.toml'})")
    for column in ("setting", "value", "source"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(shown(cell) for cell in row))
    out.print(table)


def _printable(value: object) -> object:
    """Settings may hold credentials (a PostgreSQL URI's password, API keys): never print them."""
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    if not isinstance(value, str):
        return value
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        return redact(value)
    text = value
    if parts.password:
        user = f"{parts.username}:" if parts.username else ":"
        text = text.replace(f"{user}{parts.password}@", f"{user}{REDACTED}@", 1)
    return redact(text)


__all__ = ["config_app"]
