"""W9: how fast a job change made in one process reaches a scheduler in another.

    .venv/bin/python -m benchmarks --workloads push --repeat 1        # W9-pg and W9-nats
    .venv/bin/python -m benchmarks --workloads W9-pg --scale 0.5

Two processes: the measuring one writes, a worker process
(``python -m benchmarks.w9_push SPEC``) listens. The writer stores each change through
a store of its own, as ``tickwork jobs add`` does, then signals it; the time from just
before the write to the effect in the worker is one sample. Each change waits for the
previous one to arrive, then for a random pause: 0.05 to 0.25 s with pushes, 0 to 1 s
(one ``sync_interval``) with polling alone, so that its samples fall at random points
of the poll cycle (half as many of them: each takes about a second).

- ``W9-pg``, a fresh PostgreSQL schema: the worker runs an ``AsyncScheduler`` with
  every option at its default (``sync_interval`` 1 s) and a coroutine handler. Each
  change adds a one-off job due at once; a sample ends when the handler is entered,
  so it includes the poll that reads the job, the claim and the start of the run.
  Case ``push``: the stores signal changes (LISTEN/NOTIFY, the default); case
  ``poll``: both are made with ``push_changes=False``, so the change waits for the
  next poll.
- ``W9-nats``, a ``nats-server`` of its own: schedulers on the NATS store share the
  NATS trigger, which carries arming itself; their job tables follow other processes'
  changes through a change follower. Case ``push``: the signal alone, from
  ``signal_changes()`` in the writer to the wake-up of the worker's change listener.
  Case ``table``, end to end: the worker runs an ``AsyncScheduler`` on the NATS store
  and trigger (``sync_interval`` 30 s, so only a signal can be that fast), each change
  adds an hourly job, and a sample ends when the worker publishes its ``JobAdded``
  (its job table holds the job by then).
- ``W9-nats-5k``: ``table`` with 5,000 other jobs in the store before the worker starts
  (times ``--scale``), to show the follower reads only the jobs a signal names.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ._common import quiet_logging, require_tickwork_plugin, utc
from ._harness import Figures, Metric, Params, Workload, percentile
from ._workers import WorkerProcesses

SIDE = "tickwork-async"
ARRIVES_WITHIN = 10.0
"""Seconds a change may take to arrive before the measurement fails."""


def _metrics(cases: tuple[str, ...]) -> tuple[Metric, ...]:
    found: list[Metric] = []
    for case in cases:
        target = None if case == "poll" else 100.0
        found += [
            Metric(f"{case}_p50_ms", f"{case}: change → other process, p50", "ms"),
            Metric(f"{case}_p99_ms", f"{case}: change → other process, p99", "ms", target=target),
            Metric(f"{case}_max_ms", f"{case}: change → other process, max", "ms"),
        ]
    return tuple(found)


def _params(store: str, scale: float, duration: float | None, jobs: int = 0) -> Params:
    del duration
    return {"store": store, "changes": max(10, round(100 * scale)), "jobs": round(jobs * scale)}


def _workload(
    workload_id: str, title: str, service: str, cases: tuple[str, ...], notes: str, jobs: int = 0
) -> Workload:
    """One W9 row: the same harness, on ``service``, for ``cases``."""
    store = "postgresql" if service == "postgresql" else "nats"
    return Workload(
        id=workload_id,
        title=title,
        module="w9_push",
        metrics=_metrics(cases),
        params=functools.partial(_params, store, jobs=jobs),
        sides=(SIDE,),
        cases=cases,
        timeout=300.0,
        notes=notes,
        default=False,
        service=service,
        groups=("push",),
    )


WORKLOADS: list[Workload] = [
    _workload(
        "W9-pg",
        "a job change reaching another process, PostgreSQL",
        "postgresql",
        ("push", "poll"),
        "one-off jobs added by another process: push (LISTEN/NOTIFY) against polling",
    ),
    _workload(
        "W9-nats",
        "a job change reaching another process, NATS",
        "nats",
        ("push", "table"),
        "push: the signal alone; table: a job stored in one process to the other's "
        "JobAdded (NATS store and trigger, change follower)",
    ),
    _workload(
        "W9-nats-5k",
        "a job change reaching another process, NATS, 5,000 jobs stored",
        "nats",
        ("table",),
        "table with 5,000 other jobs in the store: the follower reads the jobs a "
        "signal names, not the whole list",
        jobs=5000,
    ),
]


# -- the worker process ---------------------------------------------------------------------


def _store(spec: dict[str, Any]) -> Any:
    import tickwork

    if spec["store"] == "nats":
        return tickwork.create_store(spec["url"])
    return tickwork.create_store(spec["url"], schema=spec["schema"], push_changes=spec["push"])


async def _listen(spec: dict[str, Any], arrivals: list[float]) -> Any:
    """Start the worker's listener; return what must be stopped at the end."""
    import tickwork
    from tickwork._change_push import ChangeListener

    store = _store(spec)
    if spec.get("follow"):
        return await _follow(spec, store, arrivals)
    if spec["store"] == "nats":
        await store.initialize()
        listener = ChangeListener(store, lambda _ids: arrivals.append(time.time()))
        listener.start()
        await _until(lambda: listener.listening)
        arrivals.clear()  # the wake-up on starting to listen
        return listener, store

    async def handler(_event: tickwork.JobEvent) -> None:
        arrivals.append(time.time())

    scheduler = tickwork.AsyncScheduler(store, handler, worker_id="listener")
    await scheduler.start()
    coordinator = scheduler._coordinator
    if spec["push"]:
        await _until(lambda: coordinator is not None and coordinator.listening)
    return scheduler, None


