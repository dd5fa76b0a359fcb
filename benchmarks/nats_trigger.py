"""W1, W2 and W4 with the NATS trigger, on 1 and 3 worker processes (opt-in variants).

    .venv/bin/python -m benchmarks --workloads nats-trigger
    .venv/bin/python -m benchmarks --workloads W1-nats,W1-nats-trig1,W1-nats-trig3

``W1-nats-trig1`` and ``W1-nats-trig3`` (and the same for W2 and W4) sit right under
``W1-nats`` in the table: the same NATS KV store with the local trigger, so the only
difference between those blocks is the trigger, then the number of workers.

**Every worker** is a scheduler on the NATS KV store with the NATS trigger, on the
fresh nats-server (2.12+) the runner starts for the measurement, with every option at
its default: ``tickwork``: ``tickwork.Scheduler(url, handler, trigger="nats")`` and a
plain handler (thread pool); ``tickwork-async``: ``AsyncScheduler(url, handler,
trigger="nats")`` and a coroutine handler, on an event loop in a thread of its own so
that both sides share one driving code (the trigger borrows the store's connection,
which is what ``create_nats_scheduler`` builds). The measuring process is the first
worker; with 3 workers it starts two more processes of the same side (``python -m
benchmarks.nats_trigger WORKER_SPEC``) on the same server. Those import everything
before the clock starts, start their scheduler when told (over a pipe), and hand their
handler starts back when stopped. Times are ``time.time()`` on one machine, so they
compare across the processes. Every figure is over **all the workers**:

- **W1-nats-trig**: the jobs of W1 are added to the first worker before it starts
  (saved to the store and armed in the stream); the others start after it and load
  them. The window opens on a grid point once every worker runs. Lateness is handler
  entry minus the run's ``scheduled_at`` (the exact time the trigger's message carries),
  over every worker's runs scheduled in the window (and started at most 2 s after its
  end: the server fires late, see ``DRAIN``); *runs done / due* counts them against the
  due runs; *CPU* is the sum of the worker processes' CPU time over the
  window (100 % = one core), and the nats-server's CPU is a figure of its own.
- **W2-nats-trig**: every worker runs; then the first adds the 10,000 one-off jobs with
  one ``add_jobs`` (the due instant leaves time for it); due → the last handler start
  on any worker. *Dropped* are the jobs no worker started within the deadline.
- **W4-nats-trig**: the prepare step writes the 10,000 jobs (10 overdue) into the KV
  store only, so the trigger's stream is empty: a *first start*, which arms every job.
  Every worker constructs its scheduler at the same moment ``t0`` (the others are told
  over their pipe); *first due run* is ``t0`` → the first overdue handler start on any
  worker, *all loaded* ``t0`` → the last worker's ``start()`` returned; *list every
  job* and *jobs loaded* are the first worker's.

Every block also counts **duplicates** (a job and scheduled time started twice, on any
workers: there must be none), the runs each worker did, (W1, W2) the execution records
in the store against the handler starts, and the workers whose ``stop()`` did not
return within a minute (``STOP_TIMEOUT``; such a worker is left behind and the
measurement completes without waiting for it, instead of running into the timeout).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import cProfile
import gc
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from . import w1_interval, w2_burst, w4_cold_start
from ._common import (
    ServerCpu,
    count_tickwork_records,
    lateness_figures,
    quiet_logging,
    require_tickwork_plugin,
    sleep_until,
)
from ._harness import Figures, Metric, Params, Workload
from ._workers import WorkerProcesses

T = TypeVar("T")
Sample = tuple[str, float, float]
"""``(job id, scheduled at, handler started)``, the timestamps from ``time.time()``."""

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 60.0
"""How long a worker's ``stop()`` may take. One that takes longer is counted as hung
(the *stop() hung* figure) and left behind, and the measurement goes on."""
DRAIN = 2.0
"""Seconds W1 waits after its window before stopping: the server fires a schedule up to
about a quarter of a second late, so the runs due at the end of the window start after
it; they count (with their lateness) if they start within this time."""
TICKWORK_SIDES = ("tickwork", "tickwork-async")
WORKER_COUNTS = (1, 3)

DUPLICATES = Metric("duplicates", "runs started twice", "", target=0, digits=0)
BY_WORKER = Metric("by_worker", "runs per worker", "", better="none")
STOP_HUNG = Metric("stop_hung", "workers whose stop() hung (> 60 s)", "", target=0, digits=0)
SERVER_CPU = Metric("server_cpu_pct", "nats-server CPU, % of one core", "%", digits=1)
CORRECTNESS = frozenset({"runs_pct", "records_pct", "dropped"})


def _untargeted(metrics: Iterable[Metric]) -> tuple[Metric, ...]:
    return tuple(m if m.key in CORRECTNESS else replace(m, target=None) for m in metrics)


def _w1_metrics() -> tuple[Metric, ...]:
    metrics = []
    for metric in _untargeted(w1_interval.METRICS):
        if metric.key == "cpu_core_pct":
            metric = replace(metric, label="CPU, all workers, % of one core")
        metrics.append(metric)
    return (*metrics, SERVER_CPU, DUPLICATES, BY_WORKER, STOP_HUNG)


def _params(
    base: Callable[[float, float | None], Params], workers: int
) -> Callable[[float, float | None], Params]:
    def params(scale: float, duration: float | None) -> Params:
        return dict(base(scale, duration), store="nats", workers=workers)

    return params


def _workloads() -> list[Workload]:
    found = []
    for workers in WORKER_COUNTS:
        who = "1 worker" if workers == 1 else f"{workers} worker processes"
        common: dict[str, Any] = {
            "module": "nats_trigger",
            "sides": TICKWORK_SIDES,
            "service": "nats",
            "default": False,
            "groups": ("backends", "nats-trigger"),
        }
        found += [
            Workload(
                id=f"W1-nats-trig{workers}",
                title=f"W1 with the NATS trigger and the NATS KV store, {who}",
                metrics=_w1_metrics(),
                params=_params(w1_interval.params, workers),
                cases=("interval",),
                timeout=300.0,
                notes=f"1,000 jobs on a fixed 1 s grid, fired by JetStream, {who}.",
                **common,
            ),
            Workload(
                id=f"W2-nats-trig{workers}",
                title=f"W2 with the NATS trigger and the NATS KV store, {who}",
                metrics=(*_untargeted(w2_burst.METRICS), DUPLICATES, BY_WORKER, STOP_HUNG),
                params=_params(w2_burst.params, workers),
                cases=("burst",),
                timeout=400.0,
                notes=f"10,000 one-off jobs due at once, fired by JetStream, {who}.",
                **common,
            ),
            Workload(
                id=f"W4-nats-trig{workers}",
                title=f"cold start with the NATS trigger over jobs in NATS KV, {who}",
                metrics=(*_untargeted(w4_cold_start.METRICS), BY_WORKER, STOP_HUNG),
                params=_params(w4_cold_start.params, workers),
                cases=("cold-start",),
                prepare=frozenset(TICKWORK_SIDES),
                timeout=300.0,
                notes=f"10,000 hourly jobs in NATS KV, 10 overdue; first start, {who}.",
                **common,
            ),
        ]
    return found


# -- one scheduler, driven from plain code ------------------------------------------------


class Driver:
    """One worker's scheduler, for either side, with a handler that records its starts.

    ``tickwork``: the blocking facade and a plain handler. ``tickwork-async``: an
    ``AsyncScheduler`` with a coroutine handler, on an event loop in a thread of its
    own; each call below waits for its coroutine there.
    """

    def __init__(self, side: str, url: str) -> None:
        import tickwork

        require_tickwork_plugin("stores", "nats", "tickwork-nats-store")
        require_tickwork_plugin("triggers", "nats", "tickwork-nats-trigger")
        self.side = side
        self.url = url
        self.samples: list[Sample] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        samples = self.samples
        if side == "tickwork":

            def handler(event: tickwork.JobEvent) -> None:
                samples.append((event.id, event.scheduled_at.timestamp(), time.time()))

            self.scheduler: Any = tickwork.Scheduler(url, handler, trigger="nats")
            return

        async def coroutine_handler(event: tickwork.JobEvent) -> None:
            samples.append((event.id, event.scheduled_at.timestamp(), time.time()))

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def make() -> Any:
            return tickwork.AsyncScheduler(url, coroutine_handler, trigger="nats")

        self.scheduler = self._wait(make())

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def start(self) -> None:
        if self.side == "tickwork":
            self.scheduler.start()
        else:
            self._wait(self.scheduler.start())

    def add_job(self, job_id: str, schedule: Any) -> None:
        if self.side == "tickwork":
            self.scheduler.add_job(job_id, schedule)
        else:
            self._wait(self.scheduler.add_job(job_id, schedule))

    def add_jobs(self, items: Sequence[tuple[str, Any]]) -> None:
        if self.side == "tickwork":
            self.scheduler.add_jobs(items)
        else:
            self._wait(self.scheduler.add_jobs(items))

    def count_jobs(self) -> int:
        if self.side == "tickwork":
            return len(self.scheduler.list_jobs())
        return len(self._wait(self.scheduler.list_jobs()))

    def stop(self) -> bool:
        """Stop the scheduler: False when ``stop()`` did not return within
        :data:`STOP_TIMEOUT` (it is then left behind, in a daemon thread)."""
        if self.side == "tickwork":
            failures: list[BaseException] = []

            def stop() -> None:
                try:
                    self.scheduler.stop()
                except BaseException as exc:
                    failures.append(exc)

            thread = threading.Thread(target=stop, name="bench-stop", daemon=True)
            thread.start()
            thread.join(STOP_TIMEOUT)
            if failures:
                raise failures[0]
            return not thread.is_alive()
        assert self.loop is not None
        assert self.thread is not None
        future = asyncio.run_coroutine_threadsafe(self.scheduler.stop(), self.loop)
        try:
            future.result(STOP_TIMEOUT)
        except concurrent.futures.TimeoutError:
            return False
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        return True


# -- the other workers: processes of their own ---------------------------------------------


def _import_everything() -> None:
    """tickwork, every plugin, and nats-py (which the plugins load on first use)."""
    import importlib

    import tickwork

    tickwork.available_plugins()
    for name in ("nats", "tickwork_nats_store", "tickwork_nats_trigger"):
        importlib.import_module(name)


PROFILE_DIR = "TICKWORK_BENCH_PROFILE_DIR"
"""Set to a folder, and each extra worker runs under cProfile and leaves its statistics
there (``worker-<pid>.prof``, for ``python -m pstats``): where a worker's CPU goes."""


