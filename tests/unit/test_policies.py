"""Per-job run policies and the tick log (issue 8), with the memory store.

Downtime is simulated by writing a job whose next run lies in the past straight into
the store; everything else runs on short real intervals with deadline-based waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    CatchUp,
    ExecutionStatus,
    IntervalSchedule,
    InvalidJobDataError,
    JobData,
    JobEvent,
    JobOptions,
    JobStatus,
    MemoryStore,
    OnceSchedule,
    Overlap,
    QueryOptions,
    RetryPolicy,
    StartAtIntervalSchedule,
)
from tickwork._policy import OPTIONS_KEY

MS = timedelta(milliseconds=1)


def statuses(records: list) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(str(r.status) for r in records)


async def history(s: AsyncScheduler, job_id: str, **filters: object) -> list:  # type: ignore[type-arg]
    return await s.store.list_executions(job_id, QueryOptions(**filters))  # type: ignore[arg-type]


async def store_with_downtime(
    start: datetime, interval: timedelta, options: JobOptions | None = None
) -> MemoryStore:
    """A store with a job on the grid ``start + k*interval`` whose next run is ``start``:
    every tick from ``start`` to now passed while nothing ran."""
    from tickwork import default_codec
    from tickwork._policy import options_to_metadata

    store = MemoryStore()
    await store.initialize()
    kind, config = default_codec().encode(StartAtIntervalSchedule(start, interval))
    await store.save_job(
        JobData(
            id="job",
            schedule_type=kind,
            schedule_config=config,
            status=JobStatus.COMPLETED,
            next_run=start,
            last_run=start - interval,
            metadata=options_to_metadata(options or JobOptions(), {}),
        )
    )
    return store


# -- options as values ----------------------------------------------------------------


def test_options_validate_and_persist_in_metadata() -> None:
    opts = JobOptions(timeout=5, retry=3, overlap="allow", max_instances=2)
    assert opts.timeout == timedelta(seconds=5)
    assert opts.retry == RetryPolicy(max_attempts=3)
    assert opts.overlap is Overlap.ALLOW
    with pytest.raises(InvalidJobDataError, match="overlap"):
        JobOptions(overlap="sometimes")
    with pytest.raises(InvalidJobDataError, match="timeout"):
        JobOptions(timeout=timedelta(0))
    with pytest.raises(InvalidJobDataError, match="unknown job option"):
        JobOptions().replace(colour="blue")
    with pytest.raises(ValueError):
        JobOptions(max_instances=0)


async def test_default_options_store_nothing_extra() -> None:
    async with AsyncScheduler(handler=lambda e: None) as s:
        await s.add_job("plain", IntervalSchedule(timedelta(hours=1)), {"a": "b"})
        await s.add_job("tuned", IntervalSchedule(timedelta(hours=1)), {"a": "b"}, timeout=2)
        assert (await s.store.get_job("plain")).metadata == {"a": "b"}
        stored = await s.store.get_job("tuned")
        assert stored.metadata["a"] == "b"
        assert stored.metadata[OPTIONS_KEY] == '{"timeout":2.0}'
        job = await s.get_job("tuned")
        assert job.metadata == {"a": "b"}
        assert job.options.timeout == timedelta(seconds=2)
        with pytest.raises(InvalidJobDataError, match="reserved"):
            await s.add_job("bad", IntervalSchedule(timedelta(hours=1)), {OPTIONS_KEY: "x"})


async def test_options_survive_a_restart_and_can_be_changed() -> None:
    store = MemoryStore()
    s = AsyncScheduler(store, lambda e: None)
    await s.add_job("j", IntervalSchedule(timedelta(hours=1)), retry=RetryPolicy(max_attempts=4))
    await s.start()
    await s.stop()
    again = AsyncScheduler(store, lambda e: None)
    await again.start()
    job = await again.get_job("j")
    assert job.options.retry == RetryPolicy(max_attempts=4)
    changed = await again.update_job_options("j", overlap="queue_one", retry=None)
    assert changed.options == JobOptions(overlap=Overlap.QUEUE_ONE)
    assert (await again.get_job("j")).options.overlap is Overlap.QUEUE_ONE
    await again.stop()


# -- catch-up after downtime ------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "runs", "coalesced"),
    [(CatchUp.LATEST, 1, 4), (CatchUp.EARLIEST, 1, 4), (CatchUp.ALL, 3, 2)],
)
async def test_catch_up_policies(policy: CatchUp, runs: int, coalesced: int) -> None:
    interval = timedelta(hours=1)
    start = datetime.now(UTC) - interval * 5 + interval / 2
    store = await store_with_downtime(start, interval, JobOptions(catch_up=policy, max_catch_up=3))
    seen: list[datetime] = []
    async with AsyncScheduler(store, lambda e: seen.append(e.scheduled_at)) as s:
        await until(lambda: len(seen) >= runs)
        await asyncio.sleep(0.1)
        records = await history(s, "job")
        job = await s.get_job("job")
    assert len(seen) == runs
    assert statuses(records) == Counter({"completed": runs, "coalesced": coalesced})
    missed_ticks = [start + interval * i for i in range(5)]
    if policy == CatchUp.LATEST:
        assert seen == [missed_ticks[-1]]
    elif policy == CatchUp.EARLIEST:
        assert seen == [missed_ticks[0]]
    else:
        assert seen == missed_ticks[:3]
    assert job.next_run is not None
    assert job.next_run > datetime.now(UTC)


async def test_many_missed_ticks_are_summed_up() -> None:
    interval = timedelta(seconds=1)
    store = await store_with_downtime(datetime.now(UTC) - timedelta(days=2), interval)
    seen: list[datetime] = []
    async with AsyncScheduler(store, lambda e: seen.append(e.scheduled_at)) as s:
        await until(lambda: seen, timeout=10)
        await asyncio.sleep(0.2)
        records = await history(s, "job", status="coalesced")
    assert len(seen) == 1
    assert 100 < len(records) <= 101
    counted = sum(int(r.metadata.get("count", "1")) for r in records)
    # The scan stops at 100,000 ticks; the summary says "at least".
    assert counted >= 100_000
    assert any("at least" in r.metadata.get("note", "") for r in records)


# -- misfire grace --------------------------------------------------------------------


async def test_run_later_than_the_grace_time_is_missed() -> None:
    interval = timedelta(hours=1)
    start = datetime.now(UTC) - interval / 2  # one tick, 30 minutes overdue
    store = await store_with_downtime(
        start, interval, JobOptions(misfire_grace_time=timedelta(minutes=5))
    )
    ran: list[JobEvent] = []
    async with AsyncScheduler(store, ran.append) as s:
        await until(lambda: store._by_job.get("job"))
        records = await history(s, "job")
        job = await s.get_job("job")
    assert ran == []
    assert [r.status for r in records] == [ExecutionStatus.MISSED]
    assert job.next_run is not None
    assert job.next_run > datetime.now(UTC)


async def test_run_within_the_grace_time_runs() -> None:
    ran: list[JobEvent] = []
    async with AsyncScheduler(handler=ran.append) as s:
        await s.add_job(
            "j", OnceSchedule(datetime.now(UTC) - timedelta(seconds=1)), misfire_grace_time=60
        )
        await until(lambda: ran)


# -- overlap ---------------------------------------------------------------------------


class Slow:
    """An async handler that takes ``seconds`` and counts concurrency."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = 0
        self.peak = 0
        self.started: list[datetime] = []
        self.cancelled = 0

    async def __call__(self, event: JobEvent) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.started.append(event.scheduled_at)
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1


