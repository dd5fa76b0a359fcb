"""Micro-batching of store calls: what is asked for while one call is out goes together.

A store with a round trip per call (SQL, network) caps a scheduler at one call per
round trip. A :class:`Batcher` lets every caller ``await`` its own item as if it made
its own call, while at most one batch is with the store at a time: the first item
goes out at once, and items that arrive while it is out make up the next batch. An
idle scheduler therefore sends batches of one with no added delay, and a busy one
sends fewer, larger batches instead of queueing single calls behind each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

#: The most items one batch takes; the rest wait for the next one. Keeps a single
#: statement (and the time every run in it waits) bounded during a burst.
MAX_BATCH = 1000


class Batcher(Generic[ItemT, ResultT]):
    """Calls ``flush(items)`` for batches of submitted items, one batch at a time.

    ``flush`` returns one result per item, in order. When it raises, every item of
    that batch gets the exception; later batches are not affected.
    """

    def __init__(
        self,
        flush: Callable[[list[ItemT]], Awaitable[Sequence[ResultT]]],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch!r}")
        self._flush_batch = flush
        self._max_batch = max_batch
        self._queue: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Batcher({self._flush_batch!r}, queued={len(self._queue)})"

    def submit(self, item: ItemT) -> asyncio.Future[ResultT]:
        """Queue ``item``; the future resolves with its result once its batch is done."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._queue.append((item, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._run())
        return future

    async def _run(self) -> None:
        batch: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    results = await self._flush_batch([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    batch = []
                    continue
                if len(results) != len(batch):
                    error = RuntimeError(
                        f"a batch of {len(batch)} item(s) got {len(results)} result(s)"
                    )
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
                batch = []
        except BaseException:
            # Cancelled (the loop is going away): nobody must wait forever.
            for _, future in [*batch, *self._queue]:
                if not future.done():
                    future.cancel()
            self._queue = []
            raise
        finally:
            self._flusher = None

    async def drain(self) -> None:
        """Return once every queued item has been handled."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