def _profiler() -> cProfile.Profile | None:
    """A profile of the threads started from now on (the scheduler's loop runs in one)."""
    if not os.environ.get(PROFILE_DIR):
        return None
    profile = cProfile.Profile()

    def start_in_this_thread(*_: object) -> None:
        sys.setprofile(None)
        profile.enable()

    threading.setprofile(start_in_this_thread)
    return profile


def worker_main(spec: dict[str, Any]) -> int:
    """An extra worker: ``imported``, then ``start`` / ``count`` / ``stop`` on stdin."""
    quiet_logging()
    _import_everything()

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    say("imported")
    profile = _profiler()
    driver: Driver | None = None
    while True:
        command = sys.stdin.readline().strip()
        if command == "start":
            constructed = time.time()
            driver = Driver(spec["side"], spec["url"])
            driver.start()
            say("started " + json.dumps({"constructed": constructed, "started": time.time()}))
        elif command == "count":
            say(f"count {len(driver.samples) if driver else 0}")
        else:  # "stop", or the end of the pipe
            break
    stopped = driver.stop() if driver is not None else True
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.path.join(os.environ[PROFILE_DIR], f"worker-{os.getpid()}.prof"))
    say("samples " + json.dumps({"samples": driver.samples if driver else [], "stopped": stopped}))
    os._exit(0)  # not waiting for a scheduler whose stop() hung