GRID = timedelta(milliseconds=40)


def fast_grid() -> StartAtIntervalSchedule:
    return StartAtIntervalSchedule(datetime.now(UTC) + GRID, GRID)


async def test_overlap_skip_records_skipped_runs() -> None:
    slow = Slow(0.15)
    async with AsyncScheduler(handler=slow) as s:
        await s.add_job("j", fast_grid())
        await until(lambda: len(slow.started) >= 3)
        await s.pause_job("j")
        await until(lambda: not s._entries["j"].running)
        records = await history(s, "j")
    assert slow.peak == 1
    counts = statuses(records)
    assert counts["completed"] >= 2
    assert counts["skipped_overlap"] >= 2


async def test_overlap_allow_runs_up_to_max_instances() -> None:
    slow = Slow(0.15)
    async with AsyncScheduler(handler=slow) as s:
        await s.add_job("j", fast_grid(), overlap="allow", max_instances=3)
        await until(lambda: len(slow.started) >= 6)
        await s.pause_job("j")
        await until(lambda: not s._entries["j"].running, timeout=5)
    assert slow.peak == 3


async def test_overlap_queue_one_runs_one_after_the_other() -> None:
    slow = Slow(0.1)
    async with AsyncScheduler(handler=slow) as s:
        await s.add_job("j", fast_grid(), overlap="queue_one")
        await until(lambda: len(slow.started) >= 4)
        await s.pause_job("j")
        await until(lambda: not s._entries["j"].running, timeout=5)
        records = await history(s, "j")
    assert slow.peak == 1
    assert statuses(records)["skipped_overlap"] >= 1  # only one may wait
    # Each queued run starts for a tick that came due while the previous one ran.
    assert slow.started == sorted(slow.started)


