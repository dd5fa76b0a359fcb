"""Pushed job changes, end to end, between schedulers that poll a store which signals
changes (PostgreSQL; schedulers on the NATS store do not poll).

Schedulers here poll only every :data:`LONG_POLL` seconds, so a change that reaches
them within :data:`PUSHED_WITHIN` can only have been pushed (or polled for at once
after their listening connection came back, which is the same mechanism).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from support.rows import save_row
from support.waiting import until
from tickwork import AsyncScheduler, IntervalSchedule, JobStatus
from tickwork.abc import ChangeSignalingStore, Store
from tickwork.cli import main

LONG_POLL = 30.0
PUSHED_WITHIN = 5.0
HOURLY = IntervalSchedule(timedelta(hours=1))


async def _ignore(_event: object) -> None:
    return None


@asynccontextmanager
async def listening_scheduler(
    store: Store, name: str = "listener"
) -> AsyncIterator[AsyncScheduler]:
    """A running scheduler on ``store`` that polls rarely and listens for changes."""
    scheduler = AsyncScheduler(store, _ignore, worker_id=name, sync_interval=LONG_POLL)
    await scheduler.start()
    try:
        coordinator = scheduler._coordinator
        assert coordinator is not None, "a shared store is coordinated"
        await until(lambda: coordinator.listening, PUSHED_WITHIN, "the scheduler listens")
        yield scheduler
    finally:
        await scheduler.stop()


def status_in(scheduler: AsyncScheduler, job_id: str) -> JobStatus | None:
    """What ``scheduler`` holds in memory for ``job_id`` (None: not there)."""
    entry = scheduler._entries.get(job_id)
    return None if entry is None else entry.status


async def reaches(scheduler: AsyncScheduler, job_id: str, status: JobStatus | None) -> None:
    await until(
        lambda: status_in(scheduler, job_id) is status,
        PUSHED_WITHIN,
        f"{job_id!r} to be {status} in {scheduler.worker_id}",
    )


async def scheduler_changes_reach_another_scheduler(make_store: Callable[[], Store]) -> None:
    """Add, pause and resume in one scheduler; another one, on its own connection,
    has each change in memory within seconds although it polls twice a minute."""
    async with listening_scheduler(make_store()) as listener:
        writer = AsyncScheduler(make_store(), _ignore, worker_id="writer", sync_interval=LONG_POLL)
        await writer.start()
        try:
            await writer.add_job("pushed", HOURLY)
            await reaches(listener, "pushed", JobStatus.PENDING)
            await writer.pause_job("pushed")
            await reaches(listener, "pushed", JobStatus.DISABLED)
            await writer.resume_job("pushed")
            await reaches(listener, "pushed", JobStatus.PENDING)
        finally:
            await writer.stop()


async def stored(store: Store, job_id: str, *, signal: bool) -> None:
    """Add a job straight through ``store`` (as ``tickwork jobs add`` does), signalling
    it or not."""
    later = datetime.now(UTC) + timedelta(hours=1)
    await save_row(store, job_id, schedule_config="1h", next_run=later)
    if signal:
        assert isinstance(store, ChangeSignalingStore)
        await store.signal_changes()


async def a_lost_listener_misses_nothing(
    make_store: Callable[[], Store],
    cut: Callable[[], Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``cut()`` breaks the listening connection. A job stored without any signal
    while nobody listens still arrives, at once, through the poll made on listening
    again (the regular poll is 30 s away); after that, signals work again. The loss is
    logged once at WARNING and the return at INFO."""
    caplog.set_level(logging.INFO, logger="tickwork.coordination")
    writer = make_store()
    await writer.initialize()
    try:
        async with listening_scheduler(make_store()) as listener:
            coordinator = listener._coordinator
            assert coordinator is not None
            await cut()
            await until(lambda: not coordinator.listening, PUSHED_WITHIN, "the loss noticed")
            # The listener waits at least 50 ms before it tries again: this lands first.
            await stored(writer, "while-cut", signal=False)
            await reaches(listener, "while-cut", JobStatus.PENDING)
            assert coordinator.listening
            await stored(writer, "after-cut", signal=True)
            await reaches(listener, "after-cut", JobStatus.PENDING)
    finally:
        await writer.close()
    messages = [r for r in caplog.records if r.name == "tickwork.coordination"]
    lost = [r for r in messages if "not listening for job changes" in r.getMessage()]
    again = "listening for job changes from other processes again"
    back = [r for r in messages if again in r.getMessage()]
    assert [r.levelno for r in lost] == [logging.WARNING], [r.getMessage() for r in messages]
    assert [r.levelno for r in back] == [logging.INFO]


async def command_line_changes_reach_a_scheduler(
    make_store: Callable[[], Store], store_arguments: list[str]
) -> None:
    """``tickwork jobs add`` and ``tickwork jobs pause`` (another process's writes)
    reach a running scheduler within seconds."""
    async with listening_scheduler(make_store()) as listener:
        add = ["jobs", "add", "from-cli", "--interval", "1h", *store_arguments]
        assert await asyncio.to_thread(main, add) == 0
        await reaches(listener, "from-cli", JobStatus.PENDING)
        pause = ["jobs", "pause", "from-cli", *store_arguments]
        assert await asyncio.to_thread(main, pause) == 0
        await reaches(listener, "from-cli", JobStatus.DISABLED)
