"""The ``apscheduler4`` side: APScheduler 4.0.0a6's ``AsyncScheduler`` on W1-W6 and the
PostgreSQL rows (W1-pg, W2-pg, W4-pg, W5-pg).

This module runs in APScheduler 4's own environment (``benchmarks/_aps4_env.py``), which
has no tickwork: it imports only ``_common``/``_harness`` helpers and the workload modules'
pure functions (none of them imports a scheduler at module level). The child process finds
the function for a workload here by the workload's module name: ``run_w1_interval``,
``prepare_w4_cold_start`` ...

How each workload maps onto APScheduler 4 (its terms: a *schedule* is what tickwork calls
a job, a *job* is one run of it, a *task* the function):

- every schedule runs one module-level coroutine (the ``async`` executor, the native peer
  of ``tickwork-async``), added with ``add_schedule(..., id=...)``; its lateness comes
  from ``current_job.get().scheduled_fire_time``, the run's own scheduled time;
- the task is configured with ``max_running_jobs=None``: APScheduler 4 limits concurrent
  runs per *task* (default 1, i.e. one run at a time across all 10,000 schedules), while
  tickwork and APScheduler 3.11 limit them per job; every other setting is the default
  (``max_concurrent_jobs=100``, no misfire grace limit, ``coalesce=latest``);
- stores: ``MemoryDataStore``; ``SQLAlchemyDataStore`` on ``sqlite+aiosqlite`` and on
  ``postgresql+asyncpg`` with the runner's fresh schema; ``LocalEventBroker`` (one process);
- APScheduler 4 has no bulk add: the bulk cases of W5 are not run for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from . import w1_interval, w2_burst, w3_idle, w4_cold_start, w5_add
from ._common import CpuWindow, Unavailable, asleep_until, utc
from ._harness import Figures, Params

WORKLOAD_IDS = ("W1", "W2", "W3", "W4", "W5", "W6", "W1-pg", "W2-pg", "W4-pg", "W5-pg")
"""Where the side runs. Not on MariaDB (its SQLAlchemyDataStore needs an async MySQL
driver setup the brief did not ask for) nor NATS (no NATS data store in 4.0.0a6)."""

_SAMPLES: list[tuple[float, float]] = []
"""``(scheduled, started)`` timestamps, appended by :func:`record`."""
_AWAITED: list[tuple[int, asyncio.Event]] = []
"""What :func:`samples` waits for: that many samples, then the event is set."""


async def record() -> None:
    """Every schedule's task: notes the run's scheduled time and when it started."""
    from apscheduler import current_job

    scheduled = current_job.get().scheduled_fire_time
    _SAMPLES.append((scheduled.timestamp() if scheduled else float("nan"), time.time()))
    for count, event in _AWAITED:
        if len(_SAMPLES) >= count:
            event.set()


async def samples(count: int, timeout: float) -> None:
    """Wait until :func:`record` has noted ``count`` runs, or ``timeout`` seconds."""
    event = asyncio.Event()
    _AWAITED.append((count, event))
    if len(_SAMPLES) >= count:
        event.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), max(0.0, timeout))
    _AWAITED.remove((count, event))


def data_store(p: Params, sqlite_path: str | None = None) -> Any:
    """APScheduler 4's data store for ``p["store"]`` (not started yet)."""
    kind = p.get("store", "memory")
    if kind == "memory":
        from apscheduler.datastores.memory import MemoryDataStore

        return MemoryDataStore()
    from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore

    if kind == "sqlite":
        assert sqlite_path is not None
        return SQLAlchemyDataStore(f"sqlite+aiosqlite:///{os.path.abspath(sqlite_path)}")
    if kind == "postgresql":
        from sqlalchemy.engine import make_url

        url = make_url(p["service"]["url"]).set(drivername="postgresql+asyncpg")
        return SQLAlchemyDataStore(url, schema=p["service"]["schema"])
    raise Unavailable(f"the APScheduler 4 side is not measured on {kind}")


def _scheduler(store: Any) -> Any:
    from apscheduler import AsyncScheduler

    return AsyncScheduler(store)


async def _configure(scheduler: Any) -> None:
    await scheduler.configure_task(record, max_running_jobs=None)


async def _stop(scheduler: Any) -> None:
    await scheduler.stop()
    await scheduler.wait_until_stopped()


def _interval(seconds: float, start: datetime) -> Any:
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(seconds=seconds, start_time=start)


def _once(when: datetime) -> Any:
    from apscheduler.triggers.date import DateTrigger

    return DateTrigger(run_time=when)


def _in_temp_dir(prefix: str, main: Callable[[str], Any]) -> Figures:
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        figures: Figures = asyncio.run(main(os.path.join(folder, "jobs.db")))
        return figures


# -- W1, W6, W1-pg: interval jobs on a fixed grid --------------------------------------


