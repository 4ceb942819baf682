"""One lazy registry for every pluggable family: stores, state backends, embedders, sources,
runners and queues, each found by URI scheme (or spec name).

    factory = registry.resolve("store", "milvus-lite")      # imports ragline.store.milvus now
    registry.register("store", "qdrant", "my_pkg.qdrant:open_qdrant")

An entry is a ``"module:attr"`` string, imported only when that scheme is first used, so opening
a ``local:`` store never imports pymilvus, psycopg or redis. Third-party packages add entries with
Python entry points in the groups ``ragline.stores``, ``ragline.states``, ``ragline.embedders``,
``ragline.sources``, ``ragline.runners`` and ``ragline.queues``::

    [project.entry-points."ragline.stores"]
    qdrant = "my_pkg.qdrant:open_qdrant"

What each kind's entry must be (the callers in ``open_store`` / ``open_state`` / ... rely on it):

    store     factory(rest_of_uri, namespace, *, create=True) -> Store
    state     StateBackend(open, read_meta), or a factory(rest_of_uri, store) -> State
    embedder  factory(argument, **options) -> Embedder  (spec "name[-precision][:argument]")
    source    a Source class (``list()`` and ``read(item)``)
    runner    an ingest runner class (``ragline.ingest.local.IngestRun`` is the local one)
    queue     factory(whole_uri) -> Queue

Precedence: ``register()`` at run time, then the built-in table, then entry points (a plugin
cannot silently replace a built-in scheme; ``register`` can, on purpose).
"""

from __future__ import annotations

import importlib
import logging
import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ragline.errors import ConfigError

log = logging.getLogger(__name__)

KINDS = ("store", "state", "embedder", "source", "runner", "queue")
ENTRY_POINT_GROUPS = {kind: f"ragline.{kind}s" for kind in KINDS}

# scheme -> "module:attr"; nothing here is imported until its scheme is used.
BUILTIN: dict[str, dict[str, str]] = {
    "store": {"local": "ragline.store.local.store:open_local",
              "milvus": "ragline.store.milvus:open_milvus",
              "milvus-lite": "ragline.store.milvus:open_milvus_lite"},
    "state": {"sqlite": "ragline.state.sqlite:BACKEND",
              "postgresql": "ragline.state.postgres:BACKEND",
              "postgres": "ragline.state.postgres:BACKEND"},
    "embedder": {"auto": "ragline.embed.specs:open_auto",
                 "onnx": "ragline.embed.specs:open_onnx",
                 "openvino": "ragline.embed.specs:open_openvino",
                 "hashing": "ragline.embed.specs:open_hashing",
                 "openai": "ragline.embed.specs:open_openai"},
    "source": {"folder": "ragline.sources.folder:FolderSource",
               "jsonl": "ragline.sources.jsonl:JsonlSource",
               "items": "ragline.sources.items:ItemsSource"},
    "runner": {"local": "ragline.ingest.local:IngestRun"},
    "queue": {"redis": "ragline.queues.redis:RedisQueue",
              "rediss": "ragline.queues.redis:RedisQueue"},
}

_lock = threading.Lock()
_runtime: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
_entry_points: dict[str, dict[str, EntryPoint]] = {}
_loaded: dict[tuple[str, str], Any] = {}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown registry kind {kind!r}; use one of {', '.join(KINDS)}")


def _plugins(kind: str) -> dict[str, EntryPoint]:
    """This kind's entry points, read once per process (reading them imports nothing)."""
    found = _entry_points.get(kind)
    if found is None:
        found = {}
        for entry in entry_points(group=ENTRY_POINT_GROUPS[kind]):
            if entry.name in BUILTIN[kind]:
                log.warning("entry point %s = %s in %s is ignored: %r is a built-in %s scheme",
                            entry.name, entry.value, entry.group, entry.name, kind)
                continue
            found.setdefault(entry.name, entry)
        _entry_points[kind] = found
    return found


def register(kind: str, scheme: str, target: Any) -> None:
    """Add or replace ``scheme`` for ``kind``: ``target`` is the object itself or ``"module:attr"``."""
    _check_kind(kind)
    if not scheme or ":" in scheme:
        raise ConfigError(f"a {kind} scheme must be a non-empty name without ':', got {scheme!r}")
    with _lock:
        _runtime[kind][scheme] = target
        _loaded.pop((kind, scheme), None)


def unregister(kind: str, scheme: str) -> None:
    """Drop a run-time entry (a built-in or entry-point scheme is then found again)."""
    _check_kind(kind)
    with _lock:
        _runtime[kind].pop(scheme, None)
        _loaded.pop((kind, scheme), None)


def known(kind: str) -> list[str]:
    """Every scheme of ``kind`` that can be opened, sorted (imports nothing)."""
    _check_kind(kind)
    return sorted({*BUILTIN[kind], *_plugins(kind), *_runtime[kind]})


def is_known(kind: str, scheme: str) -> bool:
    _check_kind(kind)
    return scheme in _runtime[kind] or scheme in BUILTIN[kind] or scheme in _plugins(kind)


def _import(reference: str, kind: str, scheme: str) -> Any:
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{kind} {scheme!r}: {reference!r} is not a 'module:attr' reference")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"{kind} {scheme!r} points at module {module_name!r}, which is not "
                              "installed") from exc
        raise  # a dependency of the backend is missing: its own message says what to install
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ConfigError(f"{kind} {scheme!r} points at {reference!r}, but {module_name} has no "
                              f"{attr!r}") from exc
    return target


def resolve(kind: str, scheme: str, *, what: str | None = None) -> Any:
    """The object registered for ``scheme``, imported on first use. ``what`` (e.g. the whole URI)
    makes the unknown-scheme message name what the user wrote."""
    _check_kind(kind)
    key = (kind, scheme)
    if key in _loaded:
        return _loaded[key]
    target: Any
    if scheme in _runtime[kind]:
        target = _runtime[kind][scheme]
    elif scheme in BUILTIN[kind]:
        target = BUILTIN[kind][scheme]
    elif scheme in _plugins(kind):
        entry = _plugins(kind)[scheme]
        try:
            target = entry.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{kind} {scheme!r} from entry point {entry.value!r} "
                              f"({ENTRY_POINT_GROUPS[kind]}) cannot be loaded: {exc}") from exc
    else:
        where = f" in {what!r}" if what else ""
        raise ConfigError(f"unknown {kind} scheme {scheme!r}{where}; known: {', '.join(known(kind))}")
    if isinstance(target, str):
        target = _import(target, kind, scheme)
    with _lock:
        _loaded[key] = target
    return target


def reload_entry_points() -> None:
    """Forget the entry points read so far (after installing a plugin into a running process)."""
    with _lock:
        _entry_points.clear()
        for key in [key for key in _loaded if key[1] not in _runtime[key[0]] and key[1] not in BUILTIN[key[0]]]:
            del _loaded[key]


__all__ = ["BUILTIN", "ENTRY_POINT_GROUPS", "KINDS", "is_known", "known", "register", "reload_entry_points",
           "resolve", "unregister"]
