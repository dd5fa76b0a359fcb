"""A realistic store for the screenshots: the jobs of a small company's back office.

``support.web_app.seed_store`` is made to test edge cases (hostile ids, one of
everything). The pictures in the docs should instead look like what an operator sees
on a normal day: a dozen jobs on cron, interval and one-off schedules, tasks named in
their metadata, a few hours of history where most runs complete a little late, a flaky
job that fails now and then, a paused job, a job whose runs were missed while it was
paused, and one quarantined job whose schedule type no installed plugin knows.
Everything is derived from ``now`` and a fixed seed, so two runs draw the same pages.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from tickwork import (
    CronSchedule,
    ExecutionRecord,
    ExecutionStatus,
    IntervalSchedule,
    JobData,
    JobStatus,
    OnceSchedule,
    default_codec,
)
from tickwork.abc import Store

__all__ = ["SHOWCASE_JOB", "Showcase", "seed_showcase"]

#: The job the one-job screenshot shows: frequent, a little late, a failure or two.
SHOWCASE_JOB = "crm.sync-contacts"


@attrs.frozen
class Showcase:
    """What :func:`seed_showcase` stored."""

    job_ids: tuple[str, ...]
    records: int
    now: datetime


@attrs.frozen
class _Plan:
    """One job of the showcase and how its history goes."""

    job_id: str
    schedule: Any
    task: str
    every: timedelta  # spacing of its past runs (for cron jobs: roughly)
    runs: int  # past runs to record
    fail_rate: float = 0.0
    late_ms: int = 40  # typical lateness
    status: JobStatus = JobStatus.COMPLETED
    error: str = "TimeoutError: the upstream did not answer within 30 s"
    extra: dict[str, str] = attrs.field(factory=dict)


def _plans() -> list[_Plan]:
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    return [
        _Plan(
            SHOWCASE_JOB,
            IntervalSchedule(15 * minute),
            "crm.sync:pull_contacts",
            15 * minute,
            40,
            fail_rate=0.08,
            late_ms=60,
            error="HTTPError: 502 Bad Gateway from the CRM API (attempt 3 of 3)",
            extra={"team": "sales-ops", "owner": "dana@example.com"},
        ),
        _Plan(
            "billing.invoice-run",
            CronSchedule("0 2 * * *", "Europe/Berlin"),
            "billing.tasks:issue_invoices",
            24 * hour,
            14,
            late_ms=25,
            extra={"team": "finance"},
        ),
        _Plan(
            "cache.warm-homepage",
            IntervalSchedule(5 * minute),
            "web.cache:warm",
            5 * minute,
            36,
            late_ms=15,
        ),
        _Plan(
            "reports.weekly-digest",
            CronSchedule("0 8 * * MON", "Europe/Paris"),
            "reports.digest:send",
            7 * 24 * hour,
            6,
            extra={"team": "analytics"},
        ),
        _Plan(
            "search.reindex-products",
            IntervalSchedule(6 * hour),
            "search.index:rebuild",
            6 * hour,
            12,
            late_ms=300,
        ),
        _Plan(
            "emails.bounce-cleanup",
            CronSchedule("*/30 * * * *"),
            "mail.bounces:purge",
            30 * minute,
            16,
            fail_rate=0.35,
            status=JobStatus.FAILED,
            error="smtplib.SMTPServerDisconnected: Connection unexpectedly closed",
        ),
        _Plan(
            "backups.postgres-snapshot",
            CronSchedule("30 3 * * *"),
            "ops.backup:snapshot",
            24 * hour,
            10,
            status=JobStatus.DISABLED,
            extra={"paused_by": "ops on-call", "reason": "storage migration"},
        ),
        _Plan(
            "metrics.rollup-hourly",
            CronSchedule("5 * * * *"),
            "metrics.rollup:hourly",
            hour,
            24,
            late_ms=80,
        ),
        _Plan(
            "ml.retrain-recommender",
            OnceSchedule(datetime(2030, 1, 6, 4, 0, tzinfo=UTC)),
            "ml.train:recommender",
            hour,
            0,
            status=JobStatus.PENDING,
        ),
    ]


def _history(plan: _Plan, now: datetime, rng: random.Random) -> list[ExecutionRecord]:
    """``plan.runs`` records back from ``now``, newest first in time."""
    records = []
    for n in range(plan.runs):
        scheduled = (now - plan.every * (n + 1)).replace(microsecond=0)
        late = timedelta(milliseconds=max(1, rng.gauss(plan.late_ms, plan.late_ms / 3)))
        start = scheduled + late
        took = timedelta(milliseconds=rng.randint(200, 4000))
        status: Any = JobStatus.COMPLETED
        error = None
        if plan.status is JobStatus.DISABLED and n < 3:
            status, took = ExecutionStatus.PAUSED, timedelta(0)
        elif n == 7 and plan.job_id == SHOWCASE_JOB:
            status, took = ExecutionStatus.MISSED, timedelta(0)
        elif rng.random() < plan.fail_rate or (n == 0 and plan.status is JobStatus.FAILED):
            status, error = JobStatus.FAILED, plan.error
        records.append(
            ExecutionRecord(
                job_id=plan.job_id,
                execution_id=f"{plan.job_id}-{int(scheduled.timestamp())}",
                start_time=start,
                end_time=start + took,
                duration=took,
                status=status,
                error=error,
                metadata={"scheduled_at": scheduled.isoformat(), "worker": "app-1"},
            )
        )
    return records


def _job(plan: _Plan, now: datetime, history: list[ExecutionRecord]) -> JobData:
    schedule_type, config = default_codec().encode(plan.schedule)
    last = history[0].start_time if history else None
    return JobData(
        id=plan.job_id,
        schedule_type=schedule_type,
        schedule_config=config,
        status=plan.status,
        next_run=None if plan.status is JobStatus.DISABLED else plan.schedule.next(now),
        last_run=last,
        created_at=now - timedelta(days=30),
        updated_at=now - timedelta(hours=2),
        metadata={"tickwork.task": plan.task, **plan.extra},
    )


def _quarantined(now: datetime) -> JobData:
    """A job stored by a process that had a schedule plugin this one lacks."""
    return JobData(
        id="legacy.ftp-import",
        schedule_type="business_days",
        schedule_config='{"at": "06:00", "calendar": "DE-BY"}',
        next_run=now + timedelta(hours=5),
        created_at=now - timedelta(days=90),
        updated_at=now - timedelta(days=3),
        metadata={"tickwork.task": "legacy.ftp:import_orders"},
    )


async def seed_showcase(store: Store, *, now: datetime | None = None) -> Showcase:
    """Write the showcase jobs and their histories to ``store`` (opened by the caller)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(17)
    ids: list[str] = []
    count = 0
    for plan in _plans():
        history = _history(plan, now, rng)
        await store.save_job(_job(plan, now, history))
        for record in history:
            await store.save_execution(record)
        ids.append(plan.job_id)
        count += len(history)
    quarantined = _quarantined(now)
    await store.save_job(quarantined)
    ids.append(quarantined.id)
    return Showcase(job_ids=tuple(ids), records=count, now=now)
