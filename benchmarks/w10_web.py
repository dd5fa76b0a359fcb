"""W10: how fast the web dashboard answers over a large store (issue 17's target).

    .venv/bin/python -m benchmarks --workloads web --repeat 3         # W10-sqlite and W10-pg
    .venv/bin/python -m benchmarks --workloads W10-sqlite --scale 0.1

The store holds 10,000 jobs (each with a few records, so the jobs page draws its
lateness charts) and one job with 100,000 execution records of its own (times
``--scale``), written with the store's bulk writes (``save_jobs``, ``save_runs``).
Then ``tickwork_web.create_app(store)`` is called in the same process as plain ASGI
(no socket, no HTTP client): a sample is the time from handing the app a request to
its last body byte, so it is the app's own time plus the store's, what a server adds
on top of the network. Each page is asked a few times untimed first (connections,
caches), then ``requests`` times:

- ``jobs_first`` / ``jobs_deep``: the jobs page, page 1 and a page 50 rows from the
  end (offset 9,950 at full size), sorted by id;
- ``history_first`` / ``history_deep``: the page of the job with 100,000 records, its
  history page 1 and a page 50 rows from the end;
- ``runs_first`` / ``runs_deep``: the runs page, every job's records (130,000 at full
  size), newest first, page 1 and a page 50 rows from the end;
- ``overview``: the overview page (runs of the last hour by outcome, latest failures).

The target, ≤ 200 ms, is set on the p95 of the six paged rows, on SQLite (a file in
the runner's scratch folder) and PostgreSQL (a fresh schema). It can be met only when
the store pages in SQL: ``paged_in_store`` says whether it answered with its own
queries (``tickwork.abc.QueryableStore``) or was read whole and paged in Python for
every page (the fallback of ``tickwork.StoreQueries``).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ._common import Unavailable, require_tickwork_plugin, tickwork_store
from ._harness import Figures, Metric, Params, Workload, percentile

SIDE = "tickwork-async"
TARGET_MS = 200.0
HISTORY_JOB = "history-job"
RECORDS_PER_JOB = 3
WARM_UP = 3
PAGE = 50

PAGES: dict[str, str] = {
    "jobs_first": "jobs, page 1",
    "jobs_deep": "jobs, a page 50 rows from the end",
    "history_first": "one job's history, page 1",
    "history_deep": "one job's history, a page 50 rows from the end",
    "runs_first": "every job's runs, page 1",
    "runs_deep": "every job's runs, a page 50 rows from the end",
    "overview": "overview",
}
TARGETED = tuple(key for key in PAGES if key != "overview")


def _metrics() -> tuple[Metric, ...]:
    found: list[Metric] = []
    for key, label in PAGES.items():
        target = TARGET_MS if key in TARGETED else None
        found += [
            Metric(f"{key}_p50_ms", f"{label}, p50", "ms"),
            Metric(f"{key}_p95_ms", f"{label}, p95", "ms", target=target),
        ]
    return (
        *found,
        Metric("paged_in_store", "the store pages itself (QueryableStore)", "", "none"),
        Metric("seed_s", "writing the store (not timed per page)", "s", "none"),
    )


def _params(store: str, scale: float, duration: float | None) -> Params:
    del duration
    return {
        "store": store,
        "jobs": max(10, round(10_000 * scale)),
        "records": max(20, round(100_000 * scale)),
        "requests": 30 if scale >= 0.1 else 5,
    }


def _workload(workload_id: str, store: str, service: str | None, title: str) -> Workload:
    return Workload(
        id=workload_id,
        title=title,
        module="w10_web",
        metrics=_metrics(),
        params=functools.partial(_params, store),
        sides=(SIDE,),
        timeout=900.0,
        notes="10,000 jobs, one job with 100,000 records; in-process ASGI requests to "
        "tickwork_web.create_app(store); target on the p95 of the paged pages",
        default=False,
        service=service,
        groups=("web",),
    )


WORKLOADS: list[Workload] = [
    _workload("W10-sqlite", "sqlite", None, "web pages over a large store, SQLite"),
    _workload("W10-pg", "postgresql", "postgresql", "web pages over a large store, PostgreSQL"),
]


# -- seeding ----------------------------------------------------------------------------------


def _job_rows(count: int, now: datetime) -> list[Any]:
    """``count`` interval jobs (ids ``job-00000``...) and the history job, tasks mixed."""
    import tickwork

    schedule_type, config = tickwork.default_codec().encode(
        tickwork.IntervalSchedule(timedelta(minutes=5))
    )
    statuses = (tickwork.JobStatus.PENDING, tickwork.JobStatus.COMPLETED)
    return [
        tickwork.JobData(
            id=job_id,
            schedule_type=schedule_type,
            schedule_config=config,
            status=statuses[n % 2] if n % 50 else tickwork.JobStatus.DISABLED,
            next_run=now + timedelta(seconds=n % 300),
            last_run=now - timedelta(seconds=300 - n % 300),
            created_at=now - timedelta(days=7),
            updated_at=now - timedelta(minutes=n % 60),
            metadata={"tickwork.task": f"tasks:task_{n % 7}"},
        )
        for n, job_id in enumerate([HISTORY_JOB, *(f"job-{n:05d}" for n in range(count - 1))])
    ]


def _records(job_id: str, count: int, now: datetime, rng: random.Random) -> list[Any]:
    """``count`` records of ``job_id``, one every 5 minutes back from ``now``."""
    import tickwork

    out = []
    for n in range(count):
        scheduled = now - timedelta(minutes=5 * (n + 1))
        start = scheduled + timedelta(milliseconds=rng.randint(0, 400))
        failed = rng.random() < 0.03
        out.append(
            tickwork.ExecutionRecord(
                job_id=job_id,
                execution_id=f"{job_id}-{n:06d}",
                start_time=start,
                end_time=start + timedelta(milliseconds=120),
                duration=timedelta(milliseconds=120),
                status=tickwork.JobStatus.FAILED if failed else tickwork.JobStatus.COMPLETED,
                error="ConnectionError: upstream timed out" if failed else None,
                metadata={"scheduled_at": scheduled.isoformat()},
            )
        )
    return out


async def _write_records(store: Any, records: Sequence[Any], chunk: int = 5_000) -> None:
    for start in range(0, len(records), chunk):
        await store.save_runs(records[start : start + chunk], [])


async def _seed(store: Any, p: Params) -> float:
    """Write the jobs and records; the seconds it took."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(10)
    jobs = _job_rows(p["jobs"], now)
    for start in range(0, len(jobs), 2_000):
        await store.save_jobs(jobs[start : start + 2_000])
    await _write_records(store, _records(HISTORY_JOB, p["records"], now, rng))
    others: list[Any] = []
    for job in jobs[1:]:
        others += _records(job.id, RECORDS_PER_JOB, now, rng)
    await _write_records(store, others)
    return time.perf_counter() - started


