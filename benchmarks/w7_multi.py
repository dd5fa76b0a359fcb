"""W7: 1 and 3 coordinated scheduler processes on one PostgreSQL or MariaDB database.

    .venv/bin/python -m benchmarks --workloads W7                 # W7-pg and W7-mariadb
    .venv/bin/python -m benchmarks --workloads W7-pg --sides tickwork
    .venv/bin/python -m benchmarks --workloads W7 --scale 0.1 --duration 3 --repeat 1

The benchmark command's form of ``benchmarks/multi_scheduler.py``. One workload id per
database (``W7-pg``, ``W7-mariadb``; the group ``w7`` holds both), four cases, each in a
fresh schema (PostgreSQL) or database (MariaDB) that the runner makes and drops
(``benchmarks/_services.py``), so nothing else on the shared ``test`` databases is seen
or touched:

- ``burst1``, ``burst3``: 10,000 one-off jobs all due at the same instant, on 1 and on
  3 worker processes. *Runs/s* is the runs done over due → the last handler start;
  *smallest share* is the share of the burst done by the process that did the fewest
  (each should do at least a fifth, or adding processes adds nothing); *CPU* is that
  of all the worker processes from the due time until every run has started (the
  database server's is not counted).
- ``grid1``, ``grid3``: 1,000 jobs on a fixed 1 s grid spread evenly over each second
  (``StartAtIntervalSchedule``, as in W1: about one run due every millisecond) for
  10 s: lateness of every run due in the window (handler entry minus
  ``scheduled_at``), and the CPU of all the worker processes over the window (100 % =
  one core). ``multi_scheduler.py``'s grid puts every job on the same instant of the
  second instead, a burst every second, which the burst cases already measure.

**The worker processes** (``python -m benchmarks.w7_multi WORKER_SPEC``) each run a
scheduler with every option at its default but ``worker_id`` on
``create_store(url, schema=...)`` (shared, so every run is claimed in
``scheduler_claims``): ``tickwork``: the blocking ``tickwork.Scheduler`` and a plain
handler (thread pool); ``tickwork-async``: ``AsyncScheduler`` and a coroutine handler.
The measuring process writes the jobs straight into the store (as a deploy would), with
a due time far enough ahead for every worker to start and load them (``_lead``); it then
starts the workers, waits for the runs, and stops them. Each worker hands back its
handler entries; every figure is over all of them.

**Correctness**: *duplicates* are (job, scheduled time) pairs a handler entered more
than once, on any workers; *missed* are due runs no handler entered (for the grid,
within ``DRAIN`` seconds of the window's end; the tick log's coalesced and skipped
records are in the JSON); *records saved* is the ``completed`` execution records in
the database against the handler entries.

**Store round trips per run**, counted honestly inside each worker, from the moment its
``start()`` returned (its load is not counted) until its ``stop()`` returned (so the
finishes of its last runs count), over the runs it did:

- *store calls*: calls of the store's methods (the scheduler's requests, each one
  round trip to the store however many runs it carries; counted by wrapping each
  public method of the store instance);
- *store calls a run takes part in*: the same, each batched call counted once for every
  run it carries (``claim_jobs``: its runs; ``finish_runs``: its finishes; any other
  call: one), leaving out the change poll (``list_jobs_changed_since``, once a second
  whatever the runs). The target is 2: the claim and the finish;
- *transactions* (SQLAlchemy ``begin`` events) and *database round trips*, an estimate
  from SQLAlchemy's events: the pool's pre-ping on each checkout, ``BEGIN`` on
  PostgreSQL (asyncpg sends it; MySQL starts a transaction implicitly), each statement
  (``before_cursor_execute``; an ``executemany`` counts once), and ``COMMIT``.

The background work of a shared store (the poll for jobs other processes changed,
every ``sync_interval``, and lease renewals) is counted too: it is part of what the
runs cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ._common import lateness_figures, quiet_logging, require_tickwork_plugin, utc
from ._harness import Figures, Metric, Params, Workload, percentile
from ._workers import WorkerProcesses

T = TypeVar("T")
Sample = tuple[str, float, float]
"""``(job id, scheduled at, handler entered)``, timestamps from ``time.time()``."""

ROOT = Path(__file__).resolve().parent.parent
TICKWORK_SIDES = ("tickwork", "tickwork-async")
CASES = ("burst1", "burst3", "grid1", "grid3")
DRAIN = 3.0
"""Seconds the grid cases wait after their window for its last runs to start (a run
that starts later counts as missed)."""
STOP_TIMEOUT = 60.0
BACKGROUND = frozenset({"list_jobs_changed_since"})
"""Store calls a shared scheduler makes on its clock, not for any run (the change poll,
every ``sync_interval``): counted in *store calls per run*, not in the calls a run takes
part in."""


def params(scale: float, duration: float | None) -> Params:
    return {
        "jobs": max(1, round(10_000 * scale)),
        "grid_jobs": max(1, round(1_000 * scale)),
        "grid_seconds": duration if duration is not None else 10.0,
    }


def _case(case: str) -> tuple[str, int]:
    """``("burst" | "grid", processes)``."""
    return case[:-1], int(case[-1])


# -- the figures ----------------------------------------------------------------------------


def _metrics() -> tuple[Metric, ...]:
    def per_case(key: str, label: str, unit: str, cases: Sequence[str], **kw: Any) -> list[Metric]:
        found = []
        for case in cases:
            kind, procs = _case(case)
            who = f"{kind}, {procs} process{'es' if procs > 1 else ''}"
            found.append(Metric(f"{case}_{key}", f"{who}: {label}", unit, **kw))
        return found

    return (
        *per_case("runs_per_s", "runs/s", "/s", ("burst1", "burst3"), better="higher"),
        *per_case("cpu_pct", "CPU, all workers, % of one core", "%", ("burst1", "burst3")),
        Metric("burst_speedup", "burst: runs/s with 3 processes / with 1", "", "higher", 1.0),
        *per_case("by_worker", "runs per process", "", ("burst3",), better="none"),
        *per_case(
            "min_share_pct",
            "smallest share of one process",
            "%",
            ("burst3",),
            better="higher",
            target=20.0,
        ),
        *per_case("p50_ms", "lateness p50", "ms", ("grid1", "grid3")),
        *per_case("p99_ms", "lateness p99", "ms", ("grid1",)),
        *per_case("p99_ms", "lateness p99", "ms", ("grid3",), target=20.0),
        *per_case("max_ms", "lateness max", "ms", ("grid1", "grid3")),
        *per_case("cpu_pct", "CPU, all workers, % of one core", "%", ("grid1", "grid3")),
        *per_case("by_worker", "runs per process", "", ("grid3",), better="none"),
        Metric("duplicates", "runs started twice (all cases)", "", target=0, digits=0),
        Metric("missed", "due runs not started (all cases)", "", target=0, digits=0),
        Metric("records_pct", "execution records saved (all cases)", "%", "higher", 100.0, 1),
        *per_case("calls_per_run", "store calls per run", "", CASES),
        *per_case("items_per_run", "store calls a run takes part in", "", CASES, target=2.0),
        *per_case("tx_per_run", "transactions per run", "", ("burst3", "grid3")),
        *per_case("trips_per_run", "database round trips per run", "", ("burst3", "grid3")),
    )


METRICS = _metrics()


def derive(figures: Figures) -> Figures:
    """The figures over the cases of one repetition."""
    derived: Figures = {}
    one, three = figures.get("burst1_runs_per_s"), figures.get("burst3_runs_per_s")
    if isinstance(one, int | float) and isinstance(three, int | float) and one > 0:
        derived["burst_speedup"] = three / one
    for key in ("duplicates", "missed"):
        values = [figures[f"{c}_{key}"] for c in CASES if f"{c}_{key}" in figures]
        if values:
            derived[key] = sum(values)
    records = [figures[f"{c}_records_pct"] for c in CASES if f"{c}_records_pct" in figures]
    if records:
        derived["records_pct"] = min(records)
    return derived


def _workloads() -> list[Workload]:
    found = []
    for store, suffix, title in (
        ("postgresql", "pg", "PostgreSQL"),
        ("mariadb", "mariadb", "MariaDB"),
    ):
        found.append(
            Workload(
                id=f"W7-{suffix}",
                title=f"1 and 3 coordinated processes on one {title} database",
                module="w7_multi",
                metrics=METRICS,
                params=functools.partial(_params_for, store),
                sides=TICKWORK_SIDES,
                cases=CASES,
                timeout=300.0,
                notes=(
                    f"10,000 one-off jobs due at once and 1,000 jobs on a 1 s grid, on 1 and "
                    f"3 worker processes sharing {title}; duplicates, store round trips per run."
                ),
                default=False,
                service=store,
                groups=("w7",),
                derive=derive,
            )
        )
    return found


def _params_for(store: str, scale: float, duration: float | None) -> Params:
    return dict(params(scale, duration), store=store)


WORKLOADS: list[Workload] = _workloads()


# -- the worker process ---------------------------------------------------------------------


class Counts:
    """Store calls and database traffic in this process, from :meth:`reset` on."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.runs_in: Counter[str] = Counter()

    def reset(self) -> None:
        self.counts.clear()
        self.runs_in.clear()

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {"counts": dict(self.counts), "items": dict(self.runs_in)}

    def watch_database(self) -> None:
        """Count SQLAlchemy's events on every engine and pool of this process."""
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        def counter(name: str) -> Callable[..., None]:
            def count(*args: Any, **kwargs: Any) -> None:
                self.counts[name] += 1

            return count

        event.listen(Engine, "before_cursor_execute", counter("sql:statement"))
        event.listen(Engine, "begin", counter("sql:begin"))
        event.listen(Engine, "commit", counter("sql:commit"))
        event.listen(Engine, "rollback", counter("sql:rollback"))
        event.listen(Pool, "checkout", counter("sql:checkout"))

    def watch_store(self, store: Any) -> None:
        """Wrap each public coroutine method of ``store`` (on the instance, so the
        capability checks, which look at the class, see the store unchanged)."""
        import inspect

        for name in dir(type(store)):
            if name.startswith("_") or name in ("initialize", "close"):
                continue
            method = getattr(store, name)
            if inspect.iscoroutinefunction(method):
                setattr(store, name, self._counted(name, method))

    def _counted(
        self, name: str, method: Callable[..., Coroutine[Any, Any, T]]
    ) -> Callable[..., Coroutine[Any, Any, T]]:
        @functools.wraps(method)
        async def counted(*args: Any, **kwargs: Any) -> T:
            self.counts[f"store:{name}"] += 1
            first = args[0] if args else None
            carried = len(first) if name in ("claim_jobs", "finish_runs") and first else 1
            self.runs_in[name] += carried
            return await method(*args, **kwargs)

        return counted


