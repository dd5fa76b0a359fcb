"""Events and run logs (issue 15, parts 1 to 3): what subscribers and the logs are told.

Every test subscribes to a real scheduler on a memory store and looks at what arrives;
the store-outage events are in test_store_outage.py, beside the store that goes away.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.rows import save_row
from support.waiting import until, until_sync

from tickwork import (
    AsyncScheduler,
    ClaimLost,
    Event,
    IntervalSchedule,
    JobAdded,
    JobChanged,
    JobEvent,
    JobPaused,
    JobRemoved,
    JobResumed,
    MemoryStore,
    OnceSchedule,
    RetriesExhausted,
    RetryPolicy,
    RetryScheduled,
    RunCoalesced,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunMissed,
    RunSkipped,
    RunStarted,
    RunTakenOver,
    RunTimedOut,
    Scheduler,
    SchedulerStarted,
    SchedulerStopped,
)

FAST = IntervalSchedule(timedelta(milliseconds=50))


def now() -> datetime:
    return datetime.now(UTC)


class Seen:
    """A plain subscriber that keeps what it got (called in a worker thread)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


async def ok(event: JobEvent) -> None:
    return None


async def test_a_run_and_the_job_changes_reach_a_subscriber_in_order() -> None:
    seen = Seen()
    scheduler = AsyncScheduler(handler=ok, worker_id="w1")
    scheduler.subscribe(seen)
    async with scheduler:
        await scheduler.add_job("j", OnceSchedule(now()))
        await until(lambda: seen.of(RunCompleted), what="the completed run")
        await scheduler.update_job_options("j", timeout=timedelta(seconds=5))
        await scheduler.remove_job("j")
    await until(lambda: seen.of(SchedulerStopped))
    kinds = [type(e) for e in seen.events]
    assert kinds == [
        SchedulerStarted,
        JobAdded,
        RunStarted,
        RunCompleted,
        JobChanged,
        JobRemoved,
        SchedulerStopped,
    ]
    started, completed = seen.of(RunStarted)[0], seen.of(RunCompleted)[0]
    assert started.execution_id == completed.execution_id
    assert (completed.job_id, completed.attempt, completed.worker_id) == ("j", 1, "w1")
    assert completed.started_at <= completed.ended_at
    assert seen.of(JobChanged)[0].what == "options"


async def test_failures_timeouts_and_retries_are_events() -> None:
    seen = Seen()

    async def handler(event: JobEvent) -> None:
        if event.id == "slow":
            await asyncio.sleep(5)
        raise RuntimeError(f"boom {event.attempt}")

    async with AsyncScheduler(handler=handler) as scheduler:
        scheduler.subscribe(seen, RunEvent)
        await scheduler.add_job(
            "flaky",
            OnceSchedule(now()),
            retry=RetryPolicy(max_attempts=2, backoff=timedelta(milliseconds=10), jitter=0),
        )
        await scheduler.add_job("slow", OnceSchedule(now()), timeout=timedelta(milliseconds=50))
        await until(lambda: seen.of(RetriesExhausted) and seen.of(RunTimedOut), timeout=5)
    failed = [e.error for e in seen.of(RunFailed) if e.job_id == "flaky"]
    assert failed == ["boom 1", "boom 2"]
    [retry] = seen.of(RetryScheduled)
    assert (retry.attempt, retry.next_attempt, retry.error) == (1, 2, "boom 1")
    assert retry.delay == timedelta(milliseconds=10)
    [exhausted] = seen.of(RetriesExhausted)
    assert (exhausted.attempts, exhausted.error) == (2, "boom 2")
    assert seen.of(RunTimedOut)[0].job_id == "slow"
    assert not [e for e in seen.events if not isinstance(e, RunEvent)], "filtered by type"


