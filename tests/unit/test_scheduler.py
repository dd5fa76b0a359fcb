"""Behaviour of AsyncScheduler with the memory store and the local trigger."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    EmptyJobIDError,
    HandlerNotDefinedError,
    IntervalSchedule,
    InvalidIntervalError,
    Job,
    JobAlreadyExistsError,
    JobData,
    JobEvent,
    JobNotFoundError,
    JobStatus,
    MemoryStore,
    OnceSchedule,
    QueryOptions,
    SchedulerAlreadyStartedError,
    SchedulerNotStartedError,
    StartAtIntervalSchedule,
    UnsupportedScheduleError,
)

FAST = IntervalSchedule(timedelta(milliseconds=20))


class Recorder:
    """A handler that remembers every event (usable as sync or async handler)."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: JobEvent) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, job_id: str) -> list[JobEvent]:
        with self.lock:
            return [e for e in self.events if e.id == job_id]


async def records(s: AsyncScheduler, job_id: str) -> list[Any]:
    return await s.store.list_executions(job_id)


# -- lifecycle ---------------------------------------------------------------------------


async def test_start_needs_a_handler() -> None:
    with pytest.raises(HandlerNotDefinedError):
        await AsyncScheduler().start()


async def test_start_twice_and_stop_when_stopped() -> None:
    s = AsyncScheduler(handler=Recorder())
    with pytest.raises(SchedulerNotStartedError):
        await s.stop()
    await s.start()
    assert s.is_running
    with pytest.raises(SchedulerAlreadyStartedError):
        await s.start()
    await s.stop()
    assert not s.is_running
    with pytest.raises(SchedulerNotStartedError):
        await s.stop()


async def test_start_stop_cycles_keep_jobs_running() -> None:
    rec = Recorder()
    s = AsyncScheduler(handler=rec)
    await s.add_job("tick", FAST)
    for cycle in range(3):
        await s.start()
        before = len(rec.of("tick"))
        await until(lambda b=before: len(rec.of("tick")) >= b + 2, what=f"runs in cycle {cycle}")
        await s.stop()
    assert [j.id for j in await s.list_jobs()] == ["tick"]


async def test_wait_until_running() -> None:
    s = AsyncScheduler(handler=Recorder())
    with pytest.raises(TimeoutError):
        await s.wait_until_running(timeout=0.05)
    waiter = asyncio.create_task(s.wait_until_running(timeout=5))
    await asyncio.sleep(0)
    await s.start()
    await waiter
    await s.wait_until_running(timeout=0)
    await s.stop()


async def test_async_context_manager() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        assert s.is_running
        await s.add_job("once", OnceSchedule(datetime.now(UTC)))
        await until(lambda: rec.of("once"))
    assert not s.is_running


# -- adding jobs -------------------------------------------------------------------------


async def test_add_job_validates() -> None:
    async with AsyncScheduler(handler=Recorder()) as s:
        with pytest.raises(EmptyJobIDError):
            await s.add_job("", FAST)
        with pytest.raises(InvalidIntervalError):
            await s.add_job("x", None)  # type: ignore[arg-type]
        with pytest.raises(UnsupportedScheduleError):
            await s.add_job("x", object())  # type: ignore[arg-type]
        job = await s.add_job("x", FAST, {"k": "v"})
        with pytest.raises(JobAlreadyExistsError):
            await s.add_job("x", FAST)
        assert job.status is JobStatus.PENDING
        assert job.metadata == {"k": "v"}
        with pytest.raises(JobNotFoundError):
            await s.get_job("missing")
        with pytest.raises(LookupError):
            await s.remove_job("missing")


async def test_job_and_event_are_immutable() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        job = await s.add_job("x", OnceSchedule(datetime.now(UTC)))
        await until(lambda: rec.of("x"))
    with pytest.raises(AttributeError):
        job.status = JobStatus.FAILED  # type: ignore[misc]
    with pytest.raises(AttributeError):
        rec.events[0].scheduled_at = datetime.now(UTC)  # type: ignore[misc]
    assert isinstance(job, Job)


