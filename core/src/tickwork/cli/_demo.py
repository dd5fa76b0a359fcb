"""``tickwork demo``: a scheduler on a local SQLite file, with sample jobs, shown live.

With only the core installed there is no SQLite store; the demo then runs on the
memory store rather than fail, since it is the first command a new user types.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from .._cron import CronSchedule
from .._job import JobEvent
from .._plugins import get_registry
from .._scheduler import AsyncScheduler
from .._schedules import IntervalSchedule, OnceSchedule, StartAtIntervalSchedule
from ..abc import Store
from ._table import cell, print_table

DEFAULT_STORE = "sqlite:///tickwork-demo.db"
FALLBACK_STORE = "memory"


def demo_store(chosen: str | None) -> tuple[str, str | None]:
    """The store the demo runs on, and a note when it is not the one asked for.

    A store the user named (``--store``, ``TICKWORK_STORE``) is used as given; without
    one the demo's SQLite file is used if a store owns ``sqlite``, else memory.
    """
    if chosen:
        return chosen, None
    if "sqlite" in get_registry().url_schemes:
        return DEFAULT_STORE, None
    return FALLBACK_STORE, (
        "no SQL store is installed, so this demo keeps its jobs in memory (they are gone "
        "when it ends); pip install tickwork-sqlalchemy-store to keep them in "
        "tickwork-demo.db"
    )


class DemoHandler:
    """Pretends to work, fails now and then, and prints each run as it ends."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.runs = 0
        self.flaky_calls = 0

    async def __call__(self, event: JobEvent) -> None:
        await asyncio.sleep(random.uniform(0.01, 0.05))
        error = None
        if event.id == "flaky":
            self.flaky_calls += 1
            if self.flaky_calls % 2 == 0:
                error = "simulated failure (every second run of 'flaky')"
        with self.lock:
            self.runs += 1
            self.out.write(
                f"{cell(event.started_at)}  {event.id:<10} "
                f"{'failed' if error else 'completed':<9}  "
                f"late {event.delay.total_seconds() * 1000:6.1f} ms  "
                f"{event.metadata.get('about', '')}\n"
            )
            self.out.flush()
        if error:
            raise RuntimeError(error)


async def run_demo(
    store: str | None,
    seconds: float,
    out: TextIO = sys.stdout,
    store_options: dict[str, Any] | None = None,
) -> int:
    """Run the sample jobs for ``seconds`` (0: until interrupted), then summarise.

    ``store`` is the one the user named, or None for the demo's own (see
    :func:`demo_store`).
    """
    store, note = demo_store(store)
    if note:
        out.write(f"tickwork demo: {note}\n")
    handler = DemoHandler(out)
    # The demo's failures are on purpose and printed as rows: keep their tracebacks out.
    logging.getLogger("tickwork.scheduler").setLevel(logging.ERROR)
    scheduler = AsyncScheduler(store, handler, store_options=store_options or None)
    await _add_sample_jobs(scheduler)
    out.write(f"tickwork demo: store {store}; ")
    out.write(f"running for {seconds:g} s\n" if seconds else "press Ctrl-C to stop\n")
    out.write("Executions as they finish:\n")
    async with scheduler:
        try:
            if seconds:
                await asyncio.sleep(seconds)
            else:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
    # Stopping waited for the runs in progress; read the final state from the store.
    rows = await _summary_rows(scheduler.store)
    out.write(
        "\nJobs in memory:\n" if note else "\nJobs in the store (history kept across runs):\n"
    )
    print_table(out, ["job", "status", "runs", "failed", "last run", "next run"], rows)
    out.write(f"\n{handler.runs} executions in this run.")
    out.write("\n" if note else " Try: tickwork jobs list, tickwork history heartbeat --limit 5\n")
    return 0


async def _add_sample_jobs(scheduler: AsyncScheduler) -> None:
    now = datetime.now(UTC)
    grid_start = now.replace(microsecond=0) + timedelta(seconds=1)
    await scheduler.add_job(
        "heartbeat", IntervalSchedule(timedelta(seconds=1)), {"about": "every second"}
    )
    await scheduler.add_job(
        "grid",
        StartAtIntervalSchedule(grid_start, timedelta(seconds=3)),
        {"about": "every 3 s on a fixed grid"},
    )
    await scheduler.add_job(
        "welcome", OnceSchedule(now + timedelta(seconds=2)), {"about": "once, 2 s after start"}
    )
    await scheduler.add_job(
        "flaky", IntervalSchedule(timedelta(seconds=2)), {"about": "fails every second run"}
    )
    await scheduler.add_job(
        "nightly",
        CronSchedule("0 3 * * *", "Europe/Paris"),
        {"about": "03:00 Paris time, daily"},
    )


async def _summary_rows(kept: Store) -> list[list[Any]]:
    await kept.initialize()
    try:
        rows: list[list[Any]] = []
        for job in await kept.list_jobs():
            history = await kept.list_executions(job.id)
            failed = sum(1 for r in history if r.status.value == "failed")
            rows.append(
                [job.id, job.status.value, len(history), failed, job.last_run, job.next_run]
            )
    finally:
        await kept.close()
    return rows
