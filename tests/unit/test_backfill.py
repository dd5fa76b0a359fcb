"""Backfill: the ticks of a past range run now, through the job's policies, recorded as
backfill runs, without moving the job's schedule."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    BackfillError,
    CronSchedule,
    ExecutionStatus,
    IntervalSchedule,
    JobEvent,
    JobNotFoundError,
    JobStatus,
    MemoryStore,
    Overlap,
    Scheduler,
    SchedulerNotStartedError,
    SchedulerStoppedError,
    StartAtIntervalSchedule,
    current_run,
)
from tickwork._backfill import backfill_ticks

HOUR = timedelta(hours=1)
START = datetime(2026, 11, 1, tzinfo=UTC)


def hourly() -> StartAtIntervalSchedule:
    return StartAtIntervalSchedule(START, HOUR)


# -- which ticks: a pure function --------------------------------------------------------


def test_ticks_run_from_start_included_to_end_excluded() -> None:
    ticks = backfill_ticks(hourly(), START + HOUR, START + 4 * HOUR)
    assert ticks == [START + HOUR, START + 2 * HOUR, START + 3 * HOUR]


def test_ticks_of_a_cron_schedule_follow_its_zone() -> None:
    schedule = CronSchedule("0 9 * * *", timezone="Europe/Paris")
    ticks = backfill_ticks(
        schedule, datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC)
    )
    # 09:00 in Paris: +02:00 before the change on 25 October, +01:00 after it.
    assert [t.astimezone(UTC).hour for t in ticks] == [7, 8, 8]


@pytest.mark.parametrize(
    ("start", "end", "limit", "says"),
    [
        (START, START, 10, "is not before end"),
        (START + HOUR, START, 10, "is not before end"),
        (datetime(2026, 11, 1), START, 10, "start must be an aware datetime"),
        (START, START + 5 * HOUR, 3, "more than 3 ticks"),
        (START, START + HOUR, 0, "limit must be at least 1"),
    ],
)
def test_a_range_that_cannot_be_run_is_refused_naming_why(
    start: datetime, end: datetime, limit: int, says: str
) -> None:
    with pytest.raises(BackfillError, match=says) as caught:
        backfill_ticks(hourly(), start, end, limit=limit)
    assert "\n" not in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(
    every=st.integers(min_value=1, max_value=500),
    offset=st.integers(min_value=0, max_value=5_000),
    span=st.integers(min_value=1, max_value=5_000),
)
def test_ticks_are_exactly_the_grid_points_in_the_range(every: int, offset: int, span: int) -> None:
    step = timedelta(seconds=every)
    schedule = StartAtIntervalSchedule(START, step)
    start = START + timedelta(seconds=offset)
    end = start + timedelta(seconds=span)
    ticks = backfill_ticks(schedule, start, end, limit=100_000)
    first = -(-offset // every)  # the first grid index at or after start
    expected = [START + step * i for i in range(first, first + span + 1)]
    assert ticks == [t for t in expected if start <= t < end]


# -- running them ------------------------------------------------------------------------


async def test_each_tick_runs_once_recorded_as_backfill_and_the_schedule_stays() -> None:
    seen: list[tuple[datetime, bool, bool]] = []

    def handler(event: JobEvent) -> None:
        seen.append((event.scheduled_at, event.backfill, event.manual))

    store = MemoryStore()
    async with AsyncScheduler(store, handler) as s:
        job = await s.add_job("report", hourly())
        report = await s.backfill("report", START, START + 3 * HOUR)
        assert (await s.get_job("report")).next_run == job.next_run
        history = await s.run_history("report")

    ticks = [START, START + HOUR, START + 2 * HOUR]
    assert report.ticks == tuple(ticks)
    assert seen == [(t, True, True) for t in ticks]
    by_id = {r.execution_id: r for r in history}
    assert set(report.execution_ids) <= set(by_id)
    for tick, execution_id in zip(ticks, report.execution_ids, strict=True):
        record = by_id[execution_id]
        assert record.status == JobStatus.COMPLETED
        assert record.metadata["backfill"] == "true"
        assert record.metadata["scheduled_at"] == tick.isoformat()


async def test_a_task_knows_it_is_a_backfill_run() -> None:
    runs: list[tuple[datetime, bool]] = []
    s = AsyncScheduler(MemoryStore())

    @s.task(name="tally")
    def tally() -> None:
        run = current_run()
        runs.append((run.scheduled_at, run.backfill))

    async with s:
        await s.add_job("tally", hourly(), task=tally)
        await s.backfill("tally", START, START + 2 * HOUR)
    assert runs == [(START, True), (START + HOUR, True)]


async def test_failures_are_recorded_per_tick_and_the_backfill_goes_on() -> None:
    def handler(event: JobEvent) -> None:
        if event.scheduled_at == START + HOUR:
            raise ValueError("bad hour")

    async with AsyncScheduler(MemoryStore(), handler) as s:
        await s.add_job("j", hourly())
        report = await s.backfill("j", START, START + 3 * HOUR)
        statuses = [(await s._store.get_execution(i)).status for i in report.execution_ids]
    assert statuses == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED]


async def test_allow_runs_up_to_max_instances_at_once() -> None:
    going = 0
    most = 0

    async def handler(event: JobEvent) -> None:
        nonlocal going, most
        going += 1
        most = max(most, going)
        await asyncio.sleep(0.02)
        going -= 1

    async with AsyncScheduler(MemoryStore(), handler) as s:
        await s.add_job("wide", hourly(), overlap=Overlap.ALLOW, max_instances=3)
        report = await s.backfill("wide", START, START + 9 * HOUR)
    assert len(report.execution_ids) == 9
    assert most == 3


async def test_other_policies_run_the_ticks_one_at_a_time_in_order() -> None:
    order: list[datetime] = []
    going = 0

    async def handler(event: JobEvent) -> None:
        nonlocal going
        going += 1
        assert going == 1
        await asyncio.sleep(0.005)
        order.append(event.scheduled_at)
        going -= 1

    async with AsyncScheduler(MemoryStore(), handler) as s:
        await s.add_job("q", hourly(), overlap=Overlap.QUEUE_ONE)
        await s.backfill("q", START, START + 4 * HOUR)
    assert order == [START + i * HOUR for i in range(4)]


async def test_skip_records_ticks_that_meet_a_live_run_as_skipped_backfill() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(event: JobEvent) -> None:
        if not event.backfill:
            started.set()
            await release.wait()

    async with AsyncScheduler(MemoryStore(), handler) as s:
        await s.add_job("live", IntervalSchedule(timedelta(hours=1)), overlap=Overlap.SKIP)
        live = await s.run_job_now("live")
        await started.wait()
        report = await s.backfill("live", START, START + 2 * HOUR)
        release.set()
        await until(lambda: not s._entries["live"].running)
        records = [await s._store.get_execution(i) for i in report.execution_ids]
    assert live not in report.execution_ids
    assert report.skipped == 2
    assert [r.status for r in records] == [ExecutionStatus.SKIPPED_OVERLAP] * 2
    assert all(r.metadata["backfill"] == "true" for r in records)


async def test_too_large_a_range_is_refused_before_anything_runs() -> None:
    calls: list[JobEvent] = []
    async with AsyncScheduler(MemoryStore(), calls.append) as s:
        await s.add_job("j", hourly())
        with pytest.raises(BackfillError, match="more than 5 ticks"):
            await s.backfill("j", START, START + 10 * HOUR, limit=5)
        with pytest.raises(JobNotFoundError):
            await s.backfill("nope", START, START + HOUR)
        assert await s.run_history("j") == []
    assert calls == []


async def test_a_stopped_scheduler_refuses_and_a_stop_ends_a_backfill() -> None:
    s = AsyncScheduler(MemoryStore(), lambda e: None)
    await s.add_job("j", hourly())
    with pytest.raises(SchedulerNotStartedError):
        await s.backfill("j", START, START + HOUR)

    async def slow(event: JobEvent) -> None:
        await asyncio.sleep(30)

    s = AsyncScheduler(MemoryStore(), slow)
    async with s:
        await s.add_job("j", hourly())
        backfill = asyncio.create_task(s.backfill("j", START, START + 5 * HOUR))
        await until(lambda: s._entries["j"].running)
        await s.stop(timeout=0.1)
        with pytest.raises(SchedulerStoppedError):
            await backfill


def test_the_blocking_scheduler_backfills_and_reports_progress() -> None:
    seen: list[datetime] = []
    progress: list[tuple[int, int]] = []
    lock = threading.Lock()

    def handler(event: JobEvent) -> None:
        with lock:
            seen.append(event.scheduled_at)

    with Scheduler(MemoryStore(), handler) as s:
        s.add_job("j", hourly())
        report = s.backfill("j", START, START + 3 * HOUR, progress=lambda *p: progress.append(p))
    assert sorted(seen) == list(report.ticks)
    assert progress == [(1, 3), (2, 3), (3, 3)]