async def test_overlap_cancel_running() -> None:
    slow = Slow(10)
    async with AsyncScheduler(handler=slow) as s:
        await s.add_job("j", fast_grid(), overlap="cancel_running")
        await until(lambda: slow.cancelled >= 2)
        await s.pause_job("j")
        await s.stop(timeout=0.2)
        await s.store.initialize()
        records = await s.store.list_executions("j")
    failed = [r for r in records if r.status is JobStatus.FAILED]
    assert any("superseded" in (r.error or "") for r in failed)


# -- timeout, retry, jitter --------------------------------------------------------------


async def test_async_handler_timeout_cancels_it_and_the_next_run_is_not_blocked() -> None:
    slow = Slow(10)
    async with AsyncScheduler(handler=slow) as s:
        await s.add_job("j", IntervalSchedule(timedelta(milliseconds=20)), timeout=0.05)
        await until(lambda: slow.cancelled >= 3)
        for _ in range(500):  # the third run's record is written as its finish is
            records = await history(s, "j")
            if statuses(records)["timed_out"] >= 3:
                break
            await asyncio.sleep(0.01)
    assert statuses(records)["timed_out"] >= 3
    assert all("timed out" in (r.error or "") for r in records if r.status == "timed_out")


async def test_sync_handler_timeout_is_recorded_and_its_result_ignored() -> None:
    release = threading.Event()
    calls: list[int] = []

    def blocking(event: JobEvent) -> None:
        calls.append(1)
        release.wait(5)

    async with AsyncScheduler(handler=blocking) as s:
        await s.add_job("j", IntervalSchedule(timedelta(milliseconds=20)), timeout=0.05)
        await until(lambda: len(calls) >= 3)  # later runs started while threads hang
        records = await history(s, "j", status="timed_out")
        assert len(records) >= 2
        assert (await s.get_job("j")).status in (JobStatus.FAILED, JobStatus.RUNNING)
        release.set()


async def test_retry_records_each_attempt() -> None:
    attempts: list[int] = []

    async def flaky(event: JobEvent) -> None:
        attempts.append(event.attempt)
        if event.attempt < 3:
            raise RuntimeError(f"attempt {event.attempt} failed")

    retry = RetryPolicy(max_attempts=4, backoff=timedelta(milliseconds=10), jitter=0)
    async with AsyncScheduler(handler=flaky) as s:
        await s.add_job("j", OnceSchedule(datetime.now(UTC)), retry=retry)
        await until(lambda: s._entries["j"].status is JobStatus.COMPLETED)
        records = sorted(await history(s, "j"), key=lambda r: r.start_time)
    assert attempts == [1, 2, 3]
    assert [(r.metadata["attempt"], str(r.status)) for r in records] == [
        ("1", "failed"),
        ("2", "failed"),
        ("3", "completed"),
    ]
    assert records[0].error == "attempt 1 failed"
    assert len({r.metadata["scheduled_at"] for r in records}) == 1


async def test_retry_gives_up_after_max_attempts() -> None:
    async def broken(event: JobEvent) -> None:
        raise RuntimeError("always")

    retry = RetryPolicy(max_attempts=2, backoff=timedelta(0))
    async with AsyncScheduler(handler=broken) as s:
        await s.add_job("j", OnceSchedule(datetime.now(UTC)), retry=retry)
        await until(lambda: s._entries["j"].status is JobStatus.FAILED)
        assert len(await history(s, "j")) == 2


def test_retry_backoff_grows_and_is_capped() -> None:
    retry = RetryPolicy(
        backoff=timedelta(seconds=1), multiplier=2, max_backoff=timedelta(seconds=5), jitter=0
    )
    assert [retry.delay_before(n).total_seconds() for n in (2, 3, 4, 5)] == [1, 2, 4, 5]
    jittery = RetryPolicy(backoff=timedelta(seconds=10), jitter=0.5)
    delays = {jittery.delay_before(2).total_seconds() for _ in range(50)}
    assert all(5 <= d <= 15 for d in delays)
    assert len(delays) > 1