# -- asking the app -------------------------------------------------------------------------


async def _lifespan(phase: str, queue: asyncio.Queue[Any], replies: asyncio.Queue[Any]) -> None:
    """Tell the app's lifespan ``phase`` (startup, shutdown) and wait until it is done."""
    await queue.put({"type": f"lifespan.{phase}"})
    reply = await replies.get()
    if reply["type"] != f"lifespan.{phase}.complete":
        raise RuntimeError(f"the app's lifespan {phase} failed: {reply}")


async def _get(app: Any, path: str, query: str = "") -> tuple[int, float]:
    """One GET through the app as plain ASGI: (status, milliseconds to the last byte)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"accept", b"text/html")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    status = 0
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    started = time.perf_counter()
    await app(scope, receive, send)
    return status, (time.perf_counter() - started) * 1000.0


def _requests(p: Params) -> dict[str, tuple[str, str]]:
    """Each measured page: (path, query string)."""
    deep_jobs = max(0, p["jobs"] - PAGE)
    deep_records = max(0, p["records"] - PAGE)
    deep_runs = max(0, p["records"] + RECORDS_PER_JOB * (p["jobs"] - 1) - PAGE)
    history = f"/jobs/{HISTORY_JOB}"
    return {
        "jobs_first": ("/jobs", f"sort=id&limit={PAGE}&offset=0"),
        "jobs_deep": ("/jobs", f"sort=id&limit={PAGE}&offset={deep_jobs}"),
        "history_first": (history, f"limit={PAGE}&offset=0"),
        "history_deep": (history, f"limit={PAGE}&offset={deep_records}"),
        "runs_first": ("/runs", f"limit={PAGE}&offset=0"),
        "runs_deep": ("/runs", f"limit={PAGE}&offset={deep_runs}"),
        "overview": ("/", ""),
    }


async def _time_pages(app: Any, p: Params) -> Figures:
    figures: Figures = {}
    for key, (path, query) in _requests(p).items():
        for _ in range(WARM_UP):
            status, _ms = await _get(app, path, query)
            if status != 200:
                raise RuntimeError(f"GET {path}?{query} answered {status}")
        samples = [(await _get(app, path, query))[1] for _ in range(p["requests"])]
        figures[f"{key}_p50_ms"] = percentile(samples, 50)
        figures[f"{key}_p95_ms"] = percentile(samples, 95)
    return figures


async def _measure(p: Params, folder: str) -> Figures:
    from tickwork import StoreQueries
    from tickwork_web import create_app

    store = tickwork_store(p, os.path.join(folder, "web.db"))
    await store.initialize()
    try:
        seed_s = await _seed(store, p)
        app = create_app(store)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        replies: asyncio.Queue[Any] = asyncio.Queue()
        life = asyncio.ensure_future(
            app({"type": "lifespan", "asgi": {"version": "3.0"}}, queue.get, replies.put)
        )
        await _lifespan("startup", queue, replies)
        try:
            figures = await _time_pages(app, p)
        finally:
            await _lifespan("shutdown", queue, replies)
            await life
    finally:
        await store.close()
    return {
        **figures,
        "paged_in_store": StoreQueries(store).native,
        "seed_s": seed_s,
        "jobs": p["jobs"],
        "records": p["records"],
    }


def run_tickwork_async(case: str, p: Params) -> Figures:
    """The app on the workload's store, asked in-process."""
    del case
    require_tickwork_plugin("stores", "sqlalchemy", "tickwork-sqlalchemy-store")
    if importlib.util.find_spec("tickwork_web") is None:
        raise Unavailable("tickwork-web is not installed: pip install tickwork-web")
    with tempfile.TemporaryDirectory(prefix="tickwork-bench-web-") as folder:
        return asyncio.run(_measure(p, folder))
