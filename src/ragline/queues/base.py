"""The queue interface a worker consumes: at-least-once delivery of source references, with
acknowledgement, reclaiming of items whose consumer died, and a dead-letter list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    """One delivery of a source reference (an absolute path or URI, never document bytes)."""

    id: str
    source: str
    deliveries: int  # how many times it has been handed out, this one included
    # The folder the reference was enqueued from: documents get the same ``path`` metadata
    # (relative to it) as ``ragline ingest ROOT`` gives them. Empty: the file's own name.
    root: str = ""


@dataclass(frozen=True)
class DeadLetter:
    id: str  # the dead letter's own id (replay and drop take it)
    source: str
    error: str
    attempts: int
    original_id: str
    root: str = ""


@runtime_checkable
class Queue(Protocol):
    uri: str

    def publish(self, sources: Sequence[str], roots: Sequence[str] | None = None) -> list[str]:
        """Append source references (each with the folder it was enqueued from, when given);
        returns their message ids."""

    def receive(self, consumer: str, count: int, *, block_ms: int, idle_ms: int) -> list[Message]:
        """Up to ``count`` messages for ``consumer``: first those another consumer held unacked for
        ``idle_ms`` or more (it died, or the item failed), then new ones (waiting up to ``block_ms``)."""

    def ack(self, message_id: str) -> None:
        """Done with it: the store and the state hold its result."""

    def record_error(self, message_id: str, error: str) -> None:
        """Remember why a delivery failed (the dead letter carries the last error)."""

    def dead_letter(self, message: Message, error: str | None = None) -> None:
        """Move the message to the dead letters (with its error and attempts) and ack it, atomically."""

    def pending(self) -> int:
        """Messages delivered but not yet acknowledged, by any consumer."""

    def dead_letters(self) -> list[DeadLetter]: ...

    def replay(self, ids: Sequence[str] = ()) -> int:
        """Publish these dead letters (all when none given) again and remove them from the list."""

    def drop(self, ids: Sequence[str] = ()) -> int:
        """Remove these dead letters (all when none given)."""

    def close(self) -> None: ...


@runtime_checkable
class BacklogQueue(Protocol):
    """A queue that can say how far behind its consumers are (the worker's queue metrics)."""

    name: str

    def backlog(self) -> tuple[int, float]:
        """(items not yet acknowledged: new and pending, age in seconds of the oldest of them)."""