async def test_jobs_added_before_start_are_persisted_at_start() -> None:
    store = MemoryStore()
    s = AsyncScheduler(store, Recorder())
    await s.add_job("early", IntervalSchedule(timedelta(hours=1)), {"a": "b"})
    assert [j.id for j in await s.list_jobs()] == ["early"]
    await s.start()
    stored = await store.get_job("early")
    assert stored.schedule_type == "interval"
    assert stored.schedule_config == "1h0m0s"
    assert stored.metadata == {"a": "b"}
    assert stored.status is JobStatus.PENDING
    await s.stop()


async def test_list_jobs_sorted_by_id() -> None:
    async with AsyncScheduler(handler=Recorder()) as s:
        for job_id in ("b", "c", "a"):
            await s.add_job(job_id, IntervalSchedule(timedelta(hours=1)))
        assert [j.id for j in await s.list_jobs()] == ["a", "b", "c"]


# -- running -----------------------------------------------------------------------------


async def test_interval_job_runs_and_next_run_follows_end_time() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        await s.add_job("tick", FAST, {"team": "core"})
        await until(lambda: len(rec.of("tick")) >= 3)
        await s.pause_job("tick")
        await until(lambda: not s._entries["tick"].running)
        history = await records(s, "tick")
        job = await s.get_job("tick")
    assert len(history) >= 3
    assert len({r.execution_id for r in history}) == len(history)
    last = max(history, key=lambda r: r.end_time)
    assert job.next_run == last.end_time + FAST.interval
    assert job.last_run == last.start_time
    assert all(r.status is JobStatus.COMPLETED for r in history)


