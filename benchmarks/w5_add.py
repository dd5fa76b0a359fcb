"""W5: adding 10,000 jobs to a running scheduler, in memory and in SQLite.

Each case is its own process. The schedules (tickwork) and triggers (APScheduler) are
built before the clock starts, so only adding is timed: one ``add_job`` call per job,
and (tickwork only, APScheduler has no bulk call) one ``add_jobs`` call for them all.
Every job is an hourly interval job, so none runs while they are being added.

W5-pg, W5-mariadb and W5-nats add to the servers (``benchmarks/backends.py``), with the
cases ``<store>`` and ``<store>-bulk``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import timedelta
from typing import Any

from ._common import Unavailable, aps_jobstores, has_bulk_add, tickwork_store
from ._harness import Figures, Metric, Params, Workload

CASES = ("memory", "sqlite", "memory-bulk", "sqlite-bulk")
TICKWORK_ONLY = ("tickwork", "tickwork-async")


def params(scale: float, duration: float | None) -> Params:
    return {"jobs": max(1, round(10_000 * scale))}


METRICS = (
    Metric(
        "add_memory_per_s", "add_job, memory store", "/s", better="higher", target=20_000, digits=0
    ),
    Metric(
        "add_sqlite_per_s", "add_job, SQLite store", "/s", better="higher", target=2_000, digits=0
    ),
    Metric(
        "bulk_memory_per_s",
        "add_jobs (bulk), memory store",
        "/s",
        better="higher",
        target=20_000,
        digits=0,
        sides=TICKWORK_ONLY,
    ),
    Metric(
        "bulk_sqlite_per_s",
        "add_jobs (bulk), SQLite store",
        "/s",
        better="higher",
        target=20_000,
        digits=0,
        sides=TICKWORK_ONLY,
    ),
)

WORKLOAD = Workload(
    id="W5",
    title="add jobs to a running scheduler",
    module="w5_add",
    metrics=METRICS,
    params=params,
    cases=CASES,
    skip=frozenset({("apscheduler", "memory-bulk"), ("apscheduler", "sqlite-bulk")}),
    timeout=400.0,
    notes="10,000 hourly interval jobs, one by one and in bulk.",
)


def _key(case: str) -> str:
    store, _, bulk = case.partition("-")
    return f"{'bulk' if bulk else 'add'}_{store}_per_s"


def _store_params(case: str, p: Params) -> Params:
    """``p`` with the case's store (``sqlite-bulk`` → ``sqlite``)."""
    return dict(p, store=case.partition("-")[0])


def _tickwork_items(jobs: int) -> list[tuple[str, Any]]:
    from tickwork import IntervalSchedule

    return [(f"job-{i:05d}", IntervalSchedule(timedelta(hours=1))) for i in range(jobs)]


def _tickwork_store(case: str, p: Params, folder: str) -> Any:
    return tickwork_store(_store_params(case, p), os.path.join(folder, "jobs.db"))


def run_tickwork(case: str, p: Params) -> Figures:
    """The blocking ``tickwork.Scheduler``: every call crosses to its event loop thread."""
    import tickwork

    with tempfile.TemporaryDirectory(prefix="tickwork-w5-") as folder:
        scheduler = tickwork.Scheduler(_tickwork_store(case, p, folder), lambda event: None)
        scheduler.start()
        try:
            items = _tickwork_items(p["jobs"])
            if case.endswith("bulk"):
                if not has_bulk_add(scheduler):
                    raise Unavailable("Scheduler.add_jobs does not exist")
                t0 = time.perf_counter()
                scheduler.add_jobs(items)
            else:
                t0 = time.perf_counter()
                for job_id, schedule in items:
                    scheduler.add_job(job_id, schedule)
            elapsed = time.perf_counter() - t0
        finally:
            scheduler.stop()
    return {_key(case): len(items) / elapsed}


def run_tickwork_async(case: str, p: Params) -> Figures:
    """``AsyncScheduler``, awaited on its own loop."""
    import tickwork

    async def handler(event: tickwork.JobEvent) -> None:
        return None

    async def main(folder: str) -> Figures:
        scheduler = tickwork.AsyncScheduler(_tickwork_store(case, p, folder), handler)
        await scheduler.start()
        try:
            items = _tickwork_items(p["jobs"])
            if case.endswith("bulk"):
                if not has_bulk_add(scheduler):
                    raise Unavailable("AsyncScheduler.add_jobs does not exist")
                t0 = time.perf_counter()
                await scheduler.add_jobs(items)
            else:
                t0 = time.perf_counter()
                for job_id, schedule in items:
                    await scheduler.add_job(job_id, schedule)
            elapsed = time.perf_counter() - t0
        finally:
            await scheduler.stop()
        return {_key(case): len(items) / elapsed}

    with tempfile.TemporaryDirectory(prefix="tickwork-w5-") as folder:
        return asyncio.run(main(folder))


def aps_noop() -> None:
    return None


def run_apscheduler(case: str, p: Params) -> Figures:
    """``BackgroundScheduler``; its ``SQLAlchemyJobStore`` for SQLite and MariaDB."""
    from datetime import UTC

    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    with tempfile.TemporaryDirectory(prefix="aps-w5-") as folder:
        jobstores = aps_jobstores(_store_params(case, p), os.path.join(folder, "jobs.db"))
        scheduler = BackgroundScheduler(jobstores=jobstores, timezone=UTC)
        scheduler.start()
        try:
            triggers = [IntervalTrigger(hours=1, timezone=UTC) for _ in range(p["jobs"])]
            t0 = time.perf_counter()
            for i, trigger in enumerate(triggers):
                scheduler.add_job(f"{__name__}:aps_noop", trigger, id=f"job-{i:05d}")
            elapsed = time.perf_counter() - t0
        finally:
            scheduler.shutdown(wait=True)
    return {_key(case): len(triggers) / elapsed}
