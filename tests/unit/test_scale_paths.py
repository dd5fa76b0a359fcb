"""The paths that keep tickwork fast at scale: bulk adds, group commit of run writes,
due jobs first at start-up, the handler thread hand-off, and a trigger that is never
early. Each must behave exactly like the plain path it speeds up."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from support.waiting import until, until_sync

from tickwork import (
    AsyncScheduler,
    BatchRunStore,
    BulkStore,
    DueJobsStore,
    EmptyJobIDError,
    ExecutionRecord,
    FinishOutcome,
    IntervalSchedule,
    InvalidIntervalError,
    JobAlreadyExistsError,
    JobData,
    JobDataNotFoundError,
    JobEvent,
    JobStatus,
    LocalTrigger,
    MemoryStore,
    OnceSchedule,
    RunFinish,
    Scheduler,
    StartAtIntervalSchedule,
)
from tickwork.abc import Delivery, Store
from tickwork.testing import BatchRunStoreContract

HOURLY = IntervalSchedule(timedelta(hours=1))


class PlainStore(MemoryStore):
    """A store without the bulk capability (``save_jobs`` hidden)."""

    save_jobs = None  # type: ignore[assignment]


class BatchingStore(MemoryStore):
    """A store with a round trip per write, that can write many runs in one."""

    # A round trip per write: not a store in this process (whose finishes the
    # scheduler does not batch), whatever MemoryStore underneath says.
    in_process = False

    def __init__(self, delay: float = 0.005) -> None:
        super().__init__()
        self.delay = delay
        self.batches: list[tuple[int, int]] = []

    async def save_runs(
        self, records: Sequence[ExecutionRecord], jobs: Sequence[JobData]
    ) -> set[str]:
        await asyncio.sleep(self.delay)
        self.batches.append((len(records), len(jobs)))
        for record in records:
            await self.save_execution(record)
        missing = set()
        for job in jobs:
            try:
                await self.update_job(job)
            except JobDataNotFoundError:
                missing.add(job.id)
        return missing

    async def finish_runs(self, finishes: Sequence[RunFinish]) -> list[FinishOutcome]:
        await asyncio.sleep(self.delay)
        records = sum(len(f.records) for f in finishes)
        self.batches.append((records, sum(f.job is not None for f in finishes)))
        return await super().finish_runs(finishes)


class SlowListStore(MemoryStore):
    """Reading every job takes a while (a large database)."""

    def __init__(self) -> None:
        super().__init__()
        self.listing_done: float | None = None

    async def list_jobs(self) -> list[JobData]:
        await asyncio.sleep(0.3)
        jobs = await super().list_jobs()
        self.listing_done = time.monotonic()
        return jobs


class TestBatchingStore(BatchRunStoreContract):
    persistent = False

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return BatchingStore


def test_capabilities_are_detected() -> None:
    assert isinstance(MemoryStore(), BulkStore)
    assert isinstance(MemoryStore(), DueJobsStore)
    assert not isinstance(MemoryStore(), BatchRunStore)
    assert isinstance(BatchingStore(), BatchRunStore)


# -- add_jobs ----------------------------------------------------------------------------


@pytest.mark.parametrize("store_class", [MemoryStore, PlainStore])
async def test_add_jobs_adds_and_arms_every_job(store_class: type[MemoryStore]) -> None:
    seen: list[str] = []
    store = store_class()
    async with AsyncScheduler(store, lambda e: seen.append(e.id)) as s:
        now = datetime.now(UTC)
        jobs = await s.add_jobs(
            [
                ("a", HOURLY),
                ("b", OnceSchedule(now), {"team": "core"}),
                ("c", HOURLY, None),
            ],
            timeout=timedelta(seconds=30),
        )
        assert [j.id for j in jobs] == ["a", "b", "c"]
        assert jobs[1].metadata == {"team": "core"}
        assert all(j.options.timeout == timedelta(seconds=30) for j in jobs)
        assert [j.id for j in await s.list_jobs()] == ["a", "b", "c"]
        assert [j.id for j in await store.list_jobs()] == ["a", "b", "c"]
        await until(lambda: seen == ["b"])
        assert (await s.get_job("a")).next_run is not None


@pytest.mark.parametrize("store_class", [MemoryStore, PlainStore])
async def test_add_jobs_is_all_or_none(store_class: type[MemoryStore]) -> None:
    store = store_class()
    async with AsyncScheduler(store, lambda e: None) as s:
        await s.add_job("taken", HOURLY)
        with pytest.raises(JobAlreadyExistsError):
            await s.add_jobs([("new", HOURLY), ("taken", HOURLY)])
        with pytest.raises(JobAlreadyExistsError):
            await s.add_jobs([("twice", HOURLY), ("twice", HOURLY)])
        with pytest.raises(EmptyJobIDError):
            await s.add_jobs([("fine", HOURLY), ("", HOURLY)])
        with pytest.raises(InvalidIntervalError):
            await s.add_jobs([("fine", HOURLY), ("none", None)])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            await s.add_jobs([("fine",)])  # type: ignore[list-item]
        assert [j.id for j in await s.list_jobs()] == ["taken"]
        assert [j.id for j in await store.list_jobs()] == ["taken"]


async def test_add_jobs_rolls_back_when_a_plain_store_refuses_one() -> None:
    store = PlainStore()
    await store.initialize()
    async with AsyncScheduler(store, lambda e: None) as s:
        # Another process saved "c" behind the scheduler's back.
        await store.save_job(JobData(id="c", schedule_type="interval", schedule_config="1h0m0s"))
        with pytest.raises(JobAlreadyExistsError):
            await s.add_jobs([("a", HOURLY), ("b", HOURLY), ("c", HOURLY)])
        assert [j.id for j in await store.list_jobs()] == ["c"]


async def test_add_jobs_before_start_are_saved_at_start() -> None:
    store = MemoryStore()
    s = AsyncScheduler(store, lambda e: None)
    await s.add_jobs([("x", HOURLY), ("y", HOURLY)])
    async with s:
        assert [j.id for j in await store.list_jobs()] == ["x", "y"]


def test_add_jobs_has_the_same_signature_on_both_schedulers() -> None:
    blocking = inspect.signature(Scheduler.add_jobs).parameters
    native = inspect.signature(AsyncScheduler.add_jobs).parameters
    assert blocking.keys() == native.keys()
    assert inspect.iscoroutinefunction(AsyncScheduler.add_jobs)
    assert not inspect.iscoroutinefunction(Scheduler.add_jobs)


def test_blocking_add_jobs() -> None:
    seen: list[str] = []
    with Scheduler(handler=lambda e: seen.append(e.id)) as s:
        now = datetime.now(UTC)
        jobs = s.add_jobs(((f"job-{i}", OnceSchedule(now)) for i in range(20)), retry=2)
        assert len(jobs) == 20
        assert jobs[0].options.retry is not None
        until_sync(lambda: len(seen) == 20)


# -- group commit ------------------------------------------------------------------------


async def test_group_commit_batches_the_writes_of_concurrent_runs() -> None:
    store = BatchingStore(delay=0.02)
    seen: list[str] = []
    async with AsyncScheduler(store, lambda e: seen.append(e.id)) as s:
        now = datetime.now(UTC)
        await s.add_jobs([(f"job-{i:02d}", OnceSchedule(now)) for i in range(40)])
        await until(lambda: len(seen) == 40)
        # Every run writes a record and its job; in far fewer round trips than writes.
        await until(lambda: sum(j for _, j in store.batches) == 40)
        assert sum(r for r, _ in store.batches) == 40
        assert len(store.batches) < 40
        for i in range(40):
            job = await store.get_job(f"job-{i:02d}")
            assert job.status == JobStatus.COMPLETED
            assert job.next_run is None
            assert len(await store.list_executions(job.id)) == 1


async def test_group_commit_drains_before_the_store_closes() -> None:
    store = BatchingStore(delay=0.05)
    release = threading.Event()

    def handler(event: JobEvent) -> None:
        release.wait(5)

    s = AsyncScheduler(store, handler)
    await s.start()
    await s.add_job("slow", OnceSchedule(datetime.now(UTC)))
    await until(lambda: s._entries["slow"].running)
    release.set()
    await s.stop()
    await store.initialize()
    assert (await store.get_job("slow")).status == JobStatus.COMPLETED
    assert len(await store.list_executions("slow")) == 1


async def test_group_commit_reports_a_job_deleted_during_its_run() -> None:
    store = BatchingStore()
    started = asyncio.Event()
    go_on = asyncio.Event()

    async def handler(event: JobEvent) -> None:
        started.set()
        await go_on.wait()

    async with AsyncScheduler(store, handler) as s:
        await s.add_job("doomed", IntervalSchedule(timedelta(milliseconds=50)))
        await started.wait()
        await store.delete_job("doomed")  # behind the scheduler's back
        go_on.set()
        await until(lambda: "doomed" not in s._entries)
        assert len(await store.list_executions("doomed")) == 1
        await asyncio.sleep(0.15)
        assert len(await store.list_executions("doomed")) == 1  # not rescheduled


# -- due jobs first ----------------------------------------------------------------------


async def test_due_jobs_run_while_the_rest_is_still_loading() -> None:
    store = SlowListStore()
    await store.initialize()
    now = datetime.now(UTC)
    await store.save_jobs(
        [
            JobData(
                id="overdue",
                schedule_type="interval",
                schedule_config="1h0m0s",
                next_run=now - timedelta(minutes=1),
                last_run=now - timedelta(minutes=61),
            ),
            *(
                JobData(
                    id=f"later-{i}",
                    schedule_type="interval",
                    schedule_config="1h0m0s",
                    next_run=now + timedelta(hours=1, seconds=i),
                )
                for i in range(100)
            ),
        ]
    )
    await store.save_execution(
        ExecutionRecord(
            job_id="overdue",
            execution_id="before",
            start_time=now - timedelta(minutes=61),
            end_time=now - timedelta(minutes=60),
        )
    )
    await store.close()
    ran: list[tuple[float, JobEvent]] = []

    async def handler(event: JobEvent) -> None:
        ran.append((time.monotonic(), event))

    s = AsyncScheduler(store, handler)
    await s.start()
    try:
        assert store.listing_done is not None
        assert ran, "the overdue job should have started while the others loaded"
        assert ran[0][0] < store.listing_done
        assert ran[0][1].last_completed_at == now - timedelta(minutes=60)
        assert len(await s.list_jobs()) == 101
        trigger = s.trigger
        assert isinstance(trigger, LocalTrigger)
        await until(lambda: trigger.armed_count == 101)
    finally:
        await s.stop()


async def test_changes_made_before_start_load_everything_first() -> None:
    store = SlowListStore()
    s = AsyncScheduler(store, lambda e: None)
    await s.add_job("new", OnceSchedule(datetime.now(UTC)))
    assert not s._loads_due_first()
    async with s:
        assert [j.id for j in await s.list_jobs()] == ["new"]


# -- handler threads ---------------------------------------------------------------------


async def test_thread_handlers_report_results_and_errors() -> None:
    def handler(event: JobEvent) -> None:
        if event.id.startswith("bad"):
            raise ValueError(f"{event.id} broke")

    store = MemoryStore()
    async with AsyncScheduler(store, handler) as s:
        now = datetime.now(UTC)
        await s.add_jobs(
            [(f"{kind}-{i:03d}", OnceSchedule(now)) for kind in ("ok", "bad") for i in range(150)]
        )
        # A run's next_run is cleared in memory before its finish is written: a job is
        # done once it is neither due nor still running (finishing included).
        await until(
            lambda: all(j.next_run is None and not j.running for j in s._entries.values()),
            timeout=10,
        )
        for i in range(150):
            ok, bad = (
                await store.list_executions(f"ok-{i:03d}"),
                await store.list_executions(f"bad-{i:03d}"),
            )
            assert [r.status for r in ok] == [JobStatus.COMPLETED]
            assert [r.status for r in bad] == [JobStatus.FAILED]
            assert bad[0].error == f"bad-{i:03d} broke"


async def test_thread_handler_timeout_still_works() -> None:
    release = threading.Event()

    def handler(event: JobEvent) -> None:
        release.wait(5)

    store = MemoryStore()
    async with AsyncScheduler(store, handler) as s:
        await s.add_job("stuck", OnceSchedule(datetime.now(UTC)), timeout=timedelta(seconds=0.1))
        await until(
            lambda: s._entries["stuck"].next_run is None and not s._entries["stuck"].running
        )
        [record] = await store.list_executions("stuck")
        assert record.status.value == "timed_out"
        release.set()


# -- the local trigger is never early ----------------------------------------------------


async def test_local_trigger_never_fires_early() -> None:
    fired: list[tuple[datetime, float]] = []

    def dispatch(delivery: Delivery) -> None:
        fired.append((delivery.scheduled_at, time.time()))

    trigger = LocalTrigger()
    await trigger.start(dispatch)
    base = datetime.now(UTC) + timedelta(milliseconds=30)
    await trigger.arm_many((f"j{i}", base + timedelta(microseconds=300 * i)) for i in range(100))
    await until(lambda: len(fired) == 100)
    await trigger.stop()
    assert all(at >= scheduled.timestamp() for scheduled, at in fired)


async def test_a_grid_job_runs_once_per_tick() -> None:
    ticks: list[datetime] = []

    async def handler(event: JobEvent) -> None:
        ticks.append(event.scheduled_at)

    async with AsyncScheduler(MemoryStore(), handler) as s:
        start = datetime.now(UTC) + timedelta(milliseconds=20)
        await s.add_job("grid", StartAtIntervalSchedule(start, timedelta(milliseconds=7)))
        await asyncio.sleep(0.4)
    assert len(ticks) > 10
    assert len(ticks) == len(set(ticks)), "a tick ran twice"


async def test_a_run_that_starts_before_its_tick_does_not_repeat_it() -> None:
    ticks: list[datetime] = []
    done = asyncio.Event()

    async def handler(event: JobEvent) -> None:
        ticks.append(event.scheduled_at)
        if len(ticks) >= 4:
            done.set()

    class Early(LocalTrigger):
        def _now(self) -> datetime:  # hand out the head at once, however far ahead it is
            return datetime.max.replace(tzinfo=UTC)

        def _reset_timer(self) -> None:
            super()._reset_timer()
            if self._timer is not None and self._loop is not None:
                self._timer.cancel()
                self._timer = self._loop.call_soon(self._fire)

    start = datetime.now(UTC) + timedelta(hours=1)
    async with AsyncScheduler(MemoryStore(), handler, trigger=Early()) as s:
        await s.add_job("grid", StartAtIntervalSchedule(start, timedelta(hours=1)))
        await asyncio.wait_for(done.wait(), 5)
    assert ticks[:4] == [start + timedelta(hours=h) for h in range(4)]


async def test_a_shared_store_loads_overdue_jobs_first_too() -> None:
    """Each due run is claimed in the store however it was loaded, so sharing the
    store is no reason to read every job before the overdue ones start."""
    s = AsyncScheduler(MemoryStore(shared=True), lambda e: None)
    assert s.coordinated
    assert s._loads_due_first()
