"""Durable queues of source references that ingestion workers consume.

    queue = open_queue("redis://127.0.0.1:6379/0?stream=ragline")
    queue.publish(["/data/docs/a.pdf"])          # references, never document bytes

Backends register a scheme with ``register_queue``; the built-in ones are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ragline.errors import ConfigError
from ragline.queues.base import DeadLetter, Message, Queue

# factory(the whole URI) -> Queue
QueueFactory = Callable[[str], Queue]
_REGISTRY: dict[str, QueueFactory] = {}
_BUILTIN = {"redis": "ragline.queues.redis", "rediss": "ragline.queues.redis"}


def register_queue(scheme: str, factory: QueueFactory) -> None:
    _REGISTRY[scheme] = factory


def open_queue(uri: str) -> Queue:
    scheme, sep, _ = uri.strip().partition(":")
    if not sep:
        raise ConfigError(f"the queue URI {uri!r} has no scheme: give e.g. redis://127.0.0.1:6379/0")
    if scheme in _BUILTIN and scheme not in _REGISTRY:
        importlib.import_module(_BUILTIN[scheme])
    factory = _REGISTRY.get(scheme)
    if factory is None:
        known = ", ".join(sorted({*_BUILTIN, *_REGISTRY}))
        raise ConfigError(f"unknown queue scheme {scheme!r} in {uri!r}; known: {known}")
    return factory(uri.strip())


__all__ = ["DeadLetter", "Message", "Queue", "open_queue", "register_queue"]
