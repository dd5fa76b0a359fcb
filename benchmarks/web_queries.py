"""How long the browsing queries of a dashboard take on a large SQL store (issue 17's
target: each page in 200 ms or less, server-side, on SQLite and PostgreSQL).

    .venv/bin/python -m benchmarks.web_queries --backend sqlite
    flock /tmp/tickwork-db.lock .venv/bin/python -m benchmarks.web_queries --backend postgresql
    .venv/bin/python -m benchmarks.web_queries --backend sqlite --explain   # the plans

It seeds 10,000 jobs and two histories: 100,000 records of one job (the deepest
history one job page can have) and 100,000 more spread over the other jobs (so the
"every job" pages scan 200,000), started over the last two days. Then it times each
query through the store's own ``query_*`` methods, five times after one warm-up, and
prints the median and the slowest in milliseconds. PostgreSQL runs in a schema of its
own (``tickwork_web_queries``), made and dropped here, so no test table is touched.
It is a measurement, not a test: nothing fails when a figure is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

from tickwork import ExecutionQuery, ExecutionRecord, JobData, JobQuery, JobStatus
from tickwork_sqlalchemy_store import SQLAlchemyStore

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SCHEMA = "tickwork_web_queries"
NOW = datetime.now(UTC).replace(microsecond=0)
STATUSES = ["completed"] * 8 + ["failed", "missed"]


def _jobs(count: int) -> list[JobData]:
    jobs = []
    for n in range(count):
        jobs.append(
            JobData(
                id=f"job-{n:05d}",
                schedule_type="interval",
                schedule_config="5m0s",
                status=list(JobStatus)[n % 6],
                next_run=None if n % 10 == 0 else NOW + timedelta(seconds=(n * 7919) % 86_400),
                last_run=None if n % 7 == 0 else NOW - timedelta(seconds=n % 3600),
                created_at=NOW - timedelta(days=30),
                updated_at=NOW,
                metadata={"tickwork.task": f"tasks:t{n % 20}", "team": "core"},
            )
        )
    return jobs


def _records(count: int, job_of: Callable[[int], str], prefix: str) -> list[ExecutionRecord]:
    span = 2 * 86_400  # two days, newest first
    records = []
    for n in range(count):
        start = NOW - timedelta(seconds=(n * span) // count, microseconds=n % 1000)
        records.append(
            ExecutionRecord(
                job_id=job_of(n),
                execution_id=f"{prefix}-{n:07d}",
                start_time=start,
                end_time=start + timedelta(seconds=n % 30),
                duration=timedelta(seconds=n % 30),
                status=STATUSES[n % len(STATUSES)],
                error="boom" if n % 10 == 8 else None,
            )
        )
    return records


async def _seed(store: SQLAlchemyStore, jobs: int, records: int) -> None:
    started = time.perf_counter()
    all_jobs = _jobs(jobs)
    for start in range(0, len(all_jobs), 2000):
        await store.save_jobs(all_jobs[start : start + 2000])
    histories = [
        _records(records, lambda _n: "job-00000", "one"),
        _records(records, lambda n: f"job-{1 + n % (jobs - 1):05d}", "all"),
    ]
    for history in histories:
        for start in range(0, len(history), 5000):
            await store.save_runs(history[start : start + 5000], [])
    print(f"seeded {jobs} jobs, {2 * records} records in {time.perf_counter() - started:.1f} s")


async def _vacuum(url: str) -> None:
    """What autovacuum does to a table that grew this much: statistics for the planner
    and a visibility map for index-only scans."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for table in ("scheduler_jobs", "scheduler_executions"):
                await conn.execute(text(f"VACUUM ANALYZE {SCHEMA}.{table}"))
    finally:
        await engine.dispose()


