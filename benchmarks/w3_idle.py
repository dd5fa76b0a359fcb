"""W3: 10,000 jobs due next year, then an idle window: CPU and memory.

RSS is read (after a garbage collection) once the scheduler has started with no jobs,
and again at the end of the idle window; the difference is what the jobs cost. CPU is
every thread's CPU time over the window: a scheduler that polls shows up here.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from ._common import CpuWindow, rss_bytes, utc
from ._harness import Figures, Metric, Params, Workload

MIB = 1024 * 1024
YEAR = 365 * 86_400


def params(scale: float, duration: float | None) -> Params:
    return {
        "jobs": max(1, round(10_000 * scale)),
        "duration": duration if duration is not None else 10.0,
    }


METRICS = (
    Metric("idle_cpu_ms", "CPU over the idle window", "ms", digits=1),
    Metric("idle_cpu_pct", "CPU, % of one core", "%", target=0.5, digits=2),
    Metric("rss_delta_mib", "RSS growth for the jobs", "MiB", target=16.0, digits=1),
    Metric("bytes_per_job", "RSS per job", "B", digits=0),
)

WORKLOAD = Workload(
    id="W3",
    title="jobs due next year, idle window",
    module="w3_idle",
    metrics=METRICS,
    params=params,
    timeout=180.0,
    notes="10,000 one-off jobs due in a year, 10 s idle.",
)


def _figures(rss0: int, rss1: int, window: CpuWindow, jobs: int) -> Figures:
    return {
        "idle_cpu_ms": window.cpu_seconds * 1000,
        "idle_cpu_pct": window.core_percent,
        "rss_delta_mib": (rss1 - rss0) / MIB,
        "bytes_per_job": (rss1 - rss0) / jobs,
    }


def _baseline() -> int:
    gc.collect()
    return rss_bytes()


def _tickwork_jobs(jobs: int) -> list[tuple[str, Any]]:
    from tickwork import OnceSchedule

    base = time.time() + YEAR
    return [(f"job-{i:05d}", OnceSchedule(run_at=utc(base + i))) for i in range(jobs)]


def run_tickwork(case: str, p: Params) -> Figures:
    import tickwork

    jobs, duration = p["jobs"], p["duration"]
    scheduler = tickwork.Scheduler(tickwork.MemoryStore(), lambda event: None)
    scheduler.start()
    rss0 = _baseline()
    for job_id, schedule in _tickwork_jobs(jobs):
        scheduler.add_job(job_id, schedule)
    gc.collect()
    time.sleep(0.5)
    with CpuWindow() as window:
        time.sleep(duration)
    rss1 = _baseline()
    scheduler.stop()
    return _figures(rss0, rss1, window, jobs)


def run_tickwork_async(case: str, p: Params) -> Figures:
    import tickwork

    async def handler(event: tickwork.JobEvent) -> None:
        return None

    async def main() -> Figures:
        jobs, duration = p["jobs"], p["duration"]
        scheduler = tickwork.AsyncScheduler(tickwork.MemoryStore(), handler)
        await scheduler.start()
        rss0 = _baseline()
        for job_id, schedule in _tickwork_jobs(jobs):
            await scheduler.add_job(job_id, schedule)
        gc.collect()
        await asyncio.sleep(0.5)
        with CpuWindow() as window:
            await asyncio.sleep(duration)
        rss1 = _baseline()
        await scheduler.stop()
        return _figures(rss0, rss1, window, jobs)

    return asyncio.run(main())


def aps_noop() -> None:
    return None


def run_apscheduler(case: str, p: Params) -> Figures:
    from datetime import UTC

    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    jobs, duration = p["jobs"], p["duration"]
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start()
    rss0 = _baseline()
    base = time.time() + YEAR
    for i in range(jobs):
        scheduler.add_job(
            aps_noop, DateTrigger(run_date=utc(base + i), timezone=UTC), id=f"job-{i:05d}"
        )
    gc.collect()
    time.sleep(0.5)
    with CpuWindow() as window:
        time.sleep(duration)
    rss1 = _baseline()
    scheduler.shutdown(wait=True)
    return _figures(rss0, rss1, window, jobs)