async def test_jitter_delays_the_start_and_is_in_the_event() -> None:
    events: list[JobEvent] = []
    async with AsyncScheduler(handler=events.append) as s:
        await s.add_job("j", IntervalSchedule(timedelta(milliseconds=20)), jitter=0.05)
        await until(lambda: len(events) >= 5)
        records = await history(s, "j")
    for event in events:
        assert timedelta(0) <= event.jitter <= timedelta(milliseconds=50)
        assert event.delay >= event.jitter
    assert len({e.jitter for e in events}) > 1
    assert all("jitter" in r.metadata for r in records if r.metadata.get("jitter"))


# -- manual runs, paused ticks, quarantine, preview ------------------------------------


async def test_run_job_now_is_recorded_as_manual_and_keeps_the_schedule() -> None:
    events: list[JobEvent] = []
    async with AsyncScheduler(handler=events.append) as s:
        job = await s.add_job("j", IntervalSchedule(timedelta(hours=1)))
        execution_id = await s.run_job_now("j")
        await until(lambda: events)
        await until(lambda: not s._entries["j"].running)
        record = await s.store.get_execution(execution_id)
        assert record.metadata["manual"] == "true"
        assert events[0].manual
        assert (await s.get_job("j")).next_run == job.next_run


async def test_paused_ticks_are_recorded_on_resume() -> None:
    events: list[JobEvent] = []
    async with AsyncScheduler(handler=events.append) as s:
        await s.add_job("j", StartAtIntervalSchedule(datetime.now(UTC) + GRID, GRID))
        await s.pause_job("j")
        await asyncio.sleep(0.25)
        await s.resume_job("j")
        records = await history(s, "j", status="paused")
    assert len(records) >= 4
    assert events == [] or all(e.scheduled_at > records[-1].start_time for e in events)


async def test_undecodable_job_is_quarantined_and_left_untouched() -> None:
    store = MemoryStore()
    await store.initialize()
    odd = JobData(
        id="odd",
        schedule_type="lunar_phase",
        schedule_config="full moon",
        next_run=datetime.now(UTC) - timedelta(minutes=1),
        metadata={"k": "v", OPTIONS_KEY: '{"timeout":3.0}'},
    )
    await store.save_job(odd.copy())
    ran: list[JobEvent] = []
    async with AsyncScheduler(store, ran.append) as s:
        jobs = await s.list_jobs()
        assert [j.id for j in jobs] == ["odd"]
        assert jobs[0].quarantined is not None
        assert "lunar_phase" in jobs[0].quarantined
        with pytest.raises(InvalidJobDataError, match="quarantined"):
            await s.pause_job("odd")
        with pytest.raises(InvalidJobDataError, match="quarantined"):
            await s.run_job_now("odd")
        await asyncio.sleep(0.1)
    assert ran == []
    await store.initialize()
    assert await store.get_job("odd") == odd


async def test_quarantined_job_can_get_a_new_schedule() -> None:
    store = MemoryStore()
    await store.initialize()
    await store.save_job(JobData(id="odd", schedule_type="lunar_phase", schedule_config="x"))
    ran: list[JobEvent] = []
    async with AsyncScheduler(store, ran.append) as s:
        job = await s.update_job_schedule("odd", OnceSchedule(datetime.now(UTC)))
        assert job.quarantined is None
        await until(lambda: ran)


async def test_dst_skipped_ticks_are_recorded() -> None:
    from tickwork import CronSchedule, default_codec

    schedule = CronSchedule("30 2 * * *", "Europe/Paris", on_gap="skip")
    kind, config = default_codec().encode(schedule)
    store = MemoryStore()
    await store.initialize()
    # Down since before the spring-forward night of 2026-03-29 (02:30 does not exist).
    due = datetime(2026, 3, 27, 1, 30, tzinfo=UTC)
    await store.save_job(
        JobData(id="job", schedule_type=kind, schedule_config=config, next_run=due)
    )
    seen: list[JobEvent] = []
    async with AsyncScheduler(store, seen.append) as s:
        await until(lambda: seen)
        skipped = await history(s, "job", status="dst_skipped")
    assert [r.start_time for r in skipped] == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]