async def test_event_carries_every_field() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        await s.add_job("tick", FAST, {"team": "core"})
        await until(lambda: len(rec.of("tick")) >= 2)
        history = {r.execution_id: r for r in await records(s, "tick")}
    first, second = rec.of("tick")[:2]
    assert first.id == first.name == "tick"
    assert first.metadata == {"team": "core"}
    assert first.schedule == FAST
    assert first.delay == first.started_at - first.scheduled_at
    assert first.delay >= timedelta(0)
    assert first.last_completed_at is None
    assert second.last_completed_at == history[first.execution_id].end_time
    assert first.execution_id != second.execution_id
    assert first.job.id == "tick"
    assert first.job.is_running
    for value in (first.scheduled_at, first.started_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    first.metadata["team"] = "changed"
    assert second.metadata == {"team": "core"}


async def test_once_in_the_past_runs_once_immediately() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        await s.add_job("past", OnceSchedule(datetime.now(UTC) - timedelta(days=3)))
        await s.add_job("now", OnceSchedule(datetime.now(UTC)))
        await until(lambda: rec.of("past") and rec.of("now"))
        await asyncio.sleep(0.1)
        for job_id in ("past", "now"):
            job = await s.get_job(job_id)
            assert job.status is JobStatus.COMPLETED
            assert job.next_run is None
            assert len(rec.of(job_id)) == 1


async def test_failing_handler_is_recorded_and_others_go_on() -> None:
    seen: list[str] = []

    def handler(event: JobEvent) -> None:
        seen.append(event.id)
        if event.id == "bad":
            raise RuntimeError("boom: the handler failed")

    async with AsyncScheduler(handler=handler) as s:
        await s.add_job("bad", FAST)
        await s.add_job("good", FAST)
        await until(lambda: seen.count("bad") >= 3 and seen.count("good") >= 3)
        bad = await records(s, "bad")
        assert bad
        assert all(r.status is JobStatus.FAILED for r in bad)
        assert bad[0].error == "boom: the handler failed"
        assert (await s.get_job("bad")).status in (JobStatus.FAILED, JobStatus.RUNNING)
        assert all(r.status is JobStatus.COMPLETED for r in await records(s, "good"))


async def test_failed_once_job_is_failed() -> None:
    async def handler(event: JobEvent) -> None:
        raise ValueError("nope")

    async with AsyncScheduler(handler=handler) as s:
        await s.add_job("once", OnceSchedule(datetime.now(UTC)))
        await until(lambda: s._entries["once"].status is JobStatus.FAILED)
        job = await s.get_job("once")
        assert job.next_run is None
        assert (await records(s, "once"))[0].error == "nope"


@pytest.mark.parametrize(
    "kind", ["function", "coroutine", "async_call_object", "returns_awaitable"]
)
async def test_every_kind_of_handler(kind: str) -> None:
    threads: list[str] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def note() -> None:
        threads.append(threading.current_thread().name)
        loop.call_soon_threadsafe(done.set)

    async def coro(event: JobEvent) -> None:
        note()

    class AsyncCall:
        async def __call__(self, event: JobEvent) -> None:
            note()

    handlers: dict[str, Any] = {
        "function": lambda event: note(),
        "coroutine": coro,
        "async_call_object": AsyncCall(),
        "returns_awaitable": lambda event: coro(event),
    }
    async with AsyncScheduler(handler=handlers[kind]) as s:
        await s.add_job("j", OnceSchedule(datetime.now(UTC)))
        await asyncio.wait_for(done.wait(), 5)
        await until(lambda: s._entries["j"].status is JobStatus.COMPLETED)
    on_loop = threads[0] == threading.current_thread().name
    assert on_loop is (kind != "function")


async def test_one_job_never_runs_twice_at_once() -> None:
    active = 0
    peak = 0
    runs = 0

    async def slow(event: JobEvent) -> None:
        nonlocal active, peak, runs
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        runs += 1

    async with AsyncScheduler(handler=slow) as s:
        await s.add_job("slow", IntervalSchedule(timedelta(milliseconds=1)))
        await until(lambda: runs >= 4)
    assert peak == 1


async def test_missed_ticks_run_once_after_downtime() -> None:
    store = MemoryStore()
    await store.initialize()
    long_ago = datetime.now(UTC) - timedelta(days=7)
    await store.save_job(
        JobData(
            id="hourly",
            schedule_type="interval",
            schedule_config="1h0m0s",
            status=JobStatus.COMPLETED,
            next_run=long_ago + timedelta(hours=1),
            last_run=long_ago,
            created_at=long_ago,
            updated_at=long_ago,
        )
    )
    rec = Recorder()
    async with AsyncScheduler(store, rec) as s:
        await until(lambda: rec.of("hourly"))
        await asyncio.sleep(0.2)
        job = await s.get_job("hourly")
    assert len(rec.of("hourly")) == 1
    assert job.next_run is not None
    assert job.next_run > datetime.now(UTC) + timedelta(minutes=59)


async def test_start_at_interval_fires_on_its_grid() -> None:
    rec = Recorder()
    start = datetime.now(UTC) + timedelta(milliseconds=50)
    schedule = StartAtIntervalSchedule(start, timedelta(milliseconds=50))
    async with AsyncScheduler(handler=rec) as s:
        await s.add_job("grid", schedule)
        await until(lambda: len(rec.of("grid")) >= 3)
    for event in rec.of("grid"):
        offset = event.scheduled_at - start
        assert offset % timedelta(milliseconds=50) == timedelta(0)
    assert rec.of("grid")[0].scheduled_at == start


# -- management --------------------------------------------------------------------------


async def test_pause_and_resume() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        await s.add_job("tick", FAST)
        await until(lambda: rec.of("tick"))
        paused = await s.pause_job("tick")
        assert paused.status is JobStatus.DISABLED
        await until(lambda: not s._entries["tick"].running)
        count = len(rec.of("tick"))
        await asyncio.sleep(0.15)
        assert len(rec.of("tick")) == count
        assert (await s.store.get_job("tick")).status is JobStatus.DISABLED
        resumed = await s.resume_job("tick")
        assert resumed.status is JobStatus.PENDING
        await until(lambda: len(rec.of("tick")) > count)


async def test_added_paused_job_can_be_resumed_before_start() -> None:
    rec = Recorder()
    s = AsyncScheduler(handler=rec)
    await s.add_job("j", OnceSchedule(datetime.now(UTC)))
    assert (await s.pause_job("j")).status is JobStatus.DISABLED
    await s.start()
    await asyncio.sleep(0.1)
    assert rec.of("j") == []
    assert (await s.store.get_job("j")).status is JobStatus.DISABLED
    await s.resume_job("j")
    await until(lambda: rec.of("j"))
    await s.stop()


async def test_update_job_schedule_takes_effect_at_once() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        await s.add_job("j", IntervalSchedule(timedelta(hours=1)))
        updated = await s.update_job_schedule("j", FAST)
        assert updated.schedule == FAST
        await until(lambda: len(rec.of("j")) >= 2)
        stored = await s.store.get_job("j")
        assert (stored.schedule_type, stored.schedule_config) == ("interval", "20ms")
        with pytest.raises(JobNotFoundError):
            await s.update_job_schedule("missing", FAST)


async def test_remove_job_waits_for_its_run_and_keeps_history() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def handler(event: JobEvent) -> None:
        started.set()
        await release.wait()
        finished.append(event.execution_id)

    async with AsyncScheduler(handler=handler) as s:
        await s.add_job("j", OnceSchedule(datetime.now(UTC)))
        await asyncio.wait_for(started.wait(), 5)
        removal = asyncio.create_task(s.remove_job("j"))
        await asyncio.sleep(0.05)
        assert not removal.done()
        release.set()
        await asyncio.wait_for(removal, 5)
        assert finished
        with pytest.raises(JobNotFoundError):
            await s.get_job("j")
        assert [r.execution_id for r in await records(s, "j")] == finished
        assert await s.store.list_jobs() == []


async def test_removed_job_never_fires_again() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        await s.add_job("j", FAST)
        await until(lambda: rec.of("j"))
        await s.remove_job("j")
        count = len(rec.of("j"))
        await asyncio.sleep(0.1)
        assert len(rec.of("j")) == count


# -- failure handling ------------------------------------------------------------------


@attrs.define
class FlakyStore(MemoryStore):  # type: ignore[misc]
    failures: int = 0

    def __attrs_post_init__(self) -> None:
        MemoryStore.__init__(self)

    async def save_execution(self, record: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("disk on fire")
        await super().save_execution(record)

    async def finish_runs(self, finishes: Any) -> Any:
        if self.failures > 0 and any(f.records for f in finishes):
            self.failures -= 1
            raise OSError("disk on fire")
        return await super().finish_runs(finishes)


async def test_store_error_during_a_run_is_logged_and_job_stays_scheduled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore(failures=2)
    rec = Recorder()
    async with AsyncScheduler(store, rec) as s:
        await s.add_job("j", FAST)
        await until(lambda: len(rec.of("j")) >= 4)
        assert len(await records(s, "j")) >= 2
    assert "disk on fire" in caplog.text


async def test_stop_with_timeout_cancels_coroutine_handlers() -> None:
    started = asyncio.Event()

    async def forever(event: JobEvent) -> None:
        started.set()
        await asyncio.sleep(3600)

    s = AsyncScheduler(handler=forever)
    await s.start()
    await s.add_job("hang", OnceSchedule(datetime.now(UTC)))
    await asyncio.wait_for(started.wait(), 5)
    t0 = time.monotonic()
    await s.stop(timeout=0.2)
    assert time.monotonic() - t0 < 2
    await s.store.initialize()
    history = await s.store.list_executions("hang")
    assert [r.status for r in history] == [JobStatus.FAILED]
    assert history[0].error == "cancelled: the scheduler stopped"
    # The handler was called: the one-off has had its run (failed), and a stop never
    # makes it run a second time (issue 12, item 6; docs/concepts.md, "Stopping").
    stored = await s.store.get_job("hang")
    assert stored.status is JobStatus.FAILED
    assert stored.next_run is None
    await s.store.close()


async def test_stop_with_timeout_leaves_threads_to_finish() -> None:
    gate = threading.Event()
    entered = threading.Event()

    def blocking(event: JobEvent) -> None:
        entered.set()
        gate.wait(5)

    s = AsyncScheduler(handler=blocking)
    await s.start()
    await s.add_job("block", OnceSchedule(datetime.now(UTC)))
    await asyncio.get_running_loop().run_in_executor(None, entered.wait, 5)
    t0 = time.monotonic()
    await s.stop(timeout=0.2)
    assert time.monotonic() - t0 < 2
    gate.set()


async def test_stop_waits_for_running_handlers() -> None:
    done: list[int] = []

    async def slow(event: JobEvent) -> None:
        await asyncio.sleep(0.2)
        done.append(1)

    s = AsyncScheduler(handler=slow)
    await s.start()
    await s.add_job("j", OnceSchedule(datetime.now(UTC)))
    await until(lambda: s._entries["j"].running)
    await s.stop()
    assert done == [1]
    await s.store.initialize()
    assert [r.status for r in await s.store.list_executions("j")] == [JobStatus.COMPLETED]


async def test_history_query_through_the_store() -> None:
    rec = Recorder()
    async with AsyncScheduler(handler=rec) as s:
        await s.add_job("j", FAST)
        await until(lambda: len(rec.of("j")) >= 3)
        newest = await s.run_history("j", QueryOptions(limit=1, sort_desc=True))
        assert len(newest) == 1


async def test_constructor_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="store must be a Store"):
        AsyncScheduler(store=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trigger must be a Trigger"):
        AsyncScheduler(trigger=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="codec"):
        AsyncScheduler(codec="basic")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="handler must be callable"):
        AsyncScheduler(handler="not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_workers"):
        AsyncScheduler(max_workers=0)
    with pytest.raises(TypeError, match="store_options"):
        AsyncScheduler(MemoryStore(), store_options={"x": 1})


async def test_a_hung_sync_handler_does_not_stop_other_jobs() -> None:
    gate = threading.Event()
    runs: list[str] = []

    def handler(event: JobEvent) -> None:
        runs.append(event.id)
        if event.id == "hung":
            gate.wait(10)

    s = AsyncScheduler(handler=handler)
    await s.start()
    await s.add_job("hung", OnceSchedule(datetime.now(UTC)))
    await s.add_job("tick", FAST)
    await until(lambda: runs.count("tick") >= 5)
    assert (await s.get_job("hung")).is_running
    await s.stop(timeout=0.1)
    gate.set()


async def test_remove_job_interrupted_by_stop_raises_scheduler_stopped() -> None:
    from tickwork import SchedulerStoppedError

    started = asyncio.Event()

    async def forever(event: JobEvent) -> None:
        started.set()
        await asyncio.sleep(3600)

    s = AsyncScheduler(handler=forever)
    await s.start()
    await s.add_job("hang", OnceSchedule(datetime.now(UTC)))
    await asyncio.wait_for(started.wait(), 5)
    removal = asyncio.create_task(s.remove_job("hang"))
    await asyncio.sleep(0.05)
    await s.stop(timeout=0.1)
    with pytest.raises(SchedulerStoppedError, match="not removed"):
        await removal
    await s.store.initialize()
    assert (await s.store.get_job("hang")).id == "hang"


async def test_stop_during_a_runs_jitter_keeps_it_due() -> None:
    """A run whose handler was never called (it was still waiting out its jitter) is
    not lost by a stop: the job stays due at its tick for the next start."""
    called: list[JobEvent] = []
    s = AsyncScheduler(handler=called.append)
    await s.start()
    await s.add_job("late", OnceSchedule(datetime.now(UTC)), jitter=timedelta(hours=1))
    await until(lambda: s._entries["late"].running)
    await s.stop(timeout=0.1)
    assert called == []
    await s.store.initialize()
    stored = await s.store.get_job("late")
    assert stored.status is JobStatus.PENDING
    assert stored.next_run is not None
    assert await s.store.list_executions("late") == []
    await s.store.close()
