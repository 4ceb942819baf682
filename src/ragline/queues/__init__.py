"""Durable queues of source references that ingestion workers consume.

    queue = open_queue("redis://127.0.0.1:6379/0?stream=ragline")
    queue.publish(["/data/docs/a.pdf"])          # references, never document bytes

Backends register a scheme with ``register_queue``; the built-in ones are imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable

from ragline import registry
from ragline.errors import ConfigError
from ragline.queues.base import DeadLetter, Message, Queue

# factory(the whole URI) -> Queue; backends are found in ``ragline.registry`` (kind "queue").
QueueFactory = Callable[[str], Queue]


def register_queue(scheme: str, factory: QueueFactory) -> None:
    registry.register("queue", scheme, factory)


def open_queue(uri: str) -> Queue:
    scheme, sep, _ = uri.strip().partition(":")
    if not sep:
        raise ConfigError(f"the queue URI {uri!r} has no scheme: give e.g. redis://127.0.0.1:6379/0")
    factory = registry.resolve("queue", scheme, what=uri)
    queue: Queue = factory(uri.strip())
    return queue


__all__ = ["DeadLetter", "Message", "Queue", "open_queue", "register_queue"]
