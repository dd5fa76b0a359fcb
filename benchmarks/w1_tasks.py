"""W1-tasks: W1 with every job calling a registered task instead of the handler.

Issue 14's target is "W1 with tasks: CPU within 10% of W1 with the handler": naming a
task must not make a scheduler noticeably dearer to run than giving it a handler. So
this is W1's load exactly (the same jobs on the same fixed 1 s grid, the same window,
the same figures, the memory store), except that no handler is given: each job is
added with ``task=`` a plain module-level function registered in a ``TaskRegistry`` and
one small argument (the job's index), which the scheduler stores as JSON, decodes for
every run and calls on the task's executor (``thread``, the default for a plain
function) with ``current_run()`` set. Lateness is measured inside the task, from
``current_run().scheduled_at``.

Read its CPU row against W1's: ``--workloads W1,W1-tasks`` prints them one under the
other; the target is met when W1-tasks' figure is at most 1.1 times W1's, side by side
(the runner has no cross-workload figure, so no target is printed here). Each side's
task is of the same kind as W1's handler on that side, so the comparison is like for
like: a plain function on the ``tickwork`` side (the blocking facade runs W1's handler
in its thread pool, the task runs on the ``thread`` executor), a coroutine function on
the ``tickwork-async`` side (both awaited on the loop).
APScheduler is not run: it has no handler-versus-task distinction to compare.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import w1_interval
from ._common import (
    CpuWindow,
    ServerCpu,
    asleep_until,
    count_tickwork_records,
    sleep_until,
    tickwork_store,
)
from ._harness import Figures, Params, Workload
from .w1_interval import _figures, _plan, _temp_db, _tickwork_jobs, _window_start

TASK_NAME = "w1-tick"

METRICS = tuple(
    replace(m, target=None) if m.key == "cpu_core_pct" else m for m in w1_interval.METRICS
)

WORKLOAD = Workload(
    id="W1-tasks",
    title="W1 with a registered task instead of the handler",
    module="w1_tasks",
    metrics=METRICS,
    params=w1_interval.params,
    sides=("tickwork", "tickwork-async"),
    timeout=180.0,
    default=False,
    groups=("tasks",),
    notes="W1's 1,000 jobs, each calling a plain-function task with one int argument; "
    "target: CPU at most 1.1 x W1's.",
)

_SAMPLES: list[tuple[datetime, float]] = []


def tick(index: int) -> None:
    """The task every job calls: when its run was due, and when it started."""
    from tickwork import current_run

    _SAMPLES.append((current_run().scheduled_at, time.time()))


async def tick_async(index: int) -> None:
    """:func:`tick` as a coroutine function (the ``loop`` executor)."""
    tick(index)


def _registry(coroutine: bool = False) -> Any:
    from tickwork import TaskRegistry

    registry = TaskRegistry()
    registry.register(tick_async if coroutine else tick, name=TASK_NAME)
    return registry


def _finish(
    raw: list[tuple[datetime, float]], window: CpuWindow, start: float, p: Params
) -> Figures:
    jobs, interval, duration = p["jobs"], p["interval"], p["duration"]
    samples = [(scheduled.timestamp(), started) for scheduled, started in raw]
    return _figures(samples, window, start, duration, round(jobs * duration / interval))


def run_tickwork(case: str, p: Params) -> Figures:
    """The blocking ``tickwork.Scheduler``, no handler, every job naming the task."""
    import tickwork

    folder, path = _temp_db("tickwork-w1-tasks-")
    with folder:
        store = tickwork_store(p, path)
        _SAMPLES.clear()
        jobs, interval, duration, base = _plan(p)
        scheduler = tickwork.Scheduler(store, tasks=_registry())
        planned = _tickwork_jobs(jobs, interval, base)
        for i, (job_id, schedule) in enumerate(planned):
            scheduler.add_job(job_id, schedule, task=TASK_NAME, args=(i,))
        scheduler.start()
        start = _window_start(base, interval, time.time())
        server = ServerCpu(p)
        gc.collect()  # both workloads start the window from a collected heap
        sleep_until(start)
        with CpuWindow() as window, server:
            sleep_until(start + duration)
        scheduler.stop()
        raw = list(_SAMPLES)
        figures = _finish(raw, window, start, p)
        figures.update(server.figures())
        records = asyncio.run(count_tickwork_records(store, [j for j, _ in planned]))
        figures["records_pct"] = 100.0 * records / max(1, len(raw))
        return figures


def run_tickwork_async(case: str, p: Params) -> Figures:
    """``AsyncScheduler``, no handler, every job naming the (coroutine) task."""
    import tickwork

    async def main(path: str) -> Figures:
        store = tickwork_store(p, path)
        _SAMPLES.clear()
        jobs, interval, duration, base = _plan(p)
        scheduler = tickwork.AsyncScheduler(store, tasks=_registry(coroutine=True))
        planned = _tickwork_jobs(jobs, interval, base)
        for i, (job_id, schedule) in enumerate(planned):
            await scheduler.add_job(job_id, schedule, task=TASK_NAME, args=(i,))
        await scheduler.start()
        start = _window_start(base, interval, time.time())
        server = ServerCpu(p)
        gc.collect()  # both workloads start the window from a collected heap
        await asleep_until(start)
        with CpuWindow() as window, server:
            await asleep_until(start + duration)
        await scheduler.stop()
        raw = list(_SAMPLES)
        figures = _finish(raw, window, start, p)
        figures.update(server.figures())
        records = await count_tickwork_records(store, [j for j, _ in planned])
        figures["records_pct"] = 100.0 * records / max(1, len(raw))
        return figures

    folder, path = _temp_db("tickwork-w1-tasks-")
    with folder:
        return asyncio.run(main(path))
