"""Bounded schedules in a running scheduler, with a real store (SQLite).

A job whose bounded schedule runs out ends with status ``completed`` and one
``schedule_ended`` tick-log record giving the reason; ``max_runs`` is derived from the
schedule, so a restart neither runs the job again nor needs anything stored besides
the schedule row; a row whose nested schedule no codec can read is quarantined, not
run.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tickwork
from tickwork import (
    AsyncScheduler,
    BoundedSchedule,
    ExecutionStatus,
    JobStatus,
    StartAtIntervalSchedule,
    UnionSchedule,
)

TICK = timedelta(milliseconds=100)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


async def _history_until(
    scheduler: AsyncScheduler, job_id: str, done: object, timeout: float = 5.0
) -> list[tickwork.ExecutionRecord]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        history = await scheduler.run_history(job_id)
        if done(history) or asyncio.get_running_loop().time() > deadline:  # type: ignore[operator]
            return history
        await asyncio.sleep(0.02)


def _ended(history: list[tickwork.ExecutionRecord]) -> list[tickwork.ExecutionRecord]:
    return [r for r in history if r.status == ExecutionStatus.SCHEDULE_ENDED]


async def test_max_runs_ends_the_job_completed_and_says_why(sqlite_url: str) -> None:
    runs: list[datetime] = []

    async def handle(event: tickwork.JobEvent) -> None:
        runs.append(event.scheduled_at)

    async with AsyncScheduler(sqlite_url, handle) as scheduler:
        # Fire times count from start even before the job exists: start well after the
        # job is added (on a loaded machine adding it took over two ticks, and the ticks
        # missed meanwhile were coalesced).
        start = datetime.now(UTC) + 10 * TICK
        schedule = BoundedSchedule(
            schedule=StartAtIntervalSchedule(start, TICK), start=start, max_runs=3
        )
        await scheduler.add_job("three", schedule)
        history = await _history_until(scheduler, "three", _ended)
        job = await scheduler.get_job("three")
    assert [r.status for r in history].count(JobStatus.COMPLETED) == 3
    assert runs == [start, start + TICK, start + 2 * TICK]
    (ended,) = _ended(history)
    assert "max_runs=3 reached" in ended.metadata["note"]
    assert job.status == JobStatus.COMPLETED
    assert job.next_run is None

    # A restart reads the same schedule and finds nothing left to run.
    async with AsyncScheduler(sqlite_url, handle) as restarted:
        job = await restarted.get_job("three")
        assert job.schedule == schedule
        assert job.next_run is None
        await asyncio.sleep(3 * TICK.total_seconds())
        assert len(await restarted.run_history("three")) == len(history)
    assert len(runs) == 3


async def test_a_job_added_after_its_end_never_runs() -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    ended = BoundedSchedule(schedule=StartAtIntervalSchedule(past, TICK), end=past)
    runs: list[object] = []
    async with AsyncScheduler(None, runs.append) as scheduler:
        await scheduler.add_job("late", ended)
        await scheduler.add_jobs([("later", ended), ("live", StartAtIntervalSchedule(past, TICK))])
        for job_id in ("late", "later"):
            # Done before it starts, and it says so: not a pending job that never runs.
            job = await scheduler.get_job(job_id)
            assert (job.status, job.next_run) == (JobStatus.COMPLETED, None)
            (record,) = _ended(await scheduler.run_history(job_id))
            assert "end" in record.metadata["note"]
        assert (await scheduler.get_job("live")).status != JobStatus.COMPLETED
        await asyncio.sleep(0.2)
    assert all(event.id == "live" for event in runs)  # type: ignore[attr-defined]


async def test_an_end_passed_during_downtime_is_recorded_once(sqlite_url: str) -> None:
    """The scheduler is down from before the first tick until after the end: its ticks
    are past their grace when it comes back, and the job then finds its schedule over."""
    async with AsyncScheduler(sqlite_url, lambda event: None) as scheduler:
        start = datetime.now(UTC) + 3 * TICK
        schedule = BoundedSchedule(
            schedule=StartAtIntervalSchedule(start, TICK), start=start, end=start + 2 * TICK
        )
        await scheduler.add_job(
            "overdue", schedule, options=tickwork.JobOptions(misfire_grace_time=0.01)
        )
    # Down until the end has passed (a sleep to that instant, not a guess).
    await asyncio.sleep((start + 2 * TICK - datetime.now(UTC)).total_seconds() + 0.01)
    async with AsyncScheduler(sqlite_url, lambda event: None) as restarted:
        history = await _history_until(restarted, "overdue", _ended)
        job = await restarted.get_job("overdue")
    (ended,) = _ended(history)
    assert "end" in ended.metadata["note"]
    assert JobStatus.COMPLETED not in [r.status for r in history]
    assert ExecutionStatus.MISSED in [r.status for r in history]
    assert job.next_run is None
    assert job.status == JobStatus.COMPLETED


async def test_a_job_is_completed_when_its_schedule_ends_even_if_its_last_run_failed() -> None:
    def fail(event: tickwork.JobEvent) -> None:
        raise RuntimeError("boom")

    async with AsyncScheduler(None, fail) as scheduler:
        start = datetime.now(UTC) + TICK
        schedule = BoundedSchedule(
            schedule=StartAtIntervalSchedule(start, TICK), start=start, max_runs=2
        )
        await scheduler.add_job("failing", schedule)
        history = await _history_until(scheduler, "failing", _ended)
        job = await scheduler.get_job("failing")
    assert [r.status for r in history].count(JobStatus.FAILED) == 2
    assert len(_ended(history)) == 1
    assert job.status == JobStatus.COMPLETED


async def test_a_row_with_an_unreadable_nested_schedule_is_quarantined(sqlite_url: str) -> None:
    schedule = UnionSchedule([StartAtIntervalSchedule(datetime(2030, 1, 1, tzinfo=UTC), TICK)])
    async with AsyncScheduler(sqlite_url, lambda event: None) as scheduler:
        await scheduler.add_job("nested", schedule)
    store = tickwork.create_store(sqlite_url)
    await store.initialize()
    try:
        row = await store.get_job("nested")
        row.schedule_config = row.schedule_config.replace("start_at_interval", "gone_plugin")
        await store.update_job(row)
    finally:
        await store.close()
    async with AsyncScheduler(sqlite_url, lambda event: None) as scheduler:
        job = await scheduler.get_job("nested")
    assert job.quarantined is not None
    assert "gone_plugin" in job.quarantined