def _cases(
    jobs: int, records: int
) -> list[tuple[str, Callable[[SQLAlchemyStore], Awaitable[Any]]]]:
    deep_jobs, deep_records = jobs - 50, records - 50
    return [
        ("jobs p1 by id", lambda s: s.query_jobs(JobQuery())),
        ("jobs @9950 by id", lambda s: s.query_jobs(JobQuery(offset=deep_jobs))),
        ("jobs p1 by next_run", lambda s: s.query_jobs(JobQuery(sort_by="next_run"))),
        (
            "jobs @9950 by next_run",
            lambda s: s.query_jobs(JobQuery(sort_by="next_run", offset=deep_jobs)),
        ),
        ("jobs p1 search '00'", lambda s: s.query_jobs(JobQuery(search="00"))),
        (
            "jobs @9950 search 'job' by next_run",
            lambda s: s.query_jobs(JobQuery(search="JOB", sort_by="next_run", offset=deep_jobs)),
        ),
        ("jobs p1 task filter", lambda s: s.query_jobs(JobQuery(task="tasks:t3"))),
        (
            "history 1 job (100k) p1",
            lambda s: s.query_executions(ExecutionQuery(job_id="job-00000")),
        ),
        (
            "history 1 job (100k) @99950",
            lambda s: s.query_executions(ExecutionQuery(job_id="job-00000", offset=deep_records)),
        ),
        ("history all jobs (200k) p1", lambda s: s.query_executions(ExecutionQuery())),
        (
            "history all jobs failed p1",
            lambda s: s.query_executions(ExecutionQuery(status=JobStatus.FAILED)),
        ),
        (
            "history all jobs @99950",
            lambda s: s.query_executions(ExecutionQuery(offset=deep_records)),
        ),
        (
            "latest 5 of 50 jobs",
            lambda s: s.latest_executions([f"job-{n:05d}" for n in range(1, 51)], 5),
        ),
        ("latest 5 of job-00000 (100k)", lambda s: s.latest_executions(["job-00000"], 5)),
        (
            "latest 20 of 50 jobs with job-00000",
            lambda s: s.latest_executions([f"job-{n:05d}" for n in range(50)], 20),
        ),
        (
            "counts by status, last hour",
            lambda s: s.count_executions_by_status(NOW - timedelta(hours=1)),
        ),
    ]


async def _time(
    store: SQLAlchemyStore, call: Callable[[SQLAlchemyStore], Awaitable[Any]], repeat: int
) -> list[float]:
    await call(store)  # warm-up: statement caches, pages in memory
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call(store)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def _explain(url: str, store: SQLAlchemyStore) -> None:
    """Print the plan of each page statement (EXPLAIN ANALYZE / EXPLAIN QUERY PLAN)."""
    browse = store._browse  # the statements the store sends
    assert browse is not None
    engine = create_async_engine(store.url)
    prefix = "EXPLAIN QUERY PLAN " if url.startswith("sqlite") else "EXPLAIN ANALYZE "

    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _explained(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> Any:
        return prefix + statement, parameters

    statements = {
        "jobs by next_run @9950": browse.jobs_page(JobQuery(sort_by="next_run", offset=9950))[0],
        "jobs search": browse.jobs_page(JobQuery(search="00"))[0],
        "jobs by id": browse.jobs_page(JobQuery())[0],
        "jobs task": browse.jobs_page(JobQuery(task="tasks:t3"))[0],
        "jobs count": browse.jobs_page(JobQuery())[1],
        "history all count": browse.executions_page(ExecutionQuery())[1],
        "history 1 job p1": browse.executions_page(ExecutionQuery(job_id="job-00000"))[0],
        "history all p1": browse.executions_page(ExecutionQuery())[0],
        "history all failed": browse.executions_page(ExecutionQuery(status=JobStatus.FAILED))[0],
        "counts": browse.counts(NOW - timedelta(hours=1), None),
    }
    latest = browse.latest(5)
    try:
        async with engine.connect() as conn:  # the tables are named with their schema
            for name, statement in statements.items():
                rows = (await conn.execute(statement)).all()
                print(f"-- {name}")
                for row in rows:
                    print("   ", " | ".join(str(v) for v in row))
            ids = [f"job-{n:05d}" for n in range(1, 51)]
            print("-- latest 5 of 50 jobs")
            for row in (await conn.execute(latest, {"ids": ids})).all():
                print("   ", " | ".join(str(v) for v in row))
    finally:
        await engine.dispose()


async def run(backend: str, jobs: int, records: int, repeat: int, explain: bool) -> None:
    schema, folder = None, Path(tempfile.mkdtemp())
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'web_queries.db'}"
    else:
        url, schema = POSTGRES_URL, SCHEMA
        admin = create_async_engine(url)
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await admin.dispose()
    store = SQLAlchemyStore(url, schema=schema, shared=False)
    await store.initialize()
    try:
        await _seed(store, jobs, records)
        if schema is not None:
            await _vacuum(url)
        if explain:
            await _explain(url, store)
        print(f"{backend}: median / max of {repeat} runs, ms")
        for name, call in _cases(jobs, records):
            times = await _time(store, call, repeat)
            print(f"  {name:<40} {statistics.median(times):8.1f} {max(times):8.1f}")
    finally:
        await store.close()
        shutil.rmtree(folder)
        if schema is not None:
            admin = create_async_engine(url)
            async with admin.begin() as conn:
                await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="print the plans too")
    args = parser.parse_args()
    asyncio.run(run(args.backend, args.jobs, args.records, args.repeat, args.explain))


if __name__ == "__main__":
    main()