class Workers(WorkerProcesses):
    """The extra worker processes of one measurement (none with 1 worker).

    Create it before anything starts a thread: the processes are forked.
    """

    def __init__(self, side: str, p: Params) -> None:
        super().__init__(first_number=2)
        self.started: list[dict[str, float]] = []
        spec = json.dumps({"side": side, "url": p["service"]["url"]})
        for _ in range(p["workers"] - 1):
            self.spawn("benchmarks.nats_trigger", spec)

    def tell_start(self) -> None:
        self._tell("start")

    def wait_started(self) -> None:
        self.started = [json.loads(self._hear(p, "started")) for p in self.processes]

    def tell_stop(self) -> None:
        self._tell("stop")

    def collect(self) -> tuple[list[list[Sample]], int]:
        """After :meth:`tell_stop`: each one's handler starts, and how many hung in
        ``stop()``."""
        found = []
        hung = 0
        for process in self.processes:
            said = json.loads(self._hear(process, "samples"))
            samples = said["samples"]
            found.append([(str(j), float(at), float(started)) for j, at, started in samples])
            hung += not said["stopped"]
            process.wait(30)
        return found, hung


def _stop_all(driver: Driver, workers: Workers) -> tuple[list[list[Sample]], int]:
    """Stop every worker (the others first, so they stop while this one does): the
    handler starts of each, this process's first, and how many ``stop()`` calls hung."""
    workers.tell_stop()
    stopped = driver.stop()
    others, hung = workers.collect()
    return [list(driver.samples), *others], hung + (not stopped)


