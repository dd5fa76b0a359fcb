"""The micro-batcher behind batched claims, releases and re-reads."""

from __future__ import annotations

import asyncio

import pytest

from tickwork._batching import Batcher


class Recorder:
    """A flush that takes ``delay`` seconds per batch and records every batch."""

    def __init__(self, delay: float = 0.01) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.fail_on: int | None = None

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [item * 10 for item in items]


async def test_an_item_alone_goes_out_at_once_in_a_batch_of_one() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.flush)
    assert await batcher.submit(1) == 10
    assert recorder.batches == [[1]]


async def test_items_that_arrive_while_a_batch_is_out_go_together() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.flush)
    first = batcher.submit(1)
    await asyncio.sleep(0)  # the first batch is with the store now
    rest = [batcher.submit(i) for i in range(2, 7)]
    assert await asyncio.gather(first, *rest) == [10, 20, 30, 40, 50, 60]
    assert recorder.batches == [[1], [2, 3, 4, 5, 6]]


async def test_a_burst_is_split_at_max_batch() -> None:
    recorder = Recorder(delay=0)
    batcher = Batcher(recorder.flush, max_batch=4)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 10 for i in range(10)]
    assert [len(batch) for batch in recorder.batches] == [4, 4, 2]


async def test_a_failed_batch_fails_its_items_only() -> None:
    recorder = Recorder()
    recorder.fail_on = 2
    batcher = Batcher(recorder.flush)
    first = batcher.submit(1)
    await asyncio.sleep(0)
    failing = [batcher.submit(2), batcher.submit(3)]
    assert await first == 10
    for future in failing:
        with pytest.raises(ValueError, match="bad item 2"):
            await future
    assert await batcher.submit(4) == 40  # the batcher goes on


async def test_a_flush_with_the_wrong_number_of_results_is_an_error() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = Batcher(short)
    with pytest.raises(RuntimeError, match="1 item"):
        await batcher.submit(1)


async def test_drain_waits_for_every_queued_item() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.flush)
    futures = [batcher.submit(i) for i in range(3)]
    await batcher.drain()
    assert all(future.done() for future in futures)


async def test_cancelling_the_flusher_cancels_waiting_items() -> None:
    recorder = Recorder(delay=10)
    batcher = Batcher(recorder.flush)
    first = batcher.submit(1)
    await asyncio.sleep(0)
    second = batcher.submit(2)
    flusher = batcher._flusher
    assert flusher is not None
    flusher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(asyncio.CancelledError):
        await second


def test_max_batch_must_be_positive() -> None:
    async def flush(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError, match="max_batch"):
        Batcher(flush, max_batch=0)