class WorkerScheduler:
    """One worker's scheduler, either side, with a handler that records its entries."""

    def __init__(self, spec: dict[str, Any], counts: Counts) -> None:
        import tickwork

        self.side = spec["side"]
        self.samples: list[Sample] = []
        samples = self.samples
        store = tickwork.create_store(spec["url"], schema=spec["schema"])
        counts.watch_store(store)
        self.loop: asyncio.AbstractEventLoop | None = None
        if self.side == "tickwork":

            def handler(event: tickwork.JobEvent) -> None:
                samples.append((event.id, event.scheduled_at.timestamp(), time.time()))

            self.scheduler: Any = tickwork.Scheduler(store, handler, worker_id=spec["id"])
            return

        async def coroutine_handler(event: tickwork.JobEvent) -> None:
            samples.append((event.id, event.scheduled_at.timestamp(), time.time()))

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def make() -> Any:
            return tickwork.AsyncScheduler(store, coroutine_handler, worker_id=spec["id"])

        self.scheduler = self._wait(make())

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def start(self) -> None:
        if self.loop is None:
            self.scheduler.start()
        else:
            self._wait(self.scheduler.start())

    def stop(self) -> None:
        if self.loop is None:
            self.scheduler.stop()
            return
        self._wait(self.scheduler.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def worker_main(spec: dict[str, Any]) -> int:
    """A worker: ``imported`` once its scheduler is built, ``ready`` once started when
    told ``start``, then ``count`` / ``stop`` on stdin, then its result."""
    quiet_logging()

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    counts = Counts()
    counts.watch_database()
    worker = WorkerScheduler(spec, counts)
    say("imported")
    if sys.stdin.readline().strip() != "start":
        return 0
    started = time.time()
    worker.start()
    counts.reset()
    say("ready " + json.dumps({"start_s": time.time() - started}))
    while True:
        command = sys.stdin.readline().strip()
        if command == "count":
            say(f"count {len(worker.samples)}")
        else:  # "stop", or the end of the pipe
            break
    worker.stop()  # its last runs' finishes are written (and counted) by then
    counted = counts.snapshot()
    say("result " + json.dumps({"samples": worker.samples, "runs": len(worker.samples), **counted}))
    return 0


# -- the measuring process ------------------------------------------------------------------


class Workers(WorkerProcesses):
    """The worker processes of one measurement."""

    def __init__(self, side: str, p: Params, count: int) -> None:
        super().__init__()
        self.start_s: list[float] = []
        service = p["service"]
        for n in range(count):
            spec = {"side": side, "url": service["url"], "schema": service["schema"], "id": f"w{n}"}
            self.spawn("benchmarks.w7_multi", json.dumps(spec))

    def ready(self) -> None:
        self._tell("start")
        self.start_s = [json.loads(self._hear(p, "ready"))["start_s"] for p in self.processes]

    def stop(self) -> list[dict[str, Any]]:
        self._tell("stop")
        results = [json.loads(self._hear(p, "result")) for p in self.processes]
        for process in self.processes:
            process.wait(STOP_TIMEOUT)
        return results


def _lead(jobs: int, procs: int) -> float:
    """Seconds from writing the jobs to their due time: the jobs are written, then every
    worker (imported already) starts and loads every job meanwhile, on a 2-core machine."""
    return 1.5 + jobs * (0.0002 + procs * 0.00015)


def _engine_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    driver = {"postgresql": "postgresql+asyncpg", "mysql": "mysql+aiomysql"}
    name = driver.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=name).render_as_string(hide_password=False)


