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
    JobData,
    JobQuery,
    JobStatus,
    ScheduleCodec,
    StoreQueries,
    TickworkError,
    available_plugins,
    default_codec,
)
from tickwork._plugins import (
    DEFAULT_PLUGINS,
    get_registry,
    plugin_distributions,
    plugin_errors,
    unknown_selected_plugins,
)
from tickwork._policy import options_from_metadata, user_metadata

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
]

TASK_KEY = "tickwork.task"
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


def quarantine_reason(job: JobData, codec: ScheduleCodec) -> str | None:
    """Why the job cannot run here (unreadable row, undecodable schedule), or None."""
    if job.unreadable is not None:
        return f"its stored row cannot be read: {job.unreadable}"
    try:
        codec.decode(job.schedule_type, job.schedule_config)
    except TickworkError as exc:
        return str(exc)
    return None


def job_view(
    job: JobData, codec: ScheduleCodec, recent: Sequence[ExecutionRecord] = ()
) -> dict[str, Any]:
    """A job's row: its state, why it is quarantined, its recent runs' lateness."""
    last = recent[0] if recent else None
    return {
        "id": job.id,
        "status": job.status.value,
        "task": job.metadata.get(TASK_KEY),
        "schedule_type": job.schedule_type,
        "schedule_config": job.schedule_config,
        "next_run": job.next_run,
        "last_run": job.last_run,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "quarantined": quarantine_reason(job, codec),
        "unreadable": job.unreadable,
        "metadata": user_metadata(job.metadata),
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
    codec = default_codec()
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
            job_view(job, codec)
            for job in upcoming.jobs
            if job.next_run is not None
            and job.status is not JobStatus.DISABLED
            and quarantine_reason(job, codec) is None
        ],
    }


async def _quarantined(queries: StoreQueries, total: int) -> tuple[list[dict[str, Any]], bool]:
    """The quarantined jobs among the first :data:`QUARANTINE_SCAN`, read a page at a
    time; whether that was every job. Jobs share few distinct schedules, so each
    schedule is decoded once."""
    codec = default_codec()
    verdicts: dict[tuple[str, str], str | None] = {}
    found: list[dict[str, Any]] = []
    offset, step = 0, 1000
    while offset < min(total, QUARANTINE_SCAN):
        page = await queries.query_jobs(JobQuery(limit=step, offset=offset))
        for job in page.jobs:
            key = (job.schedule_type, job.schedule_config)
            if job.unreadable is not None:
                reason = quarantine_reason(job, codec)
            else:
                if key not in verdicts:
                    verdicts[key] = quarantine_reason(job, codec)
                reason = verdicts[key]
            if reason is not None:
                found.append({"id": job.id, "status": job.status.value, "reason": reason})
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
    codec = default_codec()
    return {
        "jobs": [job_view(job, codec, recent.get(job.id, ())) for job in page.jobs],
        "total": page.total,
        "limit": query.limit,
        "offset": query.offset,
    }


async def job_detail(
    queries: StoreQueries, job: JobData, history: ExecutionQuery, timeline: int = 120
) -> dict[str, Any]:
    """One job: its state, schedule in words and next runs, run policies, tick log
    timeline (the ``timeline`` latest records) and one page of its history."""
    codec = default_codec()
    view = job_view(job, codec)
    view["schedule"] = None
    view["next_runs"] = []
    if view["quarantined"] is None:
        schedule = codec.decode(job.schedule_type, job.schedule_config)
        view["schedule"] = describe(schedule)
        view["next_runs"] = next_runs(schedule, 10)
    view["options"] = _options(job)
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


def _options(job: JobData) -> dict[str, Any]:
    """The job's run policies as plain values (seconds for durations)."""
    try:
        options = options_from_metadata(job.metadata)
    except TickworkError as exc:
        return {"error": str(exc)}

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
    registry = get_registry()
    dists = plugin_distributions()
    rows: list[dict[str, Any]] = []

    def add(kind: str, name: str, plugin: str, details: str = "") -> None:
        distribution, version = dists.get(plugin, ("?", "?"))
        shown = "(built-in)" if plugin in DEFAULT_PLUGINS else plugin
        rows.append(
            {
                "kind": kind,
                "name": name,
                "plugin": shown,
                "distribution": distribution,
                "version": version,
                "details": details,
            }
        )

    for s in registry.stores.values():
        add("store", s.name, s.plugin, ", ".join(s.url_schemes))
    for t in registry.triggers.values():
        add("trigger", t.name, t.plugin)
    for c in registry.codecs.values():
        add("codec", c.schedule_type, c.plugin, c.schedule_class.__name__)
    for e in registry.executors.values():
        add("executor", e.name, e.plugin)
    for i in registry.instruments.values():
        add("instrument", i.name, i.plugin)
    for m in registry.commands.values():
        add("command", m.name, m.plugin, m.command.help)
    failed = [{"plugin": name, "error": error} for name, error in plugin_errors().items()]
    failed += [
        {"plugin": name, "error": "named in TICKWORK_PLUGINS, but no installed plugin has it"}
        for name in unknown_selected_plugins()
    ]
    counts = {kind: len(names) for kind, names in available_plugins().items()}
    return {"registered": rows, "failed": failed, "counts": counts}
