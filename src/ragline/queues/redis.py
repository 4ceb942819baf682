"""Redis Streams queue: ``redis://HOST:PORT/DB?stream=NAME&group=NAME`` (``rediss://`` for TLS).

One stream holds the source references, one consumer group shares them between workers
(``XREADGROUP``), an item is acknowledged (``XACK``, then ``XDEL``) only once its result is
stored, items a dead worker left unacknowledged are reclaimed with ``XAUTOCLAIM`` after an idle
time, and ``<stream>:dead`` holds the dead letters. ``<stream>:errors`` keeps each pending item's
last error, so a dead letter says why.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ragline.errors import ConfigError
from ragline.queues.base import DeadLetter, Message

DEFAULT_STREAM = "ragline:ingest"
DEFAULT_GROUP = "ragline-workers"


def _split(uri: str) -> tuple[str, str, str]:
    """The connection URL without our own query parameters, the stream and the group."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in query if key in ("stream", "group")}
    rest = [(key, value) for key, value in query if key not in ("stream", "group")]
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    stream, group = ours.get("stream") or DEFAULT_STREAM, ours.get("group") or DEFAULT_GROUP
    return url, stream, group


class RedisQueue:
    def __init__(self, uri: str) -> None:
        import redis  # the redis extra

        self.uri = uri
        url, self.stream, self.group = _split(uri)
        self.dead_stream, self.errors = f"{self.stream}:dead", f"{self.stream}:errors"
        try:
            self.client: Any = redis.Redis.from_url(url, decode_responses=True)
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise ConfigError(f"cannot create consumer group {self.group!r} on {self.stream!r}: {exc}") from exc
        except redis.RedisError as exc:
            raise ConfigError(f"cannot reach the queue {uri!r}: {exc}") from exc

    def publish(self, sources: Sequence[str], roots: Sequence[str] | None = None) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for source, root in zip(sources, roots if roots is not None else [""] * len(sources), strict=True):
            pipe.xadd(self.stream, {"source": source, **({"root": root} if root else {})})
        return [str(message_id) for message_id in pipe.execute()]

    def _deliveries(self, message_id: str) -> int:
        entries = self.client.xpending_range(self.stream, self.group, min=message_id, max=message_id, count=1)
        return int(entries[0]["times_delivered"]) if entries else 1

    def receive(self, consumer: str, count: int, *, block_ms: int, idle_ms: int) -> list[Message]:
        messages: list[Message] = []
        # Reclaimed first: every XAUTOCLAIM counts as one more delivery (XPENDING's count).
        reply = self.client.xautoclaim(self.stream, self.group, consumer, min_idle_time=idle_ms,
                                       start_id="0-0", count=count)
        for message_id, fields in reply[1]:
            if fields:  # an entry deleted meanwhile comes back empty
                messages.append(Message(message_id, fields["source"], self._deliveries(message_id),
                                        fields.get("root", "")))
        if len(messages) < count:
            reply = self.client.xreadgroup(self.group, consumer, {self.stream: ">"}, count=count - len(messages),
                                           block=block_ms if block_ms > 0 else None)
            for _, entries in reply or []:
                messages += [Message(message_id, fields["source"], 1, fields.get("root", ""))
                             for message_id, fields in entries]
        return messages

    def ack(self, message_id: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, message_id)
        pipe.xdel(self.stream, message_id)
        pipe.hdel(self.errors, message_id)
        pipe.execute()

    def record_error(self, message_id: str, error: str) -> None:
        self.client.hset(self.errors, message_id, error)

    def dead_letter(self, message: Message, error: str | None = None) -> None:
        if error is None:
            error = self.client.hget(self.errors, message.id) or (
                f"delivered {message.deliveries} times without being acknowledged (its worker stopped)")
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.dead_stream, {"source": message.source, **({"root": message.root} if message.root else {}),
                                     "error": error,
                                     "attempts": str(message.deliveries), "original_id": message.id,
                                     "failed_at": str(int(time.time()))})
        pipe.xack(self.stream, self.group, message.id)
        pipe.xdel(self.stream, message.id)
        pipe.hdel(self.errors, message.id)
        pipe.execute()

    def pending(self) -> int:
        return int(self.client.xpending(self.stream, self.group)["pending"])

    @property
    def name(self) -> str:
        return self.stream

    def backlog(self) -> tuple[int, float]:
        """Acknowledged entries are deleted, so the stream holds exactly the backlog; its first
        entry's id carries the time it was published (milliseconds)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.xlen(self.stream)
        pipe.xrange(self.stream, count=1)
        depth, first = pipe.execute()
        if not first:
            return int(depth), 0.0
        published_ms = int(str(first[0][0]).split("-")[0])
        return int(depth), max(0.0, time.time() - published_ms / 1000)

    def dead_letters(self) -> list[DeadLetter]:
        return [DeadLetter(message_id, fields.get("source", ""), fields.get("error", ""),
                           int(fields.get("attempts", 0)), fields.get("original_id", ""), fields.get("root", ""))
                for message_id, fields in self.client.xrange(self.dead_stream)]

    def _selected(self, ids: Sequence[str]) -> list[DeadLetter]:
        letters = self.dead_letters()
        if not ids:
            return letters
        known = {letter.id: letter for letter in letters}
        missing = [i for i in ids if i not in known]
        if missing:
            raise ConfigError(f"no dead letter with id {', '.join(missing)} in {self.dead_stream!r}")
        return [known[i] for i in ids]

    def replay(self, ids: Sequence[str] = ()) -> int:
        letters = self._selected(ids)
        pipe = self.client.pipeline(transaction=True)
        for letter in letters:
            pipe.xadd(self.stream, {"source": letter.source, **({"root": letter.root} if letter.root else {})})
            pipe.xdel(self.dead_stream, letter.id)
        pipe.execute()
        return len(letters)

    def drop(self, ids: Sequence[str] = ()) -> int:
        letters = self._selected(ids)
        if letters:
            self.client.xdel(self.dead_stream, *[letter.id for letter in letters])
        return len(letters)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> RedisQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

