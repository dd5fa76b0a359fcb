"""W8: a million jobs, in memory (W8-mem), in SQLite (W8-sqlite) and PostgreSQL (W8-pg).

Opt-in (group ``w8``): a full-size run takes many minutes and gigabytes. ``--scale``
sets the size: 1 is 1,000,000 jobs, ``--scale 0.1`` is 100,000. Every job is an hourly
interval job; in the databases, ``due`` (10) of them are overdue and the rest come due
over a day from two hours after seeding (``first_in``), so that none runs in the idle
window (a million over a day would be 12 runs a second).

One workload per store, so that ``--workloads W8-mem --scale 1`` runs the million in
memory alone; each is a process of its own per side and repetition:

- ``memory``: a running scheduler on the memory store takes every job in one call
  (tickwork ``add_jobs``; APScheduler 3.11 has no bulk add, so one ``add_job`` each);
  then RSS per job, idle CPU, listing and paging;
- ``sqlite`` / ``postgresql``: the jobs are already in the database (a prepare step,
  not timed, writes them with the store's bulk ``save_jobs`` in chunks of
  :data:`CHUNK`; APScheduler's rows with one multi-row insert, as in W4). Timed from
  constructing the scheduler: the first overdue run starts, every job is armed
  (tickwork: ``start()`` returned; APScheduler, which never holds its jobs, ``start()``
  plus one ``get_jobs()``, as in W4); then RSS per job, idle CPU, listing, paging, and
  adding ``extra`` more jobs to the full store.

RSS per job: the process's RSS after a garbage collection, once the jobs are in,
minus the RSS before the scheduler got them (after the imports), over the jobs.
Freed temporaries that the allocator keeps count too: it is what a user's process
shows. Paging: ``tickwork.StoreQueries(store).query_jobs(JobQuery(limit=50,
offset=...))`` at the first, middle and last page (``paged in the store`` says whether
the store answered it or StoreQueries listed every job and sliced); the blocking
``Scheduler`` has no paging call of its own, so the query runs on its loop through
its private ``_call``. APScheduler 3.11 has no paging: its rows are empty there.
"""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, timedelta
from typing import Any

from . import w4_cold_start
from ._common import (
    CpuWindow,
    aps_jobstores,
    rss_bytes,
    tickwork_store,
    utc,
)
from ._harness import Figures, Metric, Params, Workload

CHUNK = 20_000
"""Jobs per ``save_jobs`` call when seeding (one statement and transaction each)."""

NAMES = {"memory": ("mem", "memory"), "sqlite": ("sqlite", "SQLite"), "postgresql": ("pg", "PG")}
BOTH = ("tickwork", "apscheduler")