async def _write_jobs(p: Params, kind: str, jobs: int, lead: float) -> float:
    """Create the tables, then store the jobs, due ``lead`` seconds (rounded up to a
    whole second) after the tables are ready; return the due time."""
    import tickwork
    from tickwork.abc import BulkStore

    store = tickwork.create_store(p["service"]["url"], schema=p["service"]["schema"])
    await store.initialize()
    try:
        codec = tickwork.default_codec()
        due = math.ceil(time.time() + lead)
        now = utc(time.time())
        rows = []
        for n, (schedule, first) in enumerate(_schedules(kind, jobs, due)):
            schedule_type, config = codec.encode(schedule)
            rows.append(
                tickwork.JobData(
                    id=f"job-{n:05d}",
                    schedule_type=schedule_type,
                    schedule_config=config,
                    status=tickwork.JobStatus.PENDING,
                    next_run=utc(first),
                    created_at=now,
                    updated_at=now,
                )
            )
        assert isinstance(store, BulkStore)  # the SQL store saves in bulk
        for start in range(0, len(rows), 1000):
            await store.save_jobs(rows[start : start + 1000])
    finally:
        await store.close()
    return due


async def _record_statuses(p: Params) -> dict[str, int]:
    """How many execution records of each status the database holds."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(_engine_url(p["service"]["url"]), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            table = f"{p['service']['schema']}.scheduler_executions"
            result = await conn.execute(
                text(f"SELECT status, count(*) FROM {table} GROUP BY status")
            )
            return {str(status): int(count) for status, count in result}
    finally:
        await engine.dispose()


def _schedules(kind: str, jobs: int, due: float) -> list[tuple[Any, float]]:
    """Each job's schedule and first run: the burst's all at ``due``; the grid's spread
    evenly over each second from ``due`` on (job ``n`` of ``jobs`` at ``due + n/jobs``
    s, then every second), as in W1."""
    from datetime import timedelta

    import tickwork

    if kind == "burst":
        return [(tickwork.OnceSchedule(utc(due)), due)] * jobs
    second = timedelta(seconds=1)
    starts = [due + n / jobs for n in range(jobs)]
    return [(tickwork.StartAtIntervalSchedule(utc(at), second), at) for at in starts]


def _measure(side: str, case: str, p: Params) -> Figures:
    require_tickwork_plugin("stores", "sqlalchemy", "tickwork-sqlalchemy-store")
    kind, procs = _case(case)
    jobs = p["jobs"] if kind == "burst" else p["grid_jobs"]
    seconds = p["grid_seconds"]
    workers = Workers(side, p, procs)
    try:
        workers.imported()
        due = asyncio.run(_write_jobs(p, kind, jobs, _lead(jobs, procs)))
        workers.ready()
        slack = due - time.time()
        if slack < 0.2:
            raise RuntimeError(f"the workers took too long to start ({slack:.1f} s of lead left)")
        time.sleep(slack)
        cpu0, wall0 = workers.cpu_seconds(), time.perf_counter()
        if kind == "burst":
            deadline = due + 30 + jobs * 0.002
            while workers.count() < jobs and time.time() < deadline:
                time.sleep(0.05)
        else:
            time.sleep(max(0.0, due + seconds - time.time()))
        cpu = 100.0 * (workers.cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
        if kind == "grid":
            time.sleep(DRAIN)
        results = workers.stop()
    finally:
        workers.kill()
    expected = jobs if kind == "burst" else jobs * round(seconds)
    figures = _figures(kind, results, due, expected, seconds, p["store"] == "postgresql")
    figures["cpu_pct"] = cpu
    statuses = asyncio.run(_record_statuses(p))
    figures["records"] = statuses
    figures["records_pct"] = 100.0 * statuses.get("completed", 0) / max(1, figures["entries"])
    figures["start_s"] = max(workers.start_s)
    return {f"{case}_{key}": value for key, value in figures.items()}


def _figures(
    kind: str,
    results: list[dict[str, Any]],
    due: float,
    expected: int,
    seconds: float,
    postgres: bool,
) -> Figures:
    per_worker = [[(str(j), float(at), float(t)) for j, at, t in r["samples"]] for r in results]
    every = [s for samples in per_worker for s in samples]
    entries = len(every)
    if kind == "grid":  # the ticks of the window
        every = [s for s in every if due <= s[1] < due + seconds - 1e-6]
        per_worker = [
            [s for s in samples if due <= s[1] < due + seconds - 1e-6] for samples in per_worker
        ]
    repeats = Counter((job_id, round(at, 3)) for job_id, at, _ in every)
    figures: Figures = {
        "entries": entries,
        "runs": len(every),
        "duplicates": sum(n - 1 for n in repeats.values() if n > 1),
        "missed": max(0, expected - len(repeats)),
        "by_worker": "/".join(str(len(samples)) for samples in per_worker),
        "min_share_pct": 100.0 * min(len(s) for s in per_worker) / max(1, len(every)),
    }
    if kind == "burst":
        last = max((t for _, _, t in every), default=math.nan) - due
        figures["runs_per_s"] = len(every) / last if last > 0 else math.nan
        figures["last_start_s"] = last
    else:
        lateness = lateness_figures([t - at for _, at, t in every])
        figures.update({k.replace("lateness_", ""): v for k, v in lateness.items()})
        figures["p99_ms_by_second"] = [  # where in the window the late runs are
            round(percentile([1000 * (t - at) for _, at, t in every if int(at - due) == n], 99), 1)
            for n in range(round(seconds))
        ]
    counted = Counter[str]()
    items = Counter[str]()
    runs = 0
    for result in results:
        counted.update(result["counts"])
        items.update(result["items"])
        runs += result["runs"]
    runs = max(1, runs)
    store_calls = sum(n for name, n in counted.items() if name.startswith("store:"))
    trips = counted["sql:checkout"] + counted["sql:statement"] + counted["sql:commit"]
    if postgres:  # asyncpg sends BEGIN; MySQL starts a transaction implicitly
        trips += counted["sql:begin"]
    figures.update(
        {
            "calls_per_run": store_calls / runs,
            # The change poll runs once per sync_interval whatever the runs: not a run's.
            # Rounded as printed: one start-up call in 10,000 runs is not a third call.
            "items_per_run": round(
                sum(n for k, n in items.items() if k not in BACKGROUND) / runs, 3
            ),
            "tx_per_run": counted["sql:begin"] / runs,
            "sql_per_run": counted["sql:statement"] / runs,
            "trips_per_run": trips / runs,
            "store_calls": dict(
                sorted(
                    (k.removeprefix("store:"), v)
                    for k, v in counted.items()
                    if k.startswith("store:")
                )
            ),
        }
    )
    return figures


def run_tickwork(case: str, p: Params) -> Figures:
    """Blocking ``tickwork.Scheduler`` workers with plain handlers."""
    return _measure("tickwork", case, p)


def run_tickwork_async(case: str, p: Params) -> Figures:
    """``AsyncScheduler`` workers with coroutine handlers."""
    return _measure("tickwork-async", case, p)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(worker_main(json.loads(sys.argv[1])))