async def test_ticks_that_did_not_run_are_events() -> None:
    seen = Seen()
    store = MemoryStore()
    past = now() - timedelta(seconds=10)
    async with AsyncScheduler(store, ok) as scheduler:
        await scheduler.add_job("paused", FAST)
        await scheduler.pause_job("paused")
    # Down for ten seconds: ten ticks of a 1 s job passed, folded into one catch-up run.
    await save_row(store, "grid", schedule_config="1s", next_run=past)
    scheduler = AsyncScheduler(store, ok)
    scheduler.subscribe(seen)  # before start: the catch-up happens as it starts
    async with scheduler:
        await scheduler.add_job("late", OnceSchedule(past), misfire_grace_time=timedelta(seconds=1))
        await until(lambda: seen.of(RunMissed) and seen.of(RunCoalesced), timeout=5)
        await asyncio.sleep(0.2)  # a few of the paused job's ticks pass
        await scheduler.resume_job("paused")
        await until(lambda: seen.of(RunSkipped), timeout=5)
    assert [e.job_id for e in seen.of(RunMissed)] == ["late"]
    [coalesced] = seen.of(RunCoalesced)
    assert coalesced.job_id == "grid"
    assert coalesced.count >= 9
    skipped = seen.of(RunSkipped)
    assert {(e.job_id, e.reason) for e in skipped} == {("paused", "paused")}
    assert seen.of(JobResumed)


async def test_job_id_filter_and_unsubscribe() -> None:
    only_a, everything = Seen(), Seen()
    async with AsyncScheduler(handler=ok) as scheduler:
        subscription = scheduler.subscribe(only_a, RunCompleted, job_id="a")
        scheduler.subscribe(everything, RunCompleted)
        await scheduler.add_job("a", FAST)
        await scheduler.add_job("b", FAST)
        await until(lambda: len(only_a.of(RunCompleted)) >= 2)
        subscription.unsubscribe()
        await asyncio.sleep(0.1)  # let deliveries under way land
        count = len(only_a.events)
        await until(lambda: len(everything.events) >= count + 4)
    assert {e.job_id for e in only_a.events} == {"a"}
    assert len(only_a.events) == count, "events after unsubscribe"
    assert {e.job_id for e in everything.events} == {"a", "b"}