def run_w1_interval(case: str, p: Params) -> Figures:
    async def main(path: str) -> Figures:
        jobs, interval, duration, base = w1_interval._plan(p)
        starts = w1_interval._starts(jobs, interval, base)
        async with _scheduler(data_store(p, path)) as scheduler:
            await _configure(scheduler)
            for i, start in enumerate(starts):
                await scheduler.add_schedule(record, _interval(interval, start), id=f"job-{i:05d}")
            await scheduler.start_in_background()
            start = w1_interval._window_start(base, interval, time.time())
            gc.collect()  # every side starts the window from a collected heap
            await asleep_until(start)
            with CpuWindow() as window:
                await asleep_until(start + duration)
            await _stop(scheduler)
        expected = round(jobs * duration / interval)
        return w1_interval._figures(list(_SAMPLES), window, start, duration, expected)

    return _in_temp_dir("aps4-w1-", main)


run_w6_interval_sqlite = run_w1_interval


# -- W2, W2-pg: one-off jobs due at the same instant ------------------------------------


def run_w2_burst(case: str, p: Params) -> Figures:
    async def main(path: str) -> Figures:
        jobs = p["jobs"]
        async with _scheduler(data_store(p, path)) as scheduler:
            await _configure(scheduler)
            await scheduler.start_in_background()
            due = w2_burst._due(jobs, p.get("store", "memory"))
            trigger_time = utc(due)
            triggers = [_once(trigger_time) for _ in range(jobs)]
            for i, trigger in enumerate(triggers):
                await scheduler.add_schedule(record, trigger, id=f"job-{i:05d}")
            added_at = time.time()
            await samples(jobs, due + 30 + jobs * 0.002 - time.time())
            await _stop(scheduler)
        starts = [started for _, started in _SAMPLES]
        return w2_burst._figures(starts, due, jobs, added_at)

    return _in_temp_dir("aps4-w2-", main)


# -- W3: jobs due next year, idle -------------------------------------------------------


def run_w3_idle(case: str, p: Params) -> Figures:
    async def main(path: str) -> Figures:
        jobs, duration = p["jobs"], p["duration"]
        async with _scheduler(data_store(p, path)) as scheduler:
            await _configure(scheduler)
            await scheduler.start_in_background()
            rss0 = w3_idle._baseline()
            base = time.time() + w3_idle.YEAR
            for i in range(jobs):
                await scheduler.add_schedule(record, _once(utc(base + i)), id=f"job-{i:05d}")
            gc.collect()
            await asyncio.sleep(0.5)
            with CpuWindow() as window:
                await asyncio.sleep(duration)
            rss1 = w3_idle._baseline()
            await _stop(scheduler)
        return w3_idle._figures(rss0, rss1, window, jobs)

    return _in_temp_dir("aps4-w3-", main)


# -- W4, W4-pg: a fresh process over persisted jobs -------------------------------------


def prepare_w4_cold_start(case: str, p: Params) -> Figures:
    """The schedules written through the data store's own ``add_schedule`` (the only
    writer that keeps its serialisation), before the scheduler runs: 10 overdue."""
    p = dict(p, store=p.get("store", "sqlite"))

    async def main() -> Figures:
        times = w4_cold_start._times(p)
        async with _scheduler(data_store(p, w4_cold_start._path(p))) as scheduler:
            await _configure(scheduler)
            for job_id, next_run in times:
                trigger = _interval(3600.0, next_run)
                await scheduler.add_schedule(record, trigger, id=job_id)
        return {"jobs": len(times)}

    return asyncio.run(main())


def run_w4_cold_start(case: str, p: Params) -> Figures:
    imported = time.perf_counter()
    import apscheduler  # noqa: F401
    from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore  # noqa: F401

    p = dict(p, store=p.get("store", "sqlite"))
    data_store(p, w4_cold_start._path(p))  # its engine imports the driver: counted here
    imported = time.perf_counter() - imported

    async def main() -> Figures:
        t0, t0_wall = time.perf_counter(), time.time()
        async with _scheduler(data_store(p, w4_cold_start._path(p))) as scheduler:
            await scheduler.start_in_background()
            started = time.perf_counter()
            await samples(1, 60)
            t_list = time.perf_counter()
            loaded = len(await scheduler.get_schedules())
            listed = time.perf_counter()
            await _stop(scheduler)
        return {
            "first_due_s": min(s for _, s in _SAMPLES) - t0_wall if _SAMPLES else float("nan"),
            "all_loaded_s": (started - t0) + (listed - t_list),
            "list_all_s": listed - t_list,
            "jobs_loaded": loaded,
            "import_s": imported,
        }

    return asyncio.run(main())


# -- W5, W5-pg: add jobs to a running scheduler -----------------------------------------


def run_w5_add(case: str, p: Params) -> Figures:
    if case.endswith("bulk"):
        raise Unavailable("APScheduler 4 has no bulk add")
    p = w5_add._store_params(case, p)

    async def main(path: str) -> Figures:
        async with _scheduler(data_store(p, path)) as scheduler:
            await _configure(scheduler)
            await scheduler.start_in_background()
            first = datetime.now(UTC) + timedelta(hours=1)
            triggers = [_interval(3600.0, first) for _ in range(p["jobs"])]
            t0 = time.perf_counter()
            for i, trigger in enumerate(triggers):
                await scheduler.add_schedule(record, trigger, id=f"job-{i:05d}")
            elapsed = time.perf_counter() - t0
            await _stop(scheduler)
        return {w5_add._key(case): len(triggers) / elapsed}

    return _in_temp_dir("aps4-w5-", main)
