"""W4: a fresh process over 10,000 jobs persisted in SQLite.

A prepare step (its own subprocess, not timed) writes the jobs with each library's own
store: 10 of them overdue (their run is due now), the rest due over the next day, all
hourly interval jobs. Each repetition then starts from a copy of that database in a new
process, timed from constructing the scheduler (imports excluded):

- ``first_due_s``: construct → the first overdue job's handler starts;
- ``all_loaded_s``: construct → every job is loaded and scheduled. tickwork: ``start()``
  returned (every job is in memory and armed). APScheduler loads jobs lazily and never
  holds them all, so its figure is ``start()`` plus one ``get_jobs()`` (which unpickles
  every job);
- ``list_all_s``: one call that lists every job, after the first run.

A store's module and driver load when the first store is built; on the servers, one
store is built (not opened) before the clock on both sides, so their imports are in
``import_s``, not in the timed figures (with SQLite, the store probe does that).

W4-pg, W4-mariadb and W4-nats run it on the servers (``benchmarks/backends.py``): the
prepare step then runs before every measurement, into that measurement's fresh schema,
database or nats-server. W4-nats-trig1/3 start with the NATS trigger
(``benchmarks/nats_trigger.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from datetime import UTC, timedelta
from typing import Any

from ._common import aps_jobstores, require_tickwork_sql_store, tickwork_store, utc
from ._harness import Figures, Metric, Params, Workload

DUE = 10


def params(scale: float, duration: float | None) -> Params:
    jobs = max(2, round(10_000 * scale))
    return {"jobs": jobs, "due": min(DUE, jobs // 2 or 1)}


METRICS = (
    Metric("first_due_s", "construct → first due run started", "s", target=0.03, digits=3),
    Metric("all_loaded_s", "construct → all jobs loaded and scheduled", "s", target=0.2, digits=3),
    Metric("list_all_s", "list every job", "s", digits=3),
    Metric("jobs_loaded", "jobs loaded", "", better="none", digits=0),
    Metric("import_s", "imports, not counted above", "s", digits=3),
)

WORKLOAD = Workload(
    id="W4",
    title="cold start over jobs persisted in SQLite",
    module="w4_cold_start",
    metrics=METRICS,
    params=params,
    prepare=frozenset({"tickwork", "tickwork-async", "apscheduler"}),
    needs_sql_store=True,
    timeout=300.0,
    notes="10,000 hourly jobs, 10 overdue; construct → first due run, → all loaded.",
)


def _path(p: Params) -> str | None:
    """The SQLite file (the server variants have none)."""
    return os.path.join(p["dir"], "jobs.db") if "dir" in p else None


def _times(p: Params) -> list[tuple[str, Any]]:
    """``(job_id, next_run)`` for every job: the first ``due`` are overdue, the others
    come due over a day from ``p["first_in"]`` seconds on (60 unless W8 says more)."""
    now = time.time()
    jobs, due, first_in = p["jobs"], p["due"], p.get("first_in", 60)
    spread = 86_400 / max(1, jobs - due)
    return [
        (f"job-{i:05d}", utc(now - 60) if i < due else utc(now + first_in + (i - due) * spread))
        for i in range(jobs)
    ]


# -- tickwork -------------------------------------------------------------------------


def _prepare_tickwork(p: Params) -> Figures:
    import tickwork

    p = dict(p, store=p.get("store", "sqlite"))

    async def main() -> Figures:
        codec = tickwork.default_codec()
        kind, config = codec.encode(tickwork.IntervalSchedule(timedelta(hours=1)))
        created = utc(time.time() - 86_400)
        jobs = [
            tickwork.JobData(
                id=job_id,
                schedule_type=kind,
                schedule_config=config,
                next_run=next_run,
                last_run=next_run - timedelta(hours=1),
                created_at=created,
                updated_at=created,
            )
            for job_id, next_run in _times(p)
        ]
        store = tickwork_store(p, _path(p))
        await store.initialize()
        try:
            save_jobs = getattr(store, "save_jobs", None)
            if callable(save_jobs):
                await save_jobs(jobs)
            else:  # 64 at a time: a round trip each on a server
                limit = asyncio.Semaphore(64)

                async def save(job: tickwork.JobData) -> None:
                    async with limit:
                        await store.save_job(job)

                await asyncio.gather(*(save(job) for job in jobs))
        finally:
            await store.close()
        return {"jobs": len(jobs)}

    return asyncio.run(main())


def prepare_tickwork(case: str, p: Params) -> Figures:
    return _prepare_tickwork(p)


def prepare_tickwork_async(case: str, p: Params) -> Figures:
    return _prepare_tickwork(p)


def _import_tickwork(p: Params) -> tuple[Params, float]:
    """Import tickwork, its plugins and the store's driver, off the clock.

    Returns the parameters with the store filled in, and the seconds the imports took
    (reported apart as ``import_s``).
    """
    imported = time.perf_counter()
    import tickwork

    tickwork.available_plugins()  # imports every installed plugin, SQLAlchemy included
    p = dict(p, store=p.get("store", "sqlite"))
    if p["store"] != "sqlite":
        tickwork_store(p)  # a store's module and driver load on first use: count them here
    imported = time.perf_counter() - imported
    if p["store"] == "sqlite":
        require_tickwork_sql_store()  # its probe, not timed
    return p, imported


def run_tickwork(case: str, p: Params) -> Figures:
    """The blocking ``tickwork.Scheduler`` with a plain handler."""
    p, imported = _import_tickwork(p)
    import tickwork

    first: list[float] = []

    def handler(event: tickwork.JobEvent) -> None:
        first.append(time.perf_counter())

    t0 = time.perf_counter()
    scheduler = tickwork.Scheduler(tickwork_store(p, _path(p)), handler)
    scheduler.start()
    started = time.perf_counter()
    deadline = time.time() + 60
    while not first and time.time() < deadline:
        time.sleep(0.001)
    t_list = time.perf_counter()
    loaded = len(scheduler.list_jobs())
    listed = time.perf_counter()
    scheduler.stop()
    return {
        "first_due_s": (min(first) - t0) if first else float("nan"),
        "all_loaded_s": started - t0,
        "list_all_s": listed - t_list,
        "jobs_loaded": loaded,
        "import_s": imported,
    }


def run_tickwork_async(case: str, p: Params) -> Figures:
    """``AsyncScheduler`` with a coroutine handler."""
    p, imported = _import_tickwork(p)
    import tickwork

    async def main() -> Figures:
        first: list[float] = []
        started_one = asyncio.Event()

        async def handler(event: tickwork.JobEvent) -> None:
            first.append(time.perf_counter())
            started_one.set()

        t0 = time.perf_counter()
        scheduler = tickwork.AsyncScheduler(tickwork_store(p, _path(p)), handler)
        await scheduler.start()
        started = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(started_one.wait(), 60)
        t_list = time.perf_counter()
        loaded = len(await scheduler.list_jobs())
        listed = time.perf_counter()
        await scheduler.stop()
        return {
            "first_due_s": (min(first) - t0) if first else float("nan"),
            "all_loaded_s": started - t0,
            "list_all_s": listed - t_list,
            "jobs_loaded": loaded,
            "import_s": imported,
        }

    return asyncio.run(main())


# -- APScheduler ----------------------------------------------------------------------

_APS_FIRST: list[float] = []


def aps_noop() -> None:
    _APS_FIRST.append(time.perf_counter())


def prepare_apscheduler(case: str, p: Params) -> Figures:
    """Write the jobs as APScheduler's SQLAlchemyJobStore does, in one transaction."""
    import pickle

    from apscheduler.job import Job
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger
    from apscheduler.util import datetime_to_utc_timestamp

    store = aps_jobstores(dict(p, store=p.get("store", "sqlite")), _path(p))["default"]
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    store.start(scheduler, "default")
    rows = []
    for job_id, next_run in _times(p):
        job = Job(
            scheduler,
            id=job_id,
            func=f"{__name__}:aps_noop",
            trigger=IntervalTrigger(hours=1, start_date=next_run, timezone=UTC),
            executor="default",
            args=(),
            kwargs={},
            name=job_id,
            misfire_grace_time=3600,
            coalesce=True,
            max_instances=1,
            next_run_time=next_run,
        )
        rows.append(
            {
                "id": job.id,
                "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": pickle.dumps(job.__getstate__(), store.pickle_protocol),
            }
        )
    with store.engine.begin() as connection:
        connection.execute(store.jobs_t.insert(), rows)
    store.shutdown()
    return {"jobs": len(rows)}


def run_apscheduler(case: str, p: Params) -> Figures:
    imported = time.perf_counter()
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # noqa: F401
    from apscheduler.schedulers.background import BackgroundScheduler

    p = dict(p, store=p.get("store", "sqlite"))
    if p["store"] != "sqlite":
        aps_jobstores(p)  # its engine imports the driver (without connecting): counted here
    imported = time.perf_counter() - imported

    t0 = time.perf_counter()
    scheduler = BackgroundScheduler(jobstores=aps_jobstores(p, _path(p)), timezone=UTC)
    scheduler.start()
    started = time.perf_counter()
    deadline = time.time() + 60
    while not _APS_FIRST and time.time() < deadline:
        time.sleep(0.001)
    t_list = time.perf_counter()
    loaded = len(scheduler.get_jobs())
    listed = time.perf_counter()
    scheduler.shutdown(wait=True)
    return {
        "first_due_s": (min(_APS_FIRST) - t0) if _APS_FIRST else float("nan"),
        "all_loaded_s": (started - t0) + (listed - t_list),
        "list_all_s": listed - t_list,
        "jobs_loaded": loaded,
        "import_s": imported,
    }
