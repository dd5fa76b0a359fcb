"""W2: 10,000 one-off jobs due at the same instant: how fast does the backlog start?

Every job is added before the due instant (the instant is chosen far enough ahead for the
slower library to add them all; a run where adding overran it is flagged). The figure is
the time from the due instant to the start of the last handler, measured inside the
handlers. Both libraries keep their default settings: APScheduler's
``misfire_grace_time`` of 1 s drops every run that could not start within a second of
its time, and those runs are counted as dropped.

W2-pg, W2-mariadb and W2-nats run it on the servers (``benchmarks/backends.py``; the
jobs are added with one ``add_jobs`` call, so in one ``save_jobs`` where the store has
it), W2-nats-trig1/3 with the NATS trigger (``benchmarks/nats_trigger.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from ._common import aps_jobstores, count_tickwork_records, has_bulk_add, tickwork_store, utc
from ._harness import RECORDS_SAVED, Figures, Metric, Params, Workload


def params(scale: float, duration: float | None) -> Params:
    return {"jobs": max(1, round(10_000 * scale))}


METRICS = (
    Metric("last_start_s", "due → last handler start", "s", target=0.35, digits=3),
    Metric("first_start_ms", "due → first handler start", "ms"),
    Metric("starts_per_s", "handler starts per second", "/s", better="higher", target=30_000),
    Metric("dropped", "runs dropped", "", target=0, digits=0),
    RECORDS_SAVED,
)

WORKLOAD = Workload(
    id="W2",
    title="one-off jobs due at the same instant",
    module="w2_burst",
    metrics=METRICS,
    params=params,
    timeout=180.0,
    notes="10,000 jobs; default settings on both sides.",
)


# Seconds per job to allow for adding before the due instant, per store: enough for the
# slower side (APScheduler's SQL job store inserts and commits one job at a time).
ADD_ALLOWANCE = {"memory": 0.0004, "postgresql": 0.002, "mariadb": 0.004, "nats": 0.002}


def _due(jobs: int, store: str = "memory") -> float:
    return time.time() + 0.5 + jobs * ADD_ALLOWANCE[store]


def _wait(done: Any, deadline: float) -> None:
    while not done() and time.time() < deadline:
        time.sleep(0.01)


def _figures(starts: list[float], due: float, jobs: int, added_at: float) -> Figures:
    last = max(starts) - due if starts else float("nan")
    return {
        "last_start_s": last,
        "first_start_ms": (min(starts) - due) * 1000 if starts else float("nan"),
        "starts_per_s": len(starts) / last if starts and last > 0 else float("nan"),
        "dropped": jobs - len(starts),
        "added_before_due": added_at < due,
    }


def _tickwork_jobs(jobs: int, due: float) -> list[tuple[str, Any]]:
    from tickwork import OnceSchedule

    when = utc(due)
    return [(f"job-{i:05d}", OnceSchedule(run_at=when)) for i in range(jobs)]


def run_tickwork(case: str, p: Params) -> Figures:
    """The blocking ``tickwork.Scheduler`` with a plain handler (run in its thread pool)."""
    import tickwork

    jobs = p["jobs"]
    starts: list[float] = []

    def handler(event: tickwork.JobEvent) -> None:
        starts.append(time.time())

    store = tickwork_store(p)
    scheduler = tickwork.Scheduler(store, handler)
    scheduler.start()
    due = _due(jobs, p.get("store", "memory"))
    planned = _tickwork_jobs(jobs, due)
    if has_bulk_add(scheduler):
        scheduler.add_jobs(planned)
    else:
        for job_id, schedule in planned:
            scheduler.add_job(job_id, schedule)
    added_at = time.time()
    _wait(lambda: len(starts) >= jobs, due + 30 + jobs * 0.002)
    scheduler.stop()
    figures = _figures(starts, due, jobs, added_at)
    records = asyncio.run(count_tickwork_records(store, [j for j, _ in planned]))
    figures["records_pct"] = 100.0 * records / jobs
    return figures


def run_tickwork_async(case: str, p: Params) -> Figures:
    """``AsyncScheduler`` with a coroutine handler, awaited on the event loop."""
    import tickwork

    async def main() -> Figures:
        jobs = p["jobs"]
        starts: list[float] = []
        all_started = asyncio.Event()

        async def handler(event: tickwork.JobEvent) -> None:
            starts.append(time.time())
            if len(starts) == jobs:
                all_started.set()

        store = tickwork_store(p)
        scheduler = tickwork.AsyncScheduler(store, handler)
        await scheduler.start()
        due = _due(jobs, p.get("store", "memory"))
        planned = _tickwork_jobs(jobs, due)
        if has_bulk_add(scheduler):
            await scheduler.add_jobs(planned)
        else:
            for job_id, schedule in planned:
                await scheduler.add_job(job_id, schedule)
        added_at = time.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_started.wait(), due + 30 + jobs * 0.002 - time.time())
        await scheduler.stop()
        figures = _figures(starts, due, jobs, added_at)
        records = await count_tickwork_records(store, [j for j, _ in planned])
        figures["records_pct"] = 100.0 * records / jobs
        return figures

    return asyncio.run(main())


_APS_STARTS: list[float] = []


def aps_noop() -> None:
    _APS_STARTS.append(time.time())


def run_apscheduler(case: str, p: Params) -> Figures:
    """``BackgroundScheduler``, default executor and job defaults; memory job store, or
    its ``SQLAlchemyJobStore`` on MariaDB (PyMySQL)."""
    from datetime import UTC

    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    jobs = p["jobs"]
    settled: list[int] = []
    scheduler = BackgroundScheduler(jobstores=aps_jobstores(p), timezone=UTC)
    scheduler.add_listener(
        lambda event: settled.append(event.code),
        EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR,
    )
    scheduler.start()
    due = _due(jobs, p.get("store", "memory"))
    when = utc(due)
    triggers = [DateTrigger(run_date=when, timezone=UTC) for _ in range(jobs)]
    for i, trigger in enumerate(triggers):
        scheduler.add_job(aps_noop, trigger, id=f"job-{i:05d}")
    added_at = time.time()
    _wait(lambda: len(settled) >= jobs, due + 30 + jobs * 0.002)
    scheduler.shutdown(wait=True)
    figures = _figures(list(_APS_STARTS), due, jobs, added_at)
    figures["missed_events"] = sum(1 for code in settled if code == EVENT_JOB_MISSED)
    return figures
