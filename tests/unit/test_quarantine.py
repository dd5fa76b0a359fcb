"""Jobs the scheduler cannot use are quarantined one by one, never block anything, and
are logged once with a reason that says what is wrong.

Real rows damaged on every real store are in the store tests
(``tests/integration/sqlalchemy/test_sql_unreadable_rows.py``,
``tests/integration/nats/test_nats_unreadable_documents.py``); here a memory store hands
the scheduler the stand-in a store returns for such a row.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    InvalidJobDataError,
    JobData,
    JobEvent,
    JobStatus,
    MemoryStore,
)

UNREADABLE = JobData.unreadable_row("broken", "status: 'weird' is not a job status")


class WithABadRow(MemoryStore):
    """A shared memory store that also holds one row it cannot read."""

    def __init__(self) -> None:
        super().__init__(shared=True)
        self.bad: list[JobData] = []

    async def list_jobs(self) -> list[JobData]:
        return sorted([*await super().list_jobs(), *self.bad], key=lambda j: j.id)

    async def list_jobs_changed_since(self, since: datetime) -> list[JobData]:
        return [*await super().list_jobs_changed_since(since), *self.bad]

    async def list_due_jobs(self, until: datetime) -> list[JobData]:
        return [*self.bad, *await super().list_due_jobs(until)]

    async def get_jobs(self, job_ids: object) -> dict[str, JobData]:
        found = await super().get_jobs(job_ids)  # type: ignore[arg-type]
        found.update({j.id: j for j in self.bad if j.id in job_ids})  # type: ignore[operator]
        return found

    async def delete_job(self, job_id: str) -> None:
        if any(j.id == job_id for j in self.bad):
            self.bad = [j for j in self.bad if j.id != job_id]
            return
        await super().delete_job(job_id)


async def _stored(store: MemoryStore, job_id: str, schedule_type: str, config: str) -> None:
    now = datetime.now(UTC)
    await store.save_job(
        JobData(
            id=job_id,
            schedule_type=schedule_type,
            schedule_config=config,
            next_run=now,
            created_at=now,
            updated_at=now,
        )
    )


async def test_a_start_beside_bad_rows_runs_the_others_and_lists_every_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = WithABadRow()
    store.bad = [UNREADABLE]
    await store.initialize()
    await _stored(store, "bad-cron", "cron", "61 * * * *")
    await _stored(store, "bad-zone", "cron", "0 9 * * *;Mars/Base")
    await _stored(store, "bad-interval", "interval", "banana")
    await _stored(store, "no-plugin", "rrule-nowhere", "FREQ=DAILY")
    runs: list[JobEvent] = []
    async with AsyncScheduler(store, runs.append, sync_interval=0.05) as scheduler:
        await scheduler.add_job("good", IntervalSchedule(timedelta(milliseconds=50)))
        await until(lambda: len(runs) >= 2)
        jobs = {job.id: job for job in await scheduler.list_jobs()}
    assert {e.id for e in runs} == {"good"}
    reasons = {job_id: jobs[job_id].quarantined or "" for job_id in jobs if job_id != "good"}
    assert "status: 'weird'" in reasons["broken"]
    assert "no codec" in reasons["no-plugin"]
    for job_id in ("bad-cron", "bad-zone", "bad-interval"):
        assert "no codec" not in reasons[job_id], reasons[job_id]
    assert "61" in reasons["bad-cron"]
    assert "Mars/Base" in reasons["bad-zone"]
    assert "banana" in reasons["bad-interval"]
    quarantine_logs = [r for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(quarantine_logs) == 1, "each quarantined job is logged once, not per poll"
    assert "status: 'weird'" in quarantine_logs[0].getMessage()


async def test_a_bad_row_found_by_the_change_poll_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = WithABadRow()
    runs: list[JobEvent] = []
    async with AsyncScheduler(store, runs.append, sync_interval=0.02) as scheduler:
        await scheduler.add_job("good", IntervalSchedule(timedelta(milliseconds=50)))
        late = JobData.unreadable_row("late", "metadata: 'not json{' is not a JSON object")
        late.updated_at = datetime.now(UTC)
        store.bad = [late]
        await until(lambda: "late" in scheduler._entries)
        count = len(runs)
        await until(lambda: len(runs) >= count + 3, what="the other job to go on running")
    logged = [r for r in caplog.records if "'late'" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].levelno == logging.ERROR
    assert "not a JSON object" in logged[0].getMessage()


async def test_an_unreadable_job_is_refused_changes_but_can_be_removed() -> None:
    store = WithABadRow()
    store.bad = [UNREADABLE]
    async with AsyncScheduler(store, lambda e: None) as scheduler:
        for change in (scheduler.pause_job, scheduler.resume_job, scheduler.run_job_now):
            with pytest.raises(InvalidJobDataError, match="cannot be read from the store"):
                await change("broken")
        with pytest.raises(InvalidJobDataError, match="broken"):
            await scheduler.update_job_options("broken", timeout=timedelta(seconds=1))
        await scheduler.remove_job("broken")
        assert [j.id for j in await scheduler.list_jobs()] == []


async def test_a_pending_job_without_a_next_run_is_reported_not_silently_idle() -> None:
    store = MemoryStore()
    await store.initialize()
    now = datetime.now(UTC)
    await store.save_job(
        JobData(
            id="stuck",
            schedule_type="interval",
            schedule_config="1m",
            status=JobStatus.PENDING,
            next_run=None,
            last_run=now - timedelta(minutes=3),
            created_at=now,
            updated_at=now,
        )
    )
    async with AsyncScheduler(store, lambda e: None) as scheduler:
        job = await scheduler.get_job("stuck")
        assert job.quarantined is not None
        assert "next_run: missing" in job.quarantined
        fixed = await scheduler.update_job_schedule("stuck", IntervalSchedule(timedelta(hours=1)))
        assert fixed.quarantined is None
        assert fixed.next_run is not None
