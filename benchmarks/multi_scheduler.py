"""Several scheduler processes on one PostgreSQL database: claim throughput and delay.

    .venv/bin/python benchmarks/multi_scheduler.py [--jobs 2000] [--grid-jobs 100]
        [--grid-seconds 10] [--procs 1 3] [--url postgresql://...]

Each scenario starts worker processes (this file with ``--worker``), each running an
``AsyncScheduler`` on ``SQLAlchemyStore`` with a handler that does nothing; the
execution records they write are the measurement:

- **burst**: ``--jobs`` one-off jobs all due at the same instant. Runs claimed and
  started per second = runs / (last start - due time); the dispatch delay of each run
  is its start minus its due time.
- **grid**: ``--grid-jobs`` jobs on a shared 1 s grid (``StartAtIntervalSchedule``) for
  ``--grid-seconds``: the steady rate, and the delay of every run.

Both run with 1 and 3 processes sharing the store (claims on), and once with a single
process on ``shared=False`` (no claims) for comparison. Every scenario also counts
duplicates: due runs that were started more than once (there must be none).

The tables live in a scratch schema, ``tickwork_multi_bench``, created and dropped by
this script, so nothing else in the database is touched. Results go to
``benchmarks/results/multi_scheduler.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

import tickwork
from tickwork import JobData, JobStatus
from tickwork_sqlalchemy_store import SQLAlchemyStore

SCHEMA = "tickwork_multi_bench"
TABLES = ("scheduler_claims", "scheduler_executions", "scheduler_jobs", "scheduler_workers")
DEFAULT_URL = os.environ.get(
    "TICKWORK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
RESULTS = Path(__file__).with_name("results") / "multi_scheduler.json"
# Seconds between inserting the jobs and their due time: the workers start and load
# every job meanwhile (an import, a connection and one query each).
LEAD = 8.0
LEASE = timedelta(seconds=30)
SYNC_INTERVAL = 1.0


# -- the worker process --------------------------------------------------------------------


async def worker(url: str, worker_id: str, shared: bool) -> None:
    """One scheduler on the scratch schema; runs until "stop" on stdin or SIGTERM."""

    async def handler(event: tickwork.JobEvent) -> None:
        return None

    scheduler = tickwork.AsyncScheduler(
        store=SQLAlchemyStore(url, schema=SCHEMA, shared=shared),
        handler=handler,
        worker_id=worker_id,
        claim_lease=LEASE,
        sync_interval=SYNC_INTERVAL,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await scheduler.start()
    print("ready", flush=True)
    reading = asyncio.ensure_future(stdin.readline())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    reading.cancel()
    stopping.cancel()
    await scheduler.stop(timeout=10)


# -- the driver ------------------------------------------------------------------------------


class Workers:
    """The worker processes of one scenario."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self.processes = processes

    @classmethod
    async def start(cls, url: str, count: int, shared: bool) -> Workers:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--worker",
                f"w{n}",
                "--url",
                url,
                *([] if shared else ["--not-shared"]),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for n in range(count)
        ]
        workers = cls(processes)
        try:
            for process in processes:
                assert process.stdout is not None
                line = await asyncio.wait_for(process.stdout.readline(), 60)
                if line != b"ready\n":
                    raise RuntimeError(f"a worker did not start (said {line!r})")
        except BaseException:
            await workers.kill()
            raise
        return workers

    async def stop(self) -> None:
        for process in self.processes:
            if process.stdin is not None and process.returncode is None:
                process.stdin.write(b"stop\n")
                await process.stdin.drain()
        for process in self.processes:
            await asyncio.wait_for(process.wait(), 60)

    async def kill(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def execute(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def prepare(engine: AsyncEngine, url: str) -> None:
    """An empty scratch schema holding the store's tables."""
    await execute(engine, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}")
    store = SQLAlchemyStore(url, schema=SCHEMA)
    await store.initialize()
    await store.close()


async def add_jobs(url: str, schedules: Sequence[tickwork.Schedule], due: datetime) -> None:
    """Store one job per schedule, due at ``due`` (written directly, as a deploy would)."""
    codec = tickwork.default_codec()
    store = SQLAlchemyStore(url, schema=SCHEMA, engine_options={"pool_size": 10})
    await store.initialize()
    try:
        now = datetime.now(UTC)
        jobs = []
        for n, schedule in enumerate(schedules):
            schedule_type, config = codec.encode(schedule)
            jobs.append(
                JobData(
                    id=f"job-{n:05d}",
                    schedule_type=schedule_type,
                    schedule_config=config,
                    status=JobStatus.PENDING,
                    next_run=due,
                    created_at=now,
                    updated_at=now,
                )
            )
        for start in range(0, len(jobs), 100):
            await asyncio.gather(*(store.save_job(job) for job in jobs[start : start + 100]))
    finally:
        await store.close()


async def records(engine: AsyncEngine) -> list[tuple[str, datetime, datetime, str]]:
    """(job id, scheduled_at, start time, worker) of every run."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT job_id, start_time, metadata FROM {SCHEMA}.scheduler_executions "
                "WHERE status = 'completed'"
            )
        )
        found = []
        for job_id, start, metadata in rows:
            meta = json.loads(metadata)
            found.append(
                (job_id, datetime.fromisoformat(meta["scheduled_at"]), start, meta["worker"])
            )
        return found


async def count_runs(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.scheduler_executions"))
        return int(result.scalar_one())


def percentile(sorted_values: Sequence[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


async def scenario(
    engine: AsyncEngine, url: str, *, kind: str, procs: int, shared: bool, jobs: int, seconds: float
) -> dict[str, Any]:
    """Run one scenario; return its measurements."""
    await prepare(engine, url)
    due = datetime.now(UTC) + timedelta(seconds=LEAD + procs)
    schedules: list[tickwork.Schedule]
    if kind == "burst":
        schedules = [tickwork.OnceSchedule(due)] * jobs
        expected = jobs
    else:
        grid = tickwork.StartAtIntervalSchedule(due, timedelta(seconds=1))
        schedules = [grid] * jobs
        expected = jobs * int(seconds)
    await add_jobs(url, schedules, due)
    workers = await Workers.start(url, procs, shared)
    slack = (due - datetime.now(UTC)).total_seconds()
    try:
        if slack < 0.5:
            raise RuntimeError(f"the workers took too long to start ({slack:.1f}s of lead left)")
        if kind == "burst":
            deadline = time.monotonic() + slack + 120
            while await count_runs(engine) < expected:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        else:
            await asyncio.sleep(slack + seconds - 0.5)  # ticks due in [due, due + seconds)
    finally:
        await workers.stop()
    runs = await records(engine)
    if kind == "grid":
        end = due + timedelta(seconds=seconds)
        runs = [r for r in runs if r[1] < end]
    duplicates = sum(n - 1 for n in Counter((r[0], r[1]) for r in runs).values() if n > 1)
    delays = sorted((start - scheduled).total_seconds() * 1000 for _, scheduled, start, _ in runs)
    span = (max(r[2] for r in runs) - due).total_seconds() if runs else float("nan")
    rate = len(runs) / (span if kind == "burst" else seconds)
    return {
        "scenario": kind,
        "processes": procs,
        "shared": shared,
        "jobs": jobs,
        "expected_runs": expected,
        "runs": len(runs),
        "duplicates": duplicates,
        "runs_per_second": round(rate, 1),
        "last_start_after_due_s": round(span, 3),
        "delay_ms": {
            "p50": round(statistics.median(delays), 1),
            "p99": round(percentile(delays, 0.99), 1),
            "max": round(delays[-1], 1),
        },
        "by_worker": dict(sorted(Counter(r[3] for r in runs).items())),
    }


def table(results: list[dict[str, Any]]) -> str:
    header = (
        f"{'scenario':<8} {'procs':>5} {'shared':>6} {'runs':>11} {'dupl':>4} "
        f"{'runs/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}  by worker"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        delay = r["delay_ms"]
        lines.append(
            f"{r['scenario']:<8} {r['processes']:>5} {'yes' if r['shared'] else 'no':>6} "
            f"{r['runs']:>5}/{r['expected_runs']:<5} {r['duplicates']:>4} "
            f"{r['runs_per_second']:>7} {delay['p50']:>7} {delay['p99']:>7} {delay['max']:>7}"
            f"  {r['by_worker']}"
        )
    return "\n".join(lines)


async def main(options: argparse.Namespace) -> None:
    engine = create_async_engine(options.url, poolclass=NullPool)
    plan: list[tuple[str, int, bool, int]] = [("burst", 1, False, options.jobs)]
    plan += [("burst", n, True, options.jobs) for n in options.procs]
    if options.grid_jobs:
        plan += [("grid", 1, False, options.grid_jobs)]
        plan += [("grid", n, True, options.grid_jobs) for n in options.procs]
    results = []
    try:
        for kind, procs, shared, jobs in plan:
            print(f"{kind}: {jobs} jobs, {procs} process(es), shared={shared} ...", flush=True)
            results.append(
                await scenario(
                    engine,
                    options.url,
                    kind=kind,
                    procs=procs,
                    shared=shared,
                    jobs=jobs,
                    seconds=options.grid_seconds,
                )
            )
    finally:
        await execute(engine, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await engine.dispose()
    print()
    print(table(results))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "multi_scheduler",
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "system": platform.platform(),
                },
                "settings": {
                    "lease_s": LEASE.total_seconds(),
                    "sync_interval_s": SYNC_INTERVAL,
                    "grid_seconds": options.grid_seconds,
                },
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {RESULTS}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL URL (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2000, help="burst: jobs due at once")
    parser.add_argument("--grid-jobs", type=int, default=100, help="grid: jobs (0: skip)")
    parser.add_argument("--grid-seconds", type=float, default=10.0, help="grid: duration")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 3], help="shared runs")
    parser.add_argument("--worker", metavar="ID", help=argparse.SUPPRESS)
    parser.add_argument("--not-shared", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    if arguments.worker:
        asyncio.run(worker(arguments.url, arguments.worker, not arguments.not_shared))
    else:
        asyncio.run(main(arguments))
