"""The handler thread pool and the execution ids of runs."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from tickwork._invoke import HandlerThreads
from tickwork._scheduler import new_execution_id


async def test_a_handler_runs_in_a_named_worker_thread() -> None:
    pool = HandlerThreads(4, asyncio.get_running_loop())
    try:
        name = await pool.call(lambda _: threading.current_thread().name, None)
        assert name.startswith("tickwork-handler_")
        assert name != threading.current_thread().name
    finally:
        pool.shutdown()


async def test_results_and_exceptions_come_back_to_the_caller() -> None:
    pool = HandlerThreads(2, asyncio.get_running_loop())

    def boom(_: object) -> None:
        raise ValueError("boom")

    def stop(_: object) -> None:
        raise StopIteration

    try:
        assert await pool.call(lambda x: x * 2, 21) == 42
        with pytest.raises(ValueError, match="boom"):
            await pool.call(boom, None)
        with pytest.raises(RuntimeError, match="StopIteration"):
            await pool.call(stop, None)
    finally:
        pool.shutdown()


async def test_sequential_calls_reuse_one_idle_thread() -> None:
    pool = HandlerThreads(8, asyncio.get_running_loop())
    try:
        for i in range(50):
            assert await pool.call(lambda x: x, i) == i
        assert pool.thread_count == 1
    finally:
        pool.shutdown()


async def test_threads_grow_up_to_max_workers_while_all_are_busy() -> None:
    pool = HandlerThreads(3, asyncio.get_running_loop())
    release = threading.Event()
    started = threading.Semaphore(0)

    def block(_: object) -> str:
        started.release()
        release.wait(5)
        return threading.current_thread().name

    try:
        futures = [pool.call(block, None) for _ in range(5)]
        for _ in range(3):
            assert await asyncio.to_thread(started.acquire, True, 5)
        # Three run at once; the other two wait for a free thread, none is started.
        assert pool.thread_count == 3
        release.set()
        names = await asyncio.gather(*futures)
        assert len(set(names)) == 3
    finally:
        release.set()
        pool.shutdown()


async def test_shutdown_cancels_calls_no_thread_took_and_refuses_new_ones() -> None:
    pool = HandlerThreads(1, asyncio.get_running_loop())
    release = threading.Event()
    running = pool.call(lambda _: release.wait(5), None)
    queued = pool.call(lambda _: "never", None)
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert await running is True  # the call a thread had taken finishes
    with pytest.raises(asyncio.CancelledError):
        await queued
    with pytest.raises(RuntimeError, match="shut down"):
        pool.call(lambda _: None, None)
    await asyncio.to_thread(pool.shutdown, True)  # the thread ends


async def test_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        HandlerThreads(0, asyncio.get_running_loop())


def test_execution_ids_are_distinct_version_4_uuids() -> None:
    ids = [new_execution_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:500]:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
