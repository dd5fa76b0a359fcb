"""What each page shows, as plain data: the pages render it, the API sends it as JSON.

Every listing is one :class:`tickwork.StoreQueries` call for one page (a store that
declares :class:`tickwork.abc.QueryableStore` filters, sorts and pages in its own
query language). The only scan is the overview's search for quarantined jobs, which
no query can select; it reads pages of jobs up to :data:`QUARANTINE_SCAN` and says
when it stopped short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tickwork import (
    ExecutionQuery,
    ExecutionRecord,
    ExecutionStatus,
    InvalidJobDataError,
    Job,
    JobData,
    JobOptions,
    JobQuery,
    JobStatus,
    StoreQueries,
    available_plugins,
    job_from_data,
    jobs_from_data,
    plugin_report,
)

from ._schedule_text import describe, next_runs

__all__ = [
    "LATE_AFTER",
    "QUARANTINE_SCAN",
    "job_detail",
    "job_list",
    "lateness",
    "overview",
    "plugins_view",
    "record_list",
    "record_view",
    "stored_options",
]

#: A run that started this much after its tick counts as late on the overview.
LATE_AFTER = timedelta(seconds=1)
#: The most jobs the overview reads looking for quarantined ones.
QUARANTINE_SCAN = 10_000
#: How many recent runs each row of the jobs page charts.
CHART_RUNS = 20
FAILED = (JobStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value)


def lateness(record: ExecutionRecord) -> float | None:
    """Seconds between the run's tick (``metadata["scheduled_at"]``) and its start."""
    scheduled = record.metadata.get("scheduled_at")
    if not scheduled:
        return None
    try:
        tick = datetime.fromisoformat(scheduled)
    except ValueError:
        return None
    if tick.tzinfo is None:
        return None
    return (record.start_time - tick).total_seconds()


def record_view(record: ExecutionRecord) -> dict[str, Any]:
    return {
        "job_id": record.job_id,
        "execution_id": record.execution_id,
        "status": str(record.status),
        "start_time": record.start_time,
        "end_time": record.end_time,
        "duration": record.duration.total_seconds(),
        "error": record.error,
        "scheduled_at": record.metadata.get("scheduled_at"),
        "lateness": lateness(record),
        "manual": record.metadata.get("manual") == "true",
        "metadata": dict(record.metadata),
    }


def stored_options(data: JobData) -> JobOptions:
    """The run policies a stored job has, to change some of them.

    :raises InvalidJobDataError: the job is quarantined (its policies, or its schedule,
        cannot be read here), so it has none to start from; as a scheduler, the
        dashboard does not rewrite such a job.
    """
    job = job_from_data(data)
    if job.quarantined is not None:
        raise InvalidJobDataError(f"job {data.id!r} is quarantined: {job.quarantined}")
    return job.options


def job_view(data: JobData, job: Job, recent: Sequence[ExecutionRecord] = ()) -> dict[str, Any]:
    """A job's row (``data``, as stored; ``job``, as the scheduler reads it): its
    state, why it is quarantined, its recent runs' lateness."""
    last = recent[0] if recent else None
    return {
        "id": data.id,
        "status": data.status.value,
        "task": job.task,
        "schedule_type": data.schedule_type,
        "schedule_config": data.schedule_config,
        "next_run": data.next_run,
        "last_run": data.last_run,
        "created_at": data.created_at,
        "updated_at": data.updated_at,
        "quarantined": job.quarantined,
        "unreadable": data.unreadable,
        "metadata": job.metadata,
        "last_outcome": None if last is None else str(last.status),
        "last_error": None if last is None else last.error,
        # Oldest first, so a chart reads left to right.
        "lateness": [lateness(r) for r in reversed(recent)],
        "recent_statuses": [str(r.status) for r in reversed(recent)],
    }


async def overview(queries: StoreQueries, now: datetime) -> dict[str, Any]:
    """Jobs by status, the last hour's runs by outcome, the latest failures and late
    runs, and the quarantined jobs."""
    by_status: dict[str, int] = {}
    for status in JobStatus:
        by_status[status.value] = (await queries.query_jobs(JobQuery(status=status, limit=0))).total
    total = (await queries.query_jobs(JobQuery(limit=0))).total
    last_hour = dict(await queries.count_executions_by_status(now - timedelta(hours=1)))
    failures: list[ExecutionRecord] = []
    for outcome in FAILED:
        failures += (
            await queries.query_executions(ExecutionQuery(status=outcome, limit=10))
        ).records
    failures.sort(key=lambda r: (r.start_time, r.execution_id), reverse=True)
    missed = await queries.query_executions(ExecutionQuery(status="missed", limit=10))
    recent = await queries.query_executions(ExecutionQuery(limit=200))
    late = [r for r in recent.records if (lateness(r) or 0) >= LATE_AFTER.total_seconds()]
    quarantined, scanned_all = await _quarantined(queries, total)
    upcoming = await queries.query_jobs(JobQuery(sort_by="next_run", limit=8))
    shown = zip(upcoming.jobs, jobs_from_data(upcoming.jobs), strict=True)
    return {
        "jobs_total": total,
        "jobs_by_status": by_status,
        "runs_last_hour": last_hour,
        "runs_last_hour_total": sum(last_hour.values()),
        "latest_failures": [record_view(r) for r in failures[:10]],
        "late_runs": [record_view(r) for r in late[:10]],
        "missed_runs": [record_view(r) for r in missed.records],
        "quarantined": quarantined,
        "quarantine_scan_complete": scanned_all,
        "next_runs": [
            job_view(data, job)
            for data, job in shown
            if data.next_run is not None
            and data.status is not JobStatus.DISABLED
            and job.quarantined is None
        ],
    }