def _common_figures(per_worker: list[list[Sample]], hung: int) -> Figures:
    every = [s for samples in per_worker for s in samples]
    repeats = Counter((job_id, scheduled) for job_id, scheduled, _ in every)
    return {
        "duplicates": sum(n - 1 for n in repeats.values() if n > 1),
        "by_worker": "/".join(str(len(samples)) for samples in per_worker),
        "stop_hung": hung,
    }


def _records_pct(p: Params, job_ids: list[str], starts: int) -> float:
    import tickwork

    store = tickwork.create_store(p["service"]["url"])
    records = asyncio.run(count_tickwork_records(store, job_ids))
    return 100.0 * records / max(1, starts)


# -- W1: interval jobs ----------------------------------------------------------------------


def _interval(side: str, p: Params) -> Figures:
    workers = Workers(side, p)
    try:
        jobs, interval, duration, base = w1_interval._plan(p)
        driver = Driver(side, p["service"]["url"])
        planned = w1_interval._tickwork_jobs(jobs, interval, base)
        for job_id, schedule in planned:
            driver.add_job(job_id, schedule)
        driver.start()
        workers.imported()
        workers.tell_start()
        workers.wait_started()
        start = w1_interval._window_start(base, interval, time.time())
        server = ServerCpu(p)
        gc.collect()
        sleep_until(start)
        extra0, cpu0, wall0 = workers.cpu_seconds(), time.process_time(), time.perf_counter()
        with server:
            sleep_until(start + duration)
        extra1, cpu1, wall1 = workers.cpu_seconds(), time.process_time(), time.perf_counter()
        time.sleep(DRAIN)  # the window's last runs, which start a little after it
        per_worker, hung = _stop_all(driver, workers)
    finally:
        workers.kill()
    end = start + duration
    every = [s for samples in per_worker for s in samples]
    lateness = [started - at for _, at, started in every if start <= at < end]
    figures = lateness_figures(lateness)
    figures["cpu_core_pct"] = 100.0 * ((cpu1 - cpu0) + (extra1 - extra0)) / (wall1 - wall0)
    due_runs = round(jobs * duration / interval)
    figures["runs_pct"] = 100.0 * len(lateness) / due_runs if due_runs else math.nan
    figures["runs_in_window"] = len(lateness)
    figures.update(server.figures())
    figures.update(_common_figures(per_worker, hung))
    figures["records_pct"] = _records_pct(p, [j for j, _ in planned], len(every))
    return figures


