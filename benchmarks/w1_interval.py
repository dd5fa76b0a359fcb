"""W1: interval jobs at 1 s, no-op handler: lateness and CPU over a timed window.

Both libraries get the same fixed grid: job ``i`` of ``n`` fires at
``base + i/n s + k s`` (APScheduler's ``IntervalTrigger(start_date=...)``, tickwork's
``StartAtIntervalSchedule``), so runs are spread evenly over each second rather than all
due at the same instant (that is W2). Lateness is measured inside the handler:
``time.time()`` at handler entry minus the run's scheduled time (tickwork: the
``JobEvent.scheduled_at``; APScheduler passes none, so it is the grid point just before).
Jobs are added before the scheduler starts (APScheduler's SQL job store cannot take
adds quickly while its scheduler thread works through due jobs). The window starts on
a grid point after the scheduler has started with every job, and after a full garbage
collection on both sides, so that the garbage of setting up does not put a full
collection inside the window.

W6 is this workload with the SQLite store on both sides; W1-pg, W1-mariadb and W1-nats
run it on the servers (``benchmarks/backends.py``), W1-nats-trig1/3 with the NATS
trigger (``benchmarks/nats_trigger.py``).
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ._common import (
    CpuWindow,
    ServerCpu,
    aps_jobstores,
    asleep_until,
    count_tickwork_records,
    lateness_figures,
    sleep_until,
    tickwork_store,
    utc,
)
from ._harness import RECORDS_SAVED, Figures, Metric, Params, Workload


def params(scale: float, duration: float | None) -> Params:
    return {
        "jobs": max(1, round(1000 * scale)),
        "interval": 1.0,
        "duration": duration if duration is not None else 10.0,
        "store": "memory",
    }


METRICS = (
    Metric("lateness_p50_ms", "lateness p50", "ms"),
    Metric("lateness_p99_ms", "lateness p99", "ms", target=2.0),
    Metric("lateness_max_ms", "lateness max", "ms"),
    Metric("cpu_core_pct", "CPU, % of one core", "%", target=12.0, digits=1),
    Metric("runs_pct", "runs done / due", "%", better="higher", target=100.0, digits=1),
    RECORDS_SAVED,
)

WORKLOAD = Workload(
    id="W1",
    title="interval jobs at 1 s for 10 s, no-op handler (memory store)",
    module="w1_interval",
    metrics=METRICS,
    params=params,
    timeout=180.0,
    notes="1,000 jobs on a fixed 1 s grid, spread evenly over the second.",
)

# Seconds per job to allow for adding before the first run (per store).
ADD_ALLOWANCE = {
    "memory": 0.0003,
    "sqlite": 0.006,
    "postgresql": 0.006,
    "mariadb": 0.006,
    "nats": 0.003,
}


def _plan(p: Params) -> tuple[int, float, float, float]:
    jobs, interval, duration = p["jobs"], p["interval"], p["duration"]
    base = time.time() + 0.5 + jobs * ADD_ALLOWANCE[p["store"]]
    return jobs, interval, duration, base


def _starts(jobs: int, interval: float, base: float) -> list[datetime]:
    return [utc(base + i * interval / jobs) for i in range(jobs)]


def _window_start(base: float, interval: float, added_at: float) -> float:
    """The first grid point at least half an interval after the last job was added."""
    k = max(0, math.ceil((added_at + 0.5 * interval - base) / interval))
    return base + k * interval


def _figures(
    samples: list[tuple[float, float]],
    window: CpuWindow,
    start: float,
    duration: float,
    expected: int,
) -> Figures:
    """``samples`` are ``(scheduled, started)`` pairs (timestamps)."""
    end = start + duration
    in_window = [started - scheduled for scheduled, started in samples if start <= scheduled < end]
    figures = lateness_figures(in_window)
    figures["cpu_core_pct"] = window.core_percent
    figures["runs_pct"] = 100.0 * len(in_window) / expected if expected else math.nan
    figures["runs_in_window"] = len(in_window)
    return figures


def _temp_db(prefix: str) -> tuple[tempfile.TemporaryDirectory[str], str]:
    folder = tempfile.TemporaryDirectory(prefix=prefix)
    return folder, os.path.join(folder.name, "jobs.db")


# -- tickwork -------------------------------------------------------------------------


def _tickwork_jobs(jobs: int, interval: float, base: float) -> list[tuple[str, Any]]:
    from tickwork import StartAtIntervalSchedule

    step = timedelta(seconds=interval)
    return [
        (f"job-{i:05d}", StartAtIntervalSchedule(start_at=start, interval=step))
        for i, start in enumerate(_starts(jobs, interval, base))
    ]


Attach = Callable[[Any], None]
"""Something a variant adds to the scheduler before it starts."""
Options = Mapping[str, Any]
"""Constructor keywords a variant adds (``instruments=[...]``)."""


def run_tickwork(
    case: str, p: Params, *, attach: Attach | None = None, options: Options | None = None
) -> Figures:
    """The blocking ``tickwork.Scheduler`` with a plain handler (run in its thread pool);
    ``attach(scheduler)`` adds to it before it starts (a variant's subscriber), and
    ``options`` are more constructor keywords (a variant's ``instruments``)."""
    import tickwork

    folder, path = _temp_db("tickwork-w1-")
    with folder:
        store = tickwork_store(p, path)
        raw: list[tuple[datetime, float]] = []

        def handler(event: tickwork.JobEvent) -> None:
            raw.append((event.scheduled_at, time.time()))

        jobs, interval, duration, base = _plan(p)
        scheduler = tickwork.Scheduler(store, handler, **(options or {}))
        if attach is not None:
            attach(scheduler)
        planned = _tickwork_jobs(jobs, interval, base)
        for job_id, schedule in planned:
            scheduler.add_job(job_id, schedule)
        scheduler.start()
        start = _window_start(base, interval, time.time())
        server = ServerCpu(p)
        gc.collect()  # both sides start the window from a collected heap
        sleep_until(start)
        with CpuWindow() as window, server:
            sleep_until(start + duration)
        scheduler.stop()
        samples = [(scheduled.timestamp(), started) for scheduled, started in raw]
        figures = _figures(samples, window, start, duration, round(jobs * duration / interval))
        figures.update(server.figures())
        store = store if p["store"] == "memory" else tickwork_store(p, path)
        records = asyncio.run(count_tickwork_records(store, [j for j, _ in planned]))
        figures["records_pct"] = 100.0 * records / max(1, len(raw))
        return figures


def run_tickwork_async(
    case: str, p: Params, *, attach: Attach | None = None, options: Options | None = None
) -> Figures:
    """``AsyncScheduler`` with a coroutine handler, awaited on the event loop."""
    import tickwork

    async def main(path: str) -> Figures:
        store = tickwork_store(p, path)
        raw: list[tuple[datetime, float]] = []

        async def handler(event: tickwork.JobEvent) -> None:
            raw.append((event.scheduled_at, time.time()))

        jobs, interval, duration, base = _plan(p)
        scheduler = tickwork.AsyncScheduler(store, handler, **(options or {}))
        if attach is not None:
            attach(scheduler)
        planned = _tickwork_jobs(jobs, interval, base)
        for job_id, schedule in planned:
            await scheduler.add_job(job_id, schedule)
        await scheduler.start()
        start = _window_start(base, interval, time.time())
        server = ServerCpu(p)
        gc.collect()  # both sides start the window from a collected heap
        await asleep_until(start)
        with CpuWindow() as window, server:
            await asleep_until(start + duration)
        await scheduler.stop()
        samples = [(scheduled.timestamp(), started) for scheduled, started in raw]
        figures = _figures(samples, window, start, duration, round(jobs * duration / interval))
        figures.update(server.figures())
        store = store if p["store"] == "memory" else tickwork_store(p, path)
        records = await count_tickwork_records(store, [j for j, _ in planned])
        figures["records_pct"] = 100.0 * records / max(1, len(raw))
        return figures

    folder, path = _temp_db("tickwork-w1-")
    with folder:
        return asyncio.run(main(path))


# -- APScheduler ----------------------------------------------------------------------

_APS_SAMPLES: list[tuple[int, float]] = []


def aps_noop(index: int) -> None:
    """APScheduler's handler; module-level so its SQLAlchemy job store can pickle it."""
    _APS_SAMPLES.append((index, time.time()))


def run_apscheduler(case: str, p: Params) -> Figures:
    """``BackgroundScheduler`` with its default thread pool (10 workers); its
    ``SQLAlchemyJobStore`` for SQLite and MariaDB (PyMySQL)."""
    from datetime import UTC

    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    folder, path = _temp_db("aps-w1-")
    with folder:
        scheduler = BackgroundScheduler(jobstores=aps_jobstores(p, path), timezone=UTC)
        jobs, interval, duration, base = _plan(p)
        starts = _starts(jobs, interval, base)
        for i, start_date in enumerate(starts):
            scheduler.add_job(
                f"{__name__}:aps_noop",
                IntervalTrigger(seconds=interval, start_date=start_date, timezone=UTC),
                args=(i,),
                id=f"job-{i:05d}",
            )
        scheduler.start()
        start = _window_start(base, interval, time.time())
        gc.collect()  # both sides start the window from a collected heap
        sleep_until(start)
        with CpuWindow() as window:
            sleep_until(start + duration)
        scheduler.shutdown(wait=True)
        first = [s.timestamp() for s in starts]
        samples = []
        for index, started in list(_APS_SAMPLES):
            k = math.floor((started - first[index]) / interval)
            samples.append((first[index] + k * interval, started))
        return _figures(samples, window, start, duration, round(jobs * duration / interval))
