"""Helpers the workload sides share inside a child process.

Nothing here imports tickwork or APScheduler at module level: a child measuring one
library never loads the other.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ._harness import Figures, Params, percentile

MIB = 1024 * 1024


class Unavailable(Exception):
    """A side cannot run here (a store that is not installed or not working yet)."""


def quiet_logging() -> None:
    """Both libraries log at ERROR only, so neither pays for printing warnings.

    (APScheduler warns once per missed run; those counts are reported as figures.)
    """
    logging.basicConfig(level=logging.ERROR)
    for name in ("apscheduler", "tickwork"):
        logging.getLogger(name).setLevel(logging.ERROR)


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def utc(timestamp: float) -> datetime:
    """An aware UTC datetime for a ``time.time()`` value (microsecond precision)."""
    return datetime.fromtimestamp(timestamp, UTC)


class CpuWindow:
    """CPU time (every thread of the process) and wall time over a window."""

    def __init__(self) -> None:
        self.cpu0 = self.cpu1 = 0.0
        self.wall0 = self.wall1 = 0.0

    def __enter__(self) -> CpuWindow:
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu1, self.wall1 = time.process_time(), time.perf_counter()

    @property
    def cpu_seconds(self) -> float:
        return self.cpu1 - self.cpu0

    @property
    def core_percent(self) -> float:
        wall = self.wall1 - self.wall0
        return 100.0 * self.cpu_seconds / wall if wall > 0 else math.nan


def sleep_until(timestamp: float) -> None:
    delay = timestamp - time.time()
    if delay > 0:
        time.sleep(delay)


async def asleep_until(timestamp: float) -> None:
    delay = timestamp - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


def lateness_figures(lateness_seconds: Sequence[float]) -> Figures:
    ms = [value * 1000.0 for value in lateness_seconds]
    return {
        "lateness_p50_ms": percentile(ms, 50),
        "lateness_p99_ms": percentile(ms, 99),
        "lateness_max_ms": max(ms) if ms else math.nan,
    }


def sqlite_url(path: str) -> str:
    return f"sqlite:///{os.path.abspath(path)}"


@functools.cache
def tickwork_sql_store_problem() -> str | None:
    """Why tickwork's SQLite store cannot be benchmarked here, or None when it works.

    The store must be registered and round-trip a job and an execution record.
    """
    try:
        import tickwork
    except ImportError as exc:  # pragma: no cover - the workspace installs it
        return f"tickwork not importable: {exc}"
    if "sqlalchemy" not in tickwork.available_plugins().get("stores", []):
        return "store not available: the 'sqlalchemy' store plugin is not installed"

    async def round_trip(path: str) -> None:
        from datetime import timedelta

        store = tickwork.create_store(sqlite_url(path))
        await store.initialize()
        try:
            now = datetime.now(UTC)
            job = tickwork.JobData(id="probe", schedule_type="interval", schedule_config="1s")
            await store.save_job(job)
            if (await store.get_job("probe")).id != "probe":
                raise RuntimeError("get_job returned another job")
            record = tickwork.ExecutionRecord(
                job_id="probe",
                execution_id="probe-1",
                start_time=now,
                end_time=now + timedelta(milliseconds=1),
            )
            await store.save_execution(record)
            if len(await store.list_executions("probe")) != 1:
                raise RuntimeError("the execution record did not round-trip")
        finally:
            await store.close()

    import tempfile
    import threading

    failures: list[BaseException] = []

    def probe(path: str) -> None:
        # A thread of its own, so the probe works from inside a running event loop too.
        try:
            asyncio.run(round_trip(path))
        except BaseException as exc:
            failures.append(exc)

    with tempfile.TemporaryDirectory(prefix="tickwork-bench-probe-") as folder:
        thread = threading.Thread(target=probe, args=(os.path.join(folder, "probe.db"),))
        thread.start()
        thread.join()
    if failures:
        return f"store not available: the SQLite store does not round-trip ({failures[0]!r})"
    return None


def require_tickwork_sql_store() -> None:
    problem = tickwork_sql_store_problem()
    if problem is not None:
        raise Unavailable(problem)


# -- the stores of the variants (W1-pg, W5-nats, ...) ------------------------------------

STORE_PLUGINS = {
    "sqlite": ("sqlalchemy", "tickwork-sqlalchemy-store"),
    "postgresql": ("sqlalchemy", "tickwork-sqlalchemy-store"),
    "mariadb": ("sqlalchemy", "tickwork-sqlalchemy-store"),
    "nats": ("nats", "tickwork-nats-store"),
}


def require_tickwork_plugin(kind: str, name: str, distribution: str) -> None:
    """Raise :class:`Unavailable` unless tickwork has the ``kind`` plugin ``name``."""
    import tickwork

    if name not in tickwork.available_plugins().get(kind, []):
        raise Unavailable(
            f"the {name!r} {kind[:-1]} plugin is not installed: pip install {distribution}"
        )


def tickwork_store(p: Params, sqlite_path: str | None = None) -> Any:
    """A new (not yet initialised) tickwork store for ``p["store"]``.

    ``memory`` and ``sqlite`` (a file at ``sqlite_path``) are local; ``postgresql``,
    ``mariadb`` and ``nats`` use the fresh namespace the runner made for this process
    (``p["service"]``, see ``benchmarks/_services.py``). Every store keeps its defaults:
    the SQL stores are ``shared``, so the scheduler claims each run in the database.
    """
    import tickwork

    kind = p.get("store", "memory")
    if kind == "memory":
        return tickwork.MemoryStore()
    if kind == "sqlite":
        require_tickwork_sql_store()
        assert sqlite_path is not None
        return tickwork.create_store(sqlite_url(sqlite_path))
    require_tickwork_plugin("stores", *STORE_PLUGINS[kind])
    service = p["service"]
    if kind == "nats":
        return tickwork.create_store(service["url"])
    return tickwork.create_store(service["url"], schema=service["schema"])


def aps_sql_url(p: Params) -> str:
    """The URL of the runner's SQL server with a blocking driver, for APScheduler.

    :raises Unavailable: no blocking driver for that database is installed.
    """
    import importlib.util

    from sqlalchemy.engine import make_url

    url = make_url(p["service"]["url"])
    if p["store"] == "mariadb":
        if importlib.util.find_spec("pymysql") is None:
            raise Unavailable("APScheduler needs a blocking MySQL driver: pip install pymysql")
        url = url.set(drivername="mysql+pymysql").update_query_dict({"charset": "utf8mb4"})
        return url.render_as_string(hide_password=False)
    for module, driver in (("psycopg2", "psycopg2"), ("psycopg", "psycopg")):
        if importlib.util.find_spec(module) is not None:
            url = url.set(drivername=f"postgresql+{driver}")
            return url.render_as_string(hide_password=False)
    raise Unavailable(
        "APScheduler's SQLAlchemyJobStore needs a blocking PostgreSQL driver and none is "
        "installed (tickwork uses asyncpg): pip install psycopg2-binary (or psycopg[binary])"
    )


def aps_jobstores(p: Params, sqlite_path: str | None = None) -> dict[str, Any]:
    """APScheduler's job stores for ``p["store"]``: none (its memory store) or SQL."""
    kind = p.get("store", "memory")
    if kind == "memory":
        return {}
    if kind == "nats":
        raise Unavailable("APScheduler 3.11 has no NATS job store")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    if kind == "sqlite":
        assert sqlite_path is not None
        return {"default": SQLAlchemyJobStore(url=f"sqlite:///{sqlite_path}")}
    return {"default": SQLAlchemyJobStore(url=aps_sql_url(p), tableschema=p["service"]["schema"])}