async def test_a_slow_subscriber_never_makes_a_run_late_and_loses_only_its_own_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="tickwork.events")
    blocked = threading.Event()
    fast = Seen()
    lateness: list[float] = []

    def stuck(event: Event) -> None:
        blocked.wait(10)

    async def handler(event: JobEvent) -> None:
        lateness.append(event.delay.total_seconds())

    async with AsyncScheduler(handler=handler) as scheduler:
        slow = scheduler.subscribe(stuck, queue_size=5)
        scheduler.subscribe(fast, RunCompleted)
        await scheduler.add_job("j", IntervalSchedule(timedelta(milliseconds=20)))
        await until(lambda: len(lateness) >= 40, timeout=5)
        blocked.set()
    assert slow.dropped > 0
    assert len(fast.of(RunCompleted)) >= 39, "the other subscriber got everything"
    assert sorted(lateness)[len(lateness) * 9 // 10] < 0.05, "runs were held up"
    overflows = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(overflows) == 1, [r.getMessage() for r in overflows]
    assert "stuck" in overflows[0].getMessage()


async def test_a_failing_subscriber_is_logged_by_name_and_others_still_get_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = Seen()

    async def broken_listener(event: Event) -> None:
        raise ValueError("listener bug")

    async with AsyncScheduler(handler=ok) as scheduler:
        scheduler.subscribe(broken_listener, RunCompleted)
        scheduler.subscribe(good, RunCompleted)
        await scheduler.add_job("j", FAST)
        await until(lambda: len(good.events) >= 3)
    errors = [r for r in caplog.records if r.name == "tickwork.events"]
    assert errors
    assert "broken_listener" in errors[0].getMessage()


async def test_async_for_over_events() -> None:
    async with AsyncScheduler(handler=ok) as scheduler:
        got: list[RunCompleted] = []
        async with scheduler.events(RunCompleted) as stream:
            await scheduler.add_job("j", FAST)
            async for event in stream:
                got.append(event)  # type: ignore[arg-type]
                if len(got) == 3:
                    break
    assert [e.job_id for e in got] == ["j", "j", "j"]


def test_the_blocking_scheduler_subscribes_and_iterates() -> None:
    seen = Seen()
    with Scheduler(handler=lambda e: None) as scheduler:
        scheduler.subscribe(seen, JobAdded, JobPaused)
        with scheduler.events(RunCompleted, job_id="j") as stream:
            scheduler.add_job("j", FAST)
            first = stream.get(timeout=5)
        scheduler.pause_job("j")
        until_sync(lambda: len(seen.events) >= 2)
    assert isinstance(first, RunCompleted)
    assert [type(e) for e in seen.events] == [JobAdded, JobPaused]


async def test_no_event_is_built_without_a_subscriber() -> None:
    async with AsyncScheduler(handler=ok) as scheduler:
        assert not scheduler._events.active
        subscription = scheduler.subscribe(Seen())
        assert scheduler._events.active
        subscription.unsubscribe()
        assert not scheduler._events.active


async def test_a_run_taken_over_from_a_stalled_worker_and_the_lost_claim_are_events() -> None:
    store = MemoryStore(shared=True)
    stuck = asyncio.Event()
    seen = Seen()

    async def stalls(event: JobEvent) -> None:
        stuck.set()
        await asyncio.sleep(3600)

    lease = timedelta(milliseconds=300)
    dead = AsyncScheduler(store, stalls, worker_id="dead", claim_lease=lease, sync_interval=0.05)
    alive = AsyncScheduler(store, ok, worker_id="alive", claim_lease=lease, sync_interval=0.05)
    alive.subscribe(seen, ClaimLost, RunTakenOver)
    await dead.start()
    await dead.add_job("job", OnceSchedule(now()))
    await asyncio.wait_for(stuck.wait(), 5)
    assert dead._coordinator is not None
    dead._coordinator.lease = timedelta(hours=1)
    for task in asyncio.all_tasks():
        if task.get_name().startswith("tickwork-lease-"):
            task.cancel()
    await alive.start()
    await until(lambda: seen.of(RunTakenOver), timeout=5, what="the takeover event")
    await alive.stop()
    await dead.stop(timeout=0.1)
    assert {e.job_id for e in seen.of(ClaimLost)} == {"job"}
    assert seen.of(RunTakenOver)[0].worker_id == "alive"


# --- logs ------------------------------------------------------------------------------


async def test_failed_and_timed_out_runs_are_logged_at_error_with_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tickwork")

    async def handler(event: JobEvent) -> None:
        if event.id == "slow":
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError("it broke")

    async with AsyncScheduler(handler=handler) as scheduler:
        await scheduler.add_job("slow", OnceSchedule(now()), timeout=timedelta(milliseconds=100))
        await scheduler.add_job("broken", OnceSchedule(now()))
        await until(lambda: len([r for r in caplog.records if r.name == "tickwork.runs"]) >= 2)
    runs = {r.job_id: r for r in caplog.records if r.name == "tickwork.runs"}  # type: ignore[attr-defined]
    assert runs["slow"].levelno == logging.ERROR
    assert "timed out" in runs["slow"].getMessage()
    assert runs["broken"].levelno == logging.ERROR
    assert runs["broken"].exc_info is not None, "the traceback of what the handler raised"
    for record in runs.values():
        assert record.attempt == 1  # type: ignore[attr-defined]
        assert record.execution_id  # type: ignore[attr-defined]


async def test_the_event_types_have_one_base() -> None:
    from tickwork import _events

    for name in _events.__all__:
        kind = getattr(_events, name)
        assert issubclass(kind, Event), name