def params(scale: float, duration: float | None) -> Params:
    jobs = max(100, round(1_000_000 * scale))
    return {
        "jobs": jobs,
        "due": 10,
        "extra": min(10_000, max(1, jobs // 10)),
        # A million jobs over a day is 12 runs a second: none may come due before the
        # idle window is over, so the first is due two hours after seeding.
        "first_in": 7200,
        "duration": duration if duration is not None else 10.0,
    }


def _metrics(case: str) -> tuple[Metric, ...]:
    key, name = NAMES[case]
    tickwork_only = ("tickwork",)
    rows: list[Metric] = []
    if case == "memory":
        rows.append(
            Metric(f"{key}_add_per_s", f"{name}: add every job", "/s", better="higher", digits=0)
        )
    else:
        rows += [
            Metric(f"{key}_first_due_s", f"{name}: construct → first due run", "s", target=1.0),
            Metric(f"{key}_all_armed_s", f"{name}: construct → every job armed", "s"),
        ]
    rows += [
        Metric(
            f"{key}_bytes_per_job",
            f"{name}: RSS per job",
            "B",
            target=512.0 if case == "memory" else None,
            digits=0,
        ),
        Metric(f"{key}_idle_cpu_pct", f"{name}: idle CPU, % of one core", "%", target=0.5),
        Metric(f"{key}_list_s", f"{name}: list every job", "s", digits=3),
        Metric(f"{key}_page_first_ms", f"{name}: page 1 of 50", "ms", sides=tickwork_only),
        Metric(f"{key}_page_mid_ms", f"{name}: middle page", "ms", sides=tickwork_only),
        Metric(f"{key}_page_last_ms", f"{name}: last page", "ms", sides=tickwork_only),
        Metric(
            f"{key}_paged_natively",
            f"{name}: paged in the store",
            "",
            better="none",
            sides=tickwork_only,
        ),
    ]
    if case != "memory":
        rows.append(
            Metric(
                f"{key}_extra_per_s",
                f"{name}: add more jobs to the full store",
                "/s",
                better="higher",
                digits=0,
            )
        )
    return tuple(rows)


def _with_store(store: str) -> Any:
    def store_params(scale: float, duration: float | None) -> Params:
        return dict(params(scale, duration), store=store)

    return store_params


WORKLOADS = [
    Workload(
        id="W8-mem",
        title="a million jobs in the memory store",
        module="w8_scale",
        metrics=_metrics("memory"),
        params=_with_store("memory"),
        sides=BOTH,
        cases=("memory",),
        timeout=3600.0,
        default=False,
        groups=("w8",),
        notes="1,000,000 hourly jobs at --scale 1 (100,000 at 0.1), added at once: RSS, "
        "idle CPU, list, pages. tickwork adds in bulk, APScheduler 3.11 one by one.",
    ),
    Workload(
        id="W8-sqlite",
        title="a million jobs persisted in SQLite",
        module="w8_scale",
        metrics=_metrics("sqlite"),
        params=_with_store("sqlite"),
        sides=BOTH,
        cases=("sqlite",),
        prepare=frozenset(BOTH),
        timeout=3600.0,
        default=False,
        groups=("w8",),
        notes="W8-mem's jobs already in SQLite, 10 overdue: start-up, RSS, idle CPU, "
        "list, pages, 10,000 more adds.",
    ),
    Workload(
        id="W8-pg",
        title="a million jobs persisted in PostgreSQL",
        module="w8_scale",
        metrics=_metrics("postgresql"),
        params=_with_store("postgresql"),
        sides=BOTH,
        cases=("postgresql",),
        prepare=frozenset(BOTH),
        service="postgresql",
        timeout=3600.0,
        default=False,
        groups=("w8",),
        notes="W8-sqlite on PostgreSQL, seeded before every measurement.",
    ),
]


def _store_params(case: str, p: Params) -> Params:
    return dict(p, store=case if case != "main" else p.get("store", "sqlite"))


def _baseline() -> int:
    gc.collect()
    return rss_bytes()


def _figures(case: str, values: dict[str, Any]) -> Figures:
    key = NAMES[case][0]
    return {f"{key}_{name}": value for name, value in values.items()}


def _idle_cpu_pct(duration: float) -> float:
    time.sleep(0.5)
    with CpuWindow() as window:
        time.sleep(duration)
    return window.core_percent


# -- tickwork -------------------------------------------------------------------------


def _seed_jobs(p: Params) -> Any:
    """The database's jobs as ``JobData``, in chunks (W4's times: ``due`` overdue)."""
    import tickwork

    codec = tickwork.default_codec()
    kind, config = codec.encode(tickwork.IntervalSchedule(timedelta(hours=1)))
    created = utc(time.time() - 86_400)
    chunk: list[Any] = []
    for job_id, next_run in w4_cold_start._times(p):
        chunk.append(
            tickwork.JobData(
                id=job_id,
                schedule_type=kind,
                schedule_config=config,
                next_run=next_run,
                last_run=next_run - timedelta(hours=1),
                created_at=created,
                updated_at=created,
            )
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prepare_tickwork(case: str, p: Params) -> Figures:
    """Seed the database with the store's bulk ``save_jobs``, chunk by chunk."""
    p = _store_params(case, p)

    async def main() -> Figures:
        store = tickwork_store(p, w4_cold_start._path(p))
        await store.initialize()
        started = time.perf_counter()
        try:
            for chunk in _seed_jobs(p):
                await store.save_jobs(chunk)
        finally:
            await store.close()
        return {"seed_per_s": p["jobs"] / (time.perf_counter() - started)}

    return asyncio.run(main())


def _pages(scheduler: Any, jobs: int) -> dict[str, Any]:
    import tickwork

    queries = tickwork.StoreQueries(scheduler.store)
    values: dict[str, Any] = {"paged_natively": queries.native}
    for name, offset in (("first", 0), ("mid", jobs // 2), ("last", max(0, jobs - 50))):
        started = time.perf_counter()
        page = scheduler.run_on_loop(queries.query_jobs(tickwork.JobQuery(limit=50, offset=offset)))
        values[f"page_{name}_ms"] = (time.perf_counter() - started) * 1000
        if len(page.jobs) != min(50, jobs - offset):
            raise RuntimeError(f"page at offset {offset} has {len(page.jobs)} jobs")
    return values


def _list_s(list_jobs: Any, jobs: int) -> float:
    started = time.perf_counter()
    count = len(list_jobs())
    if count < jobs:
        raise RuntimeError(f"listed {count} jobs of {jobs}")
    return time.perf_counter() - started


def _tickwork_memory(p: Params) -> Figures:
    import tickwork

    jobs = p["jobs"]
    scheduler = tickwork.Scheduler(tickwork.MemoryStore(), lambda event: None)
    scheduler.start()
    try:
        rss0 = _baseline()
        hourly = tickwork.IntervalSchedule(timedelta(hours=1))  # shared, as on APS's side
        items = [(f"job-{i:07d}", hourly) for i in range(jobs)]
        started = time.perf_counter()
        scheduler.add_jobs(items)
        added = time.perf_counter() - started
        del items
        values: dict[str, Any] = {
            "add_per_s": jobs / added,
            "bytes_per_job": (_baseline() - rss0) / jobs,
            "idle_cpu_pct": _idle_cpu_pct(p["duration"]),
            "list_s": _list_s(scheduler.list_jobs, jobs),
            **_pages(scheduler, jobs),
        }
    finally:
        scheduler.stop()
    return _figures("memory", values)


def _tickwork_database(case: str, p: Params) -> Figures:
    p, _ = w4_cold_start._import_tickwork(_store_params(case, p))
    import tickwork

    first: list[float] = []
    jobs = p["jobs"]
    rss0 = _baseline()
    t0 = time.perf_counter()
    scheduler = tickwork.Scheduler(
        tickwork_store(p, w4_cold_start._path(p)), lambda event: first.append(time.perf_counter())
    )
    scheduler.start()
    try:
        armed = time.perf_counter() - t0
        deadline = time.time() + 120
        while not first and time.time() < deadline:
            time.sleep(0.001)
        values: dict[str, Any] = {
            "first_due_s": (first[0] - t0) if first else float("nan"),
            "all_armed_s": armed,
            "bytes_per_job": (_baseline() - rss0) / jobs,
            "idle_cpu_pct": _idle_cpu_pct(p["duration"]),
            "list_s": _list_s(scheduler.list_jobs, jobs),
            **_pages(scheduler, jobs),
        }
        hourly = tickwork.IntervalSchedule(timedelta(hours=1))
        items = [(f"extra-{i:07d}", hourly) for i in range(p["extra"])]
        started = time.perf_counter()
        scheduler.add_jobs(items)
        values["extra_per_s"] = len(items) / (time.perf_counter() - started)
    finally:
        scheduler.stop()
    return _figures(case, values)


def run_tickwork(case: str, p: Params) -> Figures:
    """The blocking ``tickwork.Scheduler`` (APScheduler's ``BackgroundScheduler`` peer)."""
    if case == "memory":
        return _tickwork_memory(p)
    return _tickwork_database(case, p)


# -- APScheduler 3.11 -----------------------------------------------------------------


def aps_noop() -> None:
    return None


def prepare_apscheduler(case: str, p: Params) -> Figures:
    """W4's rows (pickled jobs, one multi-row insert), at W8's size."""
    return w4_cold_start.prepare_apscheduler(case, _store_params(case, p))


def _aps_memory(p: Params) -> Figures:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    jobs = p["jobs"]
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start()
    try:
        rss0 = _baseline()
        hourly = IntervalTrigger(hours=1, timezone=UTC)  # shared, as on tickwork's side
        ids = [f"job-{i:07d}" for i in range(jobs)]
        started = time.perf_counter()
        for job_id in ids:
            scheduler.add_job(aps_noop, hourly, id=job_id)
        added = time.perf_counter() - started
        del ids
        values: dict[str, Any] = {
            "add_per_s": jobs / added,
            "bytes_per_job": (_baseline() - rss0) / jobs,
            "idle_cpu_pct": _idle_cpu_pct(p["duration"]),
            "list_s": _list_s(scheduler.get_jobs, jobs),
        }
    finally:
        scheduler.shutdown(wait=True)
    return _figures("memory", values)


def _aps_database(case: str, p: Params) -> Figures:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # noqa: F401
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    p = _store_params(case, p)
    jobs = p["jobs"]
    jobstores = aps_jobstores(p, w4_cold_start._path(p))
    first = w4_cold_start._APS_FIRST  # the prepared jobs run w4_cold_start.aps_noop
    rss0 = _baseline()
    t0 = time.perf_counter()
    scheduler = BackgroundScheduler(jobstores=jobstores, timezone=UTC)
    scheduler.start()
    try:
        started = time.perf_counter() - t0
        deadline = time.time() + 120
        while not first and time.time() < deadline:
            time.sleep(0.001)
        listed = _list_s(scheduler.get_jobs, jobs)
        values: dict[str, Any] = {
            "first_due_s": (first[0] - t0) if first else float("nan"),
            "all_armed_s": started + listed,
            "bytes_per_job": (_baseline() - rss0) / jobs,
            "idle_cpu_pct": _idle_cpu_pct(p["duration"]),
            "list_s": listed,
        }
        hourly = IntervalTrigger(hours=1, timezone=UTC)
        ids = [f"extra-{i:07d}" for i in range(p["extra"])]
        started = time.perf_counter()
        for job_id in ids:
            scheduler.add_job(f"{__name__}:aps_noop", hourly, id=job_id)
        values["extra_per_s"] = len(ids) / (time.perf_counter() - started)
    finally:
        scheduler.shutdown(wait=True)
    return _figures(case, values)


def run_apscheduler(case: str, p: Params) -> Figures:
    """``BackgroundScheduler``: its memory job store, or its ``SQLAlchemyJobStore``."""
    if case == "memory":
        return _aps_memory(p)
    return _aps_database(case, p)