# -- W2: a burst ----------------------------------------------------------------------------


def _burst(side: str, p: Params) -> Figures:
    workers = Workers(side, p)
    try:
        jobs = p["jobs"]
        driver = Driver(side, p["service"]["url"])
        workers.imported()
        workers.tell_start()
        driver.start()
        workers.wait_started()
        due = w2_burst._due(jobs, "nats")
        planned = w2_burst._tickwork_jobs(jobs, due)
        driver.add_jobs(planned)
        added_at = time.time()
        deadline = due + 30 + jobs * 0.002
        while time.time() < deadline:
            if len(driver.samples) + workers.count() >= jobs:
                break
            time.sleep(0.05)
        per_worker, hung = _stop_all(driver, workers)
    finally:
        workers.kill()
    every = [s for samples in per_worker for s in samples]
    figures = w2_burst._figures([started for _, _, started in every], due, jobs, added_at)
    figures["dropped"] = jobs - len({job_id for job_id, _, _ in every})
    figures.update(_common_figures(per_worker, hung))
    figures["records_pct"] = _records_pct(p, [j for j, _ in planned], len(every))
    return figures


# -- W4: a cold start -----------------------------------------------------------------------


def _cold_start(side: str, p: Params) -> Figures:
    imported = time.perf_counter()
    _import_everything()
    imported = time.perf_counter() - imported
    workers = Workers(side, p)
    try:
        workers.imported()
        t0 = time.time()
        workers.tell_start()
        driver = Driver(side, p["service"]["url"])
        driver.start()
        started = time.time()
        workers.wait_started()
        deadline = time.time() + 60
        polls = 0
        while not driver.samples and time.time() < deadline:
            polls += 1  # the others are asked every 20 ms: a pipe round trip each
            if workers.processes and polls % 20 == 0 and workers.count():
                break
            time.sleep(0.001)
        t_list = time.perf_counter()
        loaded = driver.count_jobs()
        listed = time.perf_counter() - t_list
        per_worker, hung = _stop_all(driver, workers)
    finally:
        workers.kill()
    firsts = [started for samples in per_worker for _, _, started in samples]
    last_started = max([started, *(w["started"] for w in workers.started)])
    return {
        "first_due_s": (min(firsts) - t0) if firsts else math.nan,
        "all_loaded_s": last_started - t0,
        "list_all_s": listed,
        "jobs_loaded": loaded,
        "import_s": imported,
        "by_worker": "/".join(str(len(samples)) for samples in per_worker),
        "stop_hung": hung,
    }


# -- the sides ------------------------------------------------------------------------------

_FLOWS: dict[str, Callable[[str, Params], Figures]] = {
    "interval": _interval,
    "burst": _burst,
    "cold-start": _cold_start,
}


def run_tickwork(case: str, p: Params) -> Figures:
    """Blocking ``tickwork.Scheduler`` workers with plain handlers."""
    return _FLOWS[case]("tickwork", p)


def run_tickwork_async(case: str, p: Params) -> Figures:
    """``AsyncScheduler`` workers with coroutine handlers."""
    return _FLOWS[case]("tickwork-async", p)


def prepare_tickwork(case: str, p: Params) -> Figures:
    """W4's jobs, written into the NATS KV store (the trigger's stream stays empty)."""
    return w4_cold_start.prepare_tickwork(case, p)


def prepare_tickwork_async(case: str, p: Params) -> Figures:
    return w4_cold_start.prepare_tickwork_async(case, p)


WORKLOADS: list[Workload] = _workloads()


if __name__ == "__main__":
    sys.exit(worker_main(json.loads(sys.argv[1])))
