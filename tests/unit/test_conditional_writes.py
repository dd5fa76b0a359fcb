"""Changes to a job on a shared store never put back a state another process replaced.

Each test has "another process" write the job at the worst moment: after this
scheduler read it and before it writes its change. The store is a shared
``MemoryStore`` whose read methods make that write, so the interleaving is exact rather
than left to timing. Without conditional writes, the stale copy would be written back:
a one-off job that already ran would become due and run a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    ConditionalUpdateStore,
    ExecutionStatus,
    FinishOutcome,
    IntervalSchedule,
    JobData,
    JobEvent,
    JobStatus,
    MemoryStore,
    OnceSchedule,
    RunFinish,
    StorageOperationError,
)


class Interfering(MemoryStore):
    """A shared memory store where another process writes a job right after we read it.

    ``writes`` counts down: while positive, each read of ``job_id`` (a listing, a
    ``get_job`` or a batched ``get_jobs``) is followed by ``change`` applied to the stored
    job, with a new ``updated_at``, before the read returns. With ``at_finish``, the
    change is made instead just before a run's finish (``finish_runs``) is written: a
    run's outcome is written without a read, on the version its claim handed back.
    """

    def __init__(self) -> None:
        super().__init__(shared=True)
        self.job_id = ""
        self.writes = 0
        self.change: dict[str, object] = {}
        self.at_finish = False

    async def finish_runs(self, finishes: Sequence[RunFinish]) -> list[FinishOutcome]:
        if self.at_finish and any(f.job is not None and f.job.id == self.job_id for f in finishes):
            await self._interfere()
        return await super().finish_runs(finishes)

    async def _interfere(self) -> None:
        if self.writes > 0 and self.job_id in {j.id for j in await super().list_jobs()}:
            self.writes -= 1
            stored = await super().get_job(self.job_id)
            await self.update_job(
                attrs.evolve(stored, updated_at=datetime.now(UTC), **self.change)  # type: ignore[misc]
            )

    async def list_jobs(self) -> list[JobData]:
        listed = await super().list_jobs()
        if not self.at_finish:
            await self._interfere()
        return listed

    async def get_job(self, job_id: str) -> JobData:
        found = await super().get_job(job_id)
        if not self.at_finish:
            await self._interfere()
        return found

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobData]:
        found = await super().get_jobs(job_ids)
        if not self.at_finish:
            await self._interfere()
        return found


def test_the_memory_store_writes_conditionally() -> None:
    assert isinstance(MemoryStore(), ConditionalUpdateStore)


async def _save(store: MemoryStore, job_id: str, schedule: object, **fields: object) -> JobData:
    schedule_type, config = AsyncScheduler(store).codec.encode(schedule)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    data = JobData(
        id=job_id,
        schedule_type=schedule_type,
        schedule_config=config,
        status=JobStatus.PENDING,
        next_run=None,
        last_run=None,
        created_at=now,
        updated_at=now,
        metadata={},
    )
    data = attrs.evolve(data, **fields)  # type: ignore[misc]
    await store.initialize()
    await store.save_job(data)
    return data


@contextlib.asynccontextmanager
async def running(
    store: MemoryStore, runs: list[JobEvent] | None = None
) -> AsyncIterator[AsyncScheduler]:
    """A started scheduler on ``store`` whose handler appends each run to ``runs``;
    stopped on the way out, whatever the test did."""
    recorded = runs if runs is not None else []

    async def handler(event: JobEvent) -> None:
        recorded.append(event)

    scheduler = AsyncScheduler(store, handler, sync_interval=0.05)
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()


async def test_a_job_added_before_start_does_not_bring_back_a_run_done_meanwhile() -> None:
    """The restart race: this process lists the jobs, another one runs the one-off
    job, then this one merges the metadata it was given into its (stale) copy."""
    store = Interfering()
    run_at = datetime.now(UTC) - timedelta(seconds=1)
    await _save(store, "once", OnceSchedule(run_at), next_run=run_at, metadata={"by": "P"})
    ran_elsewhere = datetime.now(UTC)
    store.job_id, store.writes = "once", 1
    store.change = {"status": JobStatus.COMPLETED, "next_run": None, "last_run": ran_elsewhere}

    runs: list[JobEvent] = []

    async def handler(event: JobEvent) -> None:
        runs.append(event)

    scheduler = AsyncScheduler(store, handler, sync_interval=0.05)
    await scheduler.add_job("once", OnceSchedule(run_at), {"by": "Q"})
    await scheduler.start()
    try:
        await asyncio.sleep(0.3)
        assert runs == [], "the one-off job ran a second time"
        stored = await store.get_job("once")
        assert (stored.status, stored.next_run, stored.last_run) == (
            JobStatus.COMPLETED,
            None,
            ran_elsewhere,
        )
        assert stored.metadata["by"] == "Q"  # the change itself was made, on the fresh copy
    finally:
        await scheduler.stop()


async def test_a_pause_does_not_put_back_the_next_run_another_process_moved() -> None:
    store = Interfering()
    async with running(store) as scheduler:
        await scheduler.add_job("hourly", IntervalSchedule(timedelta(hours=1)))
        moved = datetime.now(UTC) + timedelta(hours=2)
        store.job_id, store.writes = "hourly", 1
        store.change = {"next_run": moved, "last_run": datetime.now(UTC)}
        job = await scheduler.pause_job("hourly")
        assert store.writes == 0, "the interfering write did not happen"
        stored = await store.get_job("hourly")
        assert (stored.status, stored.next_run) == (JobStatus.DISABLED, moved)
        assert (job.status, job.next_run) == (JobStatus.DISABLED, moved)


async def test_a_resume_redone_after_a_conflict_records_its_paused_ticks_once() -> None:
    store = Interfering()
    due = datetime.now(UTC) - timedelta(seconds=2.5)  # ticks at due, due+1s, due+2s passed
    await _save(
        store,
        "ticking",
        IntervalSchedule(timedelta(seconds=1)),
        status=JobStatus.DISABLED,
        next_run=due,
        last_run=due - timedelta(seconds=1),
    )
    async with running(store) as scheduler:
        store.job_id, store.writes = "ticking", 1
        store.change = {"metadata": {"touched": "elsewhere"}}
        job = await scheduler.resume_job("ticking")
        assert store.writes == 0, "the interfering write did not happen"
        assert job.status is JobStatus.PENDING
        stored = await store.get_job("ticking")
        assert stored.metadata == {"touched": "elsewhere"}
        paused = [
            r for r in await store.list_executions("ticking") if r.status == ExecutionStatus.PAUSED
        ]
        assert len(paused) == 3, paused


async def test_a_change_that_keeps_losing_fails_and_changes_nothing() -> None:
    store = Interfering()
    async with running(store) as scheduler:
        await scheduler.add_job("busy", IntervalSchedule(timedelta(hours=1)))
        store.job_id, store.writes = "busy", 1_000
        store.change = {"metadata": {"written": "elsewhere"}}
        with pytest.raises(StorageOperationError, match="other processes wrote it"):
            await scheduler.pause_job("busy")
        store.writes = 0
        assert (await store.get_job("busy")).status is not JobStatus.DISABLED


async def test_a_single_scheduler_store_is_written_without_conditions() -> None:
    """Nobody else writes a store that is not shared: its writes stay plain updates."""

    class Counting(MemoryStore):
        conditional = 0

        async def update_job_if(self, job: JobData, updated_at: datetime) -> bool:
            self.conditional += 1
            return await super().update_job_if(job, updated_at)

    store = Counting()
    scheduler = AsyncScheduler(store, lambda event: None)
    await scheduler.start()
    try:
        await scheduler.add_job("solo", IntervalSchedule(timedelta(hours=1)))
        await scheduler.pause_job("solo")
        await scheduler.resume_job("solo")
        assert store.conditional == 0
    finally:
        await scheduler.stop()


async def test_a_pause_stored_as_a_run_ends_is_kept() -> None:
    """Another process pauses the job as the run ends, just before the run's outcome
    is written: the outcome is merged into the pause, not written over it."""
    store = Interfering()
    runs: list[JobEvent] = []
    async with running(store, runs) as scheduler:
        store.job_id, store.writes, store.at_finish = "paused-late", 1, True
        store.change = {"status": JobStatus.DISABLED}
        await scheduler.add_job("paused-late", IntervalSchedule(timedelta(milliseconds=100)))
        await until(lambda: store.writes == 0, what="the pause made as the run ended")
        await asyncio.sleep(0.4)
        assert len(runs) == 1, "the paused job ran again"
        stored = await store.get_job("paused-late")
        assert stored.status is JobStatus.DISABLED
        assert stored.last_run == runs[0].started_at  # the run's outcome is stored too
        assert stored.next_run is not None
        assert stored.next_run > runs[0].started_at


async def test_a_schedule_changed_as_a_run_ends_keeps_its_next_run() -> None:
    store = Interfering()
    runs: list[JobEvent] = []
    async with running(store, runs) as scheduler:
        hourly, new_config = scheduler.codec.encode(IntervalSchedule(timedelta(hours=1)))
        next_of_new = datetime.now(UTC) + timedelta(hours=1)
        store.job_id, store.writes, store.at_finish = "rescheduled", 1, True
        store.change = {
            "schedule_type": hourly,
            "schedule_config": new_config,
            "next_run": next_of_new,
        }
        await scheduler.add_job("rescheduled", IntervalSchedule(timedelta(milliseconds=100)))
        await until(lambda: store.writes == 0, what="the change made as the run ended")
        await asyncio.sleep(0.4)
        assert len(runs) == 1
        stored = await store.get_job("rescheduled")
        assert (stored.schedule_config, stored.next_run) == (new_config, next_of_new)
        assert stored.last_run == runs[0].started_at
        assert stored.status is JobStatus.COMPLETED


async def test_a_change_made_while_stopped_is_made_again_on_the_stored_job() -> None:
    """A scheduler pauses a job while stopped; another process runs the job before this
    one starts again. The start stores the pause on the job as it is now, not the copy
    this scheduler had."""
    store = MemoryStore(shared=True)
    scheduler = AsyncScheduler(store, lambda event: None, sync_interval=0.05)
    await scheduler.start()
    await scheduler.add_job("j", IntervalSchedule(timedelta(hours=1)))
    await scheduler.stop()
    await scheduler.pause_job("j")
    await scheduler.update_job_options("j", max_instances=3)
    assert (await scheduler.get_job("j")).status is JobStatus.DISABLED

    await store.initialize()  # another process ran the job meanwhile
    stored = await store.get_job("j")
    assert stored.next_run is not None
    moved, ran = stored.next_run + timedelta(hours=5), datetime.now(UTC)
    await store.update_job(attrs.evolve(stored, next_run=moved, last_run=ran, updated_at=ran))

    await scheduler.start()
    try:
        stored = await store.get_job("j")
        assert (stored.status, stored.next_run, stored.last_run) == (
            JobStatus.DISABLED,
            moved,
            ran,
        )
        assert (await scheduler.get_job("j")).options.max_instances == 3
    finally:
        await scheduler.stop()


async def test_changes_made_while_stopped_are_kept_on_a_store_of_its_own() -> None:
    store = MemoryStore()
    scheduler = AsyncScheduler(store, lambda event: None)
    await scheduler.start()
    await scheduler.add_job("j", IntervalSchedule(timedelta(hours=1)))
    await scheduler.stop()
    await scheduler.pause_job("j")
    await scheduler.start()
    try:
        assert (await store.get_job("j")).status is JobStatus.DISABLED
    finally:
        await scheduler.stop()
