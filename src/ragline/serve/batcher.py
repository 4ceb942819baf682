"""Micro-batching of query embeddings: concurrent searches share one ``embedder.embed`` call.

    batcher = QueryBatcher(embedder, window_s=0.002, max_batch=32)
    batcher.start(asyncio.get_running_loop())
    vector = batcher.embed_blocking("a query")        # from a search thread; waits for its batch

A query waits at most ``window_s`` for company (or until ``max_batch`` are waiting); the batch is
embedded in one call on the batcher's own thread, while the next batch gathers until the model
is free again. The window starts with the first query of a batch, so a lone query on an idle
server pays at most ``window_s``. ``window_s=0``
turns batching off: each query is embedded in its caller's thread, as ``Engine`` does alone.
The query-vector cache is consulted before a query gets here (``Engine._query_vector``).

Given several embedders (copies of one model, ``QueryBatcher([a, b], ...)``), up to that many
batches are embedded at once, one per copy, each on its own thread: single-threaded copies on
their own cores never wait for each other inside a matrix product, as the threads of one
multi-threaded model do for the slowest of them (one busy core slows every query).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence

import numpy as np

from ragline.embed.base import Embedder


class QueryBatcher:
    def __init__(self, embedder: Embedder | Sequence[Embedder], *, window_s: float = 0.002, max_batch: int = 32,
                 on_batch: Callable[[int], None] | None = None):
        if window_s < 0 or max_batch < 1:
            raise ValueError(f"window_s must be >= 0 and max_batch >= 1, got {window_s}, {max_batch}")
        embedders = [embedder] if isinstance(embedder, Embedder) else list(embedder)
        if not embedders:
            raise ValueError("the batcher needs at least one embedder")
        self.embedder = embedders[0]
        self.embedders = embedders
        self.window_s = window_s
        self.max_batch = max_batch
        self.on_batch = on_batch
        self.batches = 0
        self.queries = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._free = list(embedders)  # the copies not embedding a batch now
        self._pool = concurrent.futures.ThreadPoolExecutor(len(embedders), thread_name_prefix="ragline-query-embed")

    @property
    def enabled(self) -> bool:
        return self.window_s > 0 and self.max_batch > 1

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ----- callers ------------------------------------------------------------------------
    def embed_blocking(self, query: str, timeout: float | None = None) -> np.ndarray:
        """The query's vector, from a thread that is not the event loop's."""
        if not self.enabled or self._loop is None or self._loop.is_closed():
            self._count(1)
            return self.embedder.embed([query])[0]
        future = asyncio.run_coroutine_threadsafe(self.embed(query), self._loop)
        return future.result(timeout)

    async def embed(self, query: str) -> np.ndarray:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((query, result))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._flush)
        return await result

    # ----- the batch ----------------------------------------------------------------------
    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._free:
            # Every copy is busy with a batch: keep gathering (a bigger batch costs little more
            # than a small one); the batch goes as soon as a copy is free.
            return
        batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
        if not batch:
            return
        embedder = self._free.pop()
        self._count(len(batch))
        done = asyncio.wrap_future(self._pool.submit(embedder.embed, [q for q, _ in batch]))
        done.add_done_callback(lambda finished: self._delivered(embedder, batch, finished))

    def _delivered(self, embedder: Embedder, batch: list[tuple[str, asyncio.Future[np.ndarray]]],
                   finished: asyncio.Future[np.ndarray]) -> None:
        self._free.append(embedder)
        _deliver(batch, finished)
        if self._pending:
            self._flush()

    def _count(self, size: int) -> None:
        self.batches += 1
        self.queries += size
        if self.on_batch is not None:
            self.on_batch(size)


def _deliver(batch: list[tuple[str, asyncio.Future[np.ndarray]]], finished: asyncio.Future[np.ndarray]) -> None:
    error = finished.exception() if not finished.cancelled() else asyncio.CancelledError()
    for index, (_, waiter) in enumerate(batch):
        if waiter.done():
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(finished.result()[index])


__all__ = ["QueryBatcher"]