class ServerCpu:
    """CPU of the runner's nats-server (``p["service"]["pid"]``) over a window.

    The SQL servers are shared by every connection on the machine, so only the NATS
    server, which serves this one measurement, has a figure of its own.
    """

    def __init__(self, p: Params) -> None:
        self.process: Any = None
        pid = (p.get("service") or {}).get("pid")
        if pid:
            import psutil

            self.process = psutil.Process(pid)
        self.cpu0 = self.wall0 = self.cpu1 = self.wall1 = 0.0

    def _cpu(self) -> float:
        assert self.process is not None
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def __enter__(self) -> ServerCpu:
        if self.process is not None:
            self.cpu0, self.wall0 = self._cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.cpu1, self.wall1 = self._cpu(), time.perf_counter()

    def figures(self) -> Figures:
        if self.process is None or self.wall1 <= self.wall0:
            return {}
        return {"server_cpu_pct": 100.0 * (self.cpu1 - self.cpu0) / (self.wall1 - self.wall0)}


RUN_OUTCOMES = frozenset({"completed", "failed", "timed_out"})


async def count_tickwork_records(store: Any, job_ids: Iterable[str]) -> int:
    """How many records of runs that happened ``store`` holds for ``job_ids``.

    The tick log also records runs that did not happen (skipped, missed, coalesced);
    those are not counted. Opens and closes the store. Up to 16 jobs are listed at once
    (a round trip each on the SQL servers). The NATS KV store is read in one pass
    instead: each of its ``list_executions`` calls is a consumer of its own, which the
    server keeps for a few seconds, and thousands of calls in a row reach the server's
    limit of consumers ("maximum consumers limit reached").
    """
    await store.initialize()
    try:
        if type(store).__name__ == "NATSStore":
            return await _count_nats_records(store, job_ids)
        limit = asyncio.Semaphore(16)

        async def count(job_id: str) -> int:
            async with limit:
                records = await store.list_executions(job_id)
            return sum(1 for r in records if str(r.status.value) in RUN_OUTCOMES)

        return sum(await asyncio.gather(*(count(job_id) for job_id in job_ids)))
    finally:
        await store.close()


def has_bulk_add(scheduler: Any) -> bool:
    return callable(getattr(scheduler, "add_jobs", None))


async def _count_nats_records(store: Any, job_ids: Iterable[str]) -> int:
    """The records of ``job_ids`` in the NATS KV store, read with one KV watcher.

    Uses the documented layout (``docs/stores/nats.md``): bucket ``SCHEDULER_EXECUTIONS``,
    keys ``rec.<escaped job id>.<escaped execution id>``, JSON documents with ``status``.
    """
    import json

    from tickwork_nats_store import encode_id

    wanted = {encode_id(job_id) for job_id in job_ids}
    bucket = await store.jetstream.key_value("SCHEDULER_EXECUTIONS")
    watcher = await bucket.watch("rec.>", ignore_deletes=True)
    total = 0
    try:
        while True:
            entry = await watcher.updates(timeout=30)
            if entry is None:  # every current value has been delivered
                return total
            job = entry.key.split(".")[1]
            if job in wanted and json.loads(entry.value)["status"] in RUN_OUTCOMES:
                total += 1
    finally:
        await watcher.stop()