async def _follow(spec: dict[str, Any], store: Any, arrivals: list[float]) -> Any:
    """A scheduler on the NATS store and trigger, noting when each JobAdded comes."""
    import tickwork
    from tickwork_nats_trigger import NATSTrigger

    scheduler = tickwork.AsyncScheduler(
        store, _ignore, trigger=NATSTrigger(spec["url"]), worker_id="follower", sync_interval=30.0
    )

    async def added(_event: Any) -> None:  # a coroutine: plain subscribers batch 20 ms
        arrivals.append(time.time())

    scheduler.subscribe(added, tickwork.JobAdded)
    await scheduler.start()
    follower = scheduler._follower
    # listening, and done with the full reads at start (seconds at thousands of jobs)
    await _until(lambda: follower is not None and follower.listening and not follower.busy)
    return scheduler, None


async def _ignore(_event: Any) -> None:
    return None


async def _until(condition: Callable[[], bool], timeout: float = ARRIVES_WITHIN) -> None:
    for _ in range(round(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise RuntimeError("the worker did not start listening for changes")


async def _stop(running: Any) -> None:
    first, store = running
    await first.stop()
    if store is not None:
        await store.close()


async def _worker(spec: dict[str, Any]) -> None:
    arrivals: list[float] = []
    running = await _listen(spec, arrivals)
    loop = asyncio.get_running_loop()
    say("ready")
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if command == "count":
            say(f"count {len(arrivals)}")
        else:
            break
    await _stop(running)
    say("result " + json.dumps({"arrivals": arrivals}))


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- the measuring process ------------------------------------------------------------------


class Listener(WorkerProcesses):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spawn("benchmarks.w9_push", json.dumps(spec))
        self._hear(self.processes[0], "ready")

    def arrived(self) -> int:
        self._tell("count")
        return int(self._hear(self.processes[0], "count"))

    def result(self) -> list[float]:
        self._tell("stop")
        found = json.loads(self._hear(self.processes[0], "result"))["arrivals"]
        self.processes[0].wait(30)
        return [float(t) for t in found]


async def _change(store: Any, spec: dict[str, Any], n: int) -> None:
    """One change: a one-off job due now (SQL), an hourly job (NATS ``table``), or the
    signal alone (NATS ``push``)."""
    import tickwork

    if spec["store"] != "nats" or spec["follow"]:
        now = time.time()
        schedule: Any = tickwork.OnceSchedule(utc(now))
        if spec["follow"]:  # not due for an hour: only the job table is measured
            schedule = tickwork.IntervalSchedule(timedelta(hours=1))
        schedule_type, config = tickwork.default_codec().encode(schedule)
        job = tickwork.JobData(
            id=f"change-{n:04d}",
            schedule_type=schedule_type,
            schedule_config=config,
            next_run=utc(now + (3600 if spec["follow"] else 0)),
            created_at=utc(now),
            updated_at=utc(now),
        )
        await store.save_job(job)
        if store.signals_changes:
            await store.signal_changes([job.id])  # as the scheduler and the CLI do
    elif store.signals_changes:
        await store.signal_changes()


async def _write(spec: dict[str, Any], changes: int, listener: Listener) -> list[float]:
    store = _store(spec)
    await store.initialize()
    sent: list[float] = []
    low, high = (0.05, 0.25) if spec["push"] else (0.0, 1.0)
    try:
        for n in range(changes if spec["push"] else max(10, changes // 2)):
            await asyncio.sleep(random.uniform(low, high))
            sent.append(time.time())
            await _change(store, spec, n)
            deadline = time.monotonic() + ARRIVES_WITHIN
            while listener.arrived() < n + 1:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"change {n} did not arrive in {ARRIVES_WITHIN} s")
                await asyncio.sleep(0.002)
    finally:
        await store.close()
    return sent


async def _seed(spec: dict[str, Any], jobs: int) -> None:
    """Store ``jobs`` hourly jobs before the worker starts (its job table loads them)."""
    import tickwork

    store = _store(spec)
    await store.initialize()
    now = time.time()
    schedule_type, config = tickwork.default_codec().encode(
        tickwork.IntervalSchedule(timedelta(hours=1))
    )
    gate = asyncio.Semaphore(64)

    async def save(n: int) -> None:
        async with gate:
            await store.save_job(
                tickwork.JobData(
                    id=f"stored-{n:05d}",
                    schedule_type=schedule_type,
                    schedule_config=config,
                    next_run=utc(now + 3600),
                    created_at=utc(now),
                    updated_at=utc(now),
                )
            )

    try:
        await asyncio.gather(*(save(n) for n in range(jobs)))
    finally:
        await store.close()


def _measure(case: str, p: Params) -> Figures:
    if p["store"] == "nats":
        require_tickwork_plugin("stores", "nats", "tickwork-nats-store")
    else:
        require_tickwork_plugin("stores", "sqlalchemy", "tickwork-sqlalchemy-store")
    spec = {
        "store": p["store"],
        "push": case in ("push", "table"),
        "follow": case == "table",
        **p["service"],
    }
    if p.get("jobs"):
        asyncio.run(_seed(spec, p["jobs"]))
    listener = Listener(spec)
    try:
        sent = asyncio.run(_write(spec, p["changes"], listener))
        arrivals = listener.result()
    finally:
        listener.kill()
    latencies = [1000 * (arrived - at) for at, arrived in zip(sent, arrivals, strict=True)]
    return {
        f"{case}_p50_ms": percentile(latencies, 50),
        f"{case}_p99_ms": percentile(latencies, 99),
        f"{case}_max_ms": max(latencies),
        f"{case}_samples": len(latencies),
    }


def run_tickwork_async(case: str, p: Params) -> Figures:
    """A scheduler (SQL, NATS ``table``) or the change listener (NATS ``push``) in a
    worker process."""
    return _measure(case, p)


if __name__ == "__main__":
    quiet_logging()
    with contextlib.suppress(BrokenPipeError):
        asyncio.run(_worker(json.loads(sys.argv[1])))
