"""A change stored by another process as a run ends survives the run's outcome, on
SQLite, PostgreSQL and MariaDB.

The run's outcome is one ``finish_runs`` call, written on condition of the version the
run's claim handed back, inside a real transaction. "Another process" is a second store
(its own connections) that pauses the job just before that finish is written, the
moment a plain write of the outcome would undo the pause.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import attrs
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    FinishOutcome,
    IntervalSchedule,
    JobData,
    JobEvent,
    JobStatus,
    RunFinish,
)
from tickwork_sqlalchemy_store import SQLAlchemyStore


class PausedAsRunEnds(SQLAlchemyStore):
    """The scheduler's store: just before the next finish of ``job_id`` (the write of a
    run's outcome), ``other`` pauses the job."""

    def __init__(self, url: str, other: SQLAlchemyStore) -> None:
        super().__init__(url)
        self.other = other
        self.job_id = ""

    async def finish_runs(self, finishes: Sequence[RunFinish]) -> list[FinishOutcome]:
        if any(f.job is not None and f.job.id == self.job_id for f in finishes):
            stored = await self.other.get_job(self.job_id)
            self.job_id = ""
            paused = attrs.evolve(stored, status=JobStatus.DISABLED, updated_at=datetime.now(UTC))
            await self.other.update_job(paused)
        return await super().finish_runs(finishes)


async def _with_an_outcome(store: SQLAlchemyStore, job_id: str, timeout: float = 10.0) -> JobData:
    """The stored job once a run's outcome (its ``last_run``) is in it, or as it is
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        stored = await store.get_job(job_id)
        if stored.last_run is not None or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.02)


async def test_a_pause_stored_as_a_run_ends_is_kept(database_url: str) -> None:
    other = SQLAlchemyStore(database_url)
    await other.initialize()
    store = PausedAsRunEnds(database_url, other)
    assert store.shared
    runs: list[JobEvent] = []

    async def handler(event: JobEvent) -> None:
        runs.append(event)

    scheduler = AsyncScheduler(store, handler, sync_interval=0.05)
    try:
        await scheduler.start()
        store.job_id = "paused-late"
        await scheduler.add_job("paused-late", IntervalSchedule(timedelta(milliseconds=100)))
        await until(lambda: store.job_id == "" and runs, what="the pause made as the run ended")
        # The merged outcome is a re-read and a second write after the lost one; on a
        # loaded machine that can take longer than a fixed pause.
        stored = await _with_an_outcome(other, "paused-late")
        await asyncio.sleep(0.3)
        assert len(runs) == 1, "the paused job ran again"
        assert stored.status is JobStatus.DISABLED
        assert stored.last_run == runs[0].started_at  # and the run's outcome is stored
        records = await other.list_executions("paused-late")
        assert [r.status for r in records] == [JobStatus.COMPLETED]
    finally:
        if scheduler.is_running:
            await scheduler.stop()
        await other.close()