async def _quarantined(queries: StoreQueries, total: int) -> tuple[list[dict[str, Any]], bool]:
    """The quarantined jobs among the first :data:`QUARANTINE_SCAN`, read a page at a
    time; whether that was every job. Jobs share few distinct schedules, and the jobs
    of one page on the same schedule share its decoding."""
    found: list[dict[str, Any]] = []
    offset, step = 0, 1000
    while offset < min(total, QUARANTINE_SCAN):
        page = await queries.query_jobs(JobQuery(limit=step, offset=offset))
        for data, job in zip(page.jobs, jobs_from_data(page.jobs), strict=True):
            if job.quarantined is not None:
                found.append(
                    {"id": data.id, "status": data.status.value, "reason": job.quarantined}
                )
        if len(page.jobs) < step:
            break
        offset += step
    return found, total <= QUARANTINE_SCAN


async def record_list(queries: StoreQueries, query: ExecutionQuery) -> dict[str, Any]:
    """One page of execution records (of one job or of all)."""
    page = await queries.query_executions(query)
    return {
        "records": [record_view(r) for r in page.records],
        "total": page.total,
        "limit": query.limit,
        "offset": query.offset,
    }


async def job_list(queries: StoreQueries, query: JobQuery) -> dict[str, Any]:
    """One page of jobs, each with its last outcome and recent lateness."""
    page = await queries.query_jobs(query)
    ids = [job.id for job in page.jobs]
    recent: Mapping[str, Sequence[ExecutionRecord]] = (
        await queries.latest_executions(ids, CHART_RUNS) if ids else {}
    )
    jobs = zip(page.jobs, jobs_from_data(page.jobs), strict=True)
    return {
        "jobs": [job_view(data, job, recent.get(data.id, ())) for data, job in jobs],
        "total": page.total,
        "limit": query.limit,
        "offset": query.offset,
    }


async def job_detail(
    queries: StoreQueries, job: JobData, history: ExecutionQuery, timeline: int = 120
) -> dict[str, Any]:
    """One job: its state, schedule in words and next runs, run policies, tick log
    timeline (the ``timeline`` latest records) and one page of its history."""
    decoded = job_from_data(job)
    view = job_view(job, decoded)
    view["schedule"] = None
    view["next_runs"] = []
    if decoded.quarantined is None:
        view["schedule"] = describe(decoded.schedule)
        view["next_runs"] = next_runs(decoded.schedule, 10)
    view["options"] = _options(decoded)
    ticks = await queries.query_executions(ExecutionQuery(job_id=job.id, limit=timeline))
    view["timeline"] = [record_view(r) for r in reversed(ticks.records)]
    page = await queries.query_executions(history)
    view["history"] = {
        "records": [record_view(r) for r in page.records],
        "total": page.total,
        "limit": history.limit,
        "offset": history.offset,
    }
    return view


def _options(job: Job) -> dict[str, Any]:
    """The job's run policies as plain values (seconds for durations); none for a
    quarantined job, which the scheduler does not run (so has no policies for)."""
    if job.quarantined is not None:
        return {"error": "the job is quarantined; its policies apply once it runs here"}
    options = job.options

    def seconds(value: timedelta | None) -> float | None:
        return None if value is None else value.total_seconds()

    return {
        "misfire_grace_time": seconds(options.misfire_grace_time),
        "catch_up": options.catch_up.value,
        "max_catch_up": options.max_catch_up,
        "overlap": options.overlap.value,
        "max_instances": options.max_instances,
        "timeout": seconds(options.timeout),
        "retry": None if options.retry is None else options.retry.max_attempts,
        "jitter": seconds(options.jitter),
    }


def plugins_view() -> dict[str, Any]:
    """What is registered, by kind, with where it came from; what failed to load."""
    report = plugin_report()
    rows = [
        {
            "kind": r.kind,
            "name": r.name,
            "plugin": "(built-in)" if r.built_in else r.plugin,
            "distribution": r.distribution or "?",
            "version": r.version or "?",
            "details": r.details,
        }
        for r in report.registrations
    ]
    failed = [{"plugin": f.plugin, "error": f.error} for f in report.failed]
    failed += [
        {"plugin": name, "error": "named in TICKWORK_PLUGINS, but no installed plugin has it"}
        for name in report.unknown
    ]
    counts = {kind: len(names) for kind, names in available_plugins().items()}
    return {"registered": rows, "failed": failed, "counts": counts}
