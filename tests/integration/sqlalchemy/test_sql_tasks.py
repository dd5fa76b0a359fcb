"""Tasks on real SQL databases (issue 14): what the in-memory tests in
tests/unit/test_tasks.py check, with real rows, real processes and a real restart.

- Two worker processes (``sql_task_worker.py``) with DIFFERENT task sets share one
  PostgreSQL database, as two deployments of different code would: every tick of every
  job runs exactly once, always on the worker that has the job's task, and none is
  missed once both are up. A job whose task neither has is never run or rewritten,
  and its history gets exactly one ``task_missing`` record however many ticks pass
  (both workers see it; one record, not one per worker and tick).
- A task's arguments survive a restart on every SQL backend with their exact types
  (tuples stay tuples, a zone stays a zone, ``Decimal("1.10")`` keeps its zero, an
  attrs instance comes back as its class), because the only copy is the stored JSON.
  The row's metadata stays ``string -> string``, which is all the Go library reads.

The NATS KV store's case of the round trip is in tests/integration/nats/test_nats_tasks.py.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sql_helpers import query
from sql_multi_worker import NoRuns
from support.task_arguments import RICH_ARGS, RICH_KWARGS, assert_same, receive, received, tasks

from tickwork import (
    AsyncScheduler,
    ExecutionStatus,
    OnceSchedule,
    RunContext,
    StartAtIntervalSchedule,
    TaskRegistry,
)
from tickwork_sqlalchemy_store import SQLAlchemyStore

WORKER = Path(__file__).with_name("sql_task_worker.py")
SYNC = timedelta(seconds=0.2)
INTERVAL = timedelta(seconds=0.3)
WINDOW = timedelta(seconds=4.5)  # about 15 ticks of each job
# A job due for TASK_MISSING_AFTER (2 s) is noted when a worker next looks at it: at the
# reconciler's next pass, every 5 s from the worker's start (DEFAULT_RECONCILE_INTERVAL).
NOTED_WITHIN = timedelta(seconds=8)
LEAD = timedelta(seconds=1)  # from adding the jobs to their first tick: > SYNC, a poll
LATE = timedelta(seconds=0.8)  # how late a run may start on a busy 2-core machine
JOBS_PER_TASK = 3
TASK_KEY, ARGS_KEY = "tickwork.task", "tickwork.args"


def now() -> datetime:
    return datetime.now(UTC)


# -- two processes, two task sets ---------------------------------------------------


class Worker:
    """A ``sql_task_worker.py`` process; its stderr is kept in a file for failures."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, url: str, name: str, tasks: list[str], folder: Path) -> Worker:
        log = folder / f"{name}.log"
        command = [sys.executable, str(WORKER), url, name, str(folder / f"{name}.runs")]
        command += ["--sync", str(SYNC.total_seconds())]
        for task in tasks:
            command += ["--task", task]
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        worker = cls(name, process, log)
        assert process.stdout is not None
        try:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
            assert line == "ready", worker.explain(f"expected 'ready', got {line!r}")
        except BaseException:
            await worker.kill()
            raise
        return worker

    def explain(self, message: str) -> str:
        return f"{message}\n--- {self.name} log ---\n{self.log.read_text(errors='replace')[-4000:]}"

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"stop\n")
        await self.process.stdin.drain()
        code = await asyncio.wait_for(self.process.wait(), timeout=30)
        assert code == 0, self.explain(f"graceful stop exited with {code}")

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
    """The test's worker processes: whatever still runs at the end is killed."""
    started: list[Worker] = []
    yield started
    for worker in started:
        await worker.kill()


def never(*args: Any, **kwargs: Any) -> None:
    """Stands for every task in the test process, which adds jobs but runs none."""
    raise AssertionError("the adding process must not run a task")


async def add_grid_jobs(url: str, first_tick: datetime) -> dict[str, datetime]:
    """Add ``a-*``, ``b-*`` and ``ghost`` on the grid through a scheduler that never runs
    a job (its trigger never fires); return each job's first tick."""
    registry = TaskRegistry()
    for name in ("a", "b", "ghost"):
        registry.register(never, name=name)
    starts = {"ghost": now()}  # its first tick is overdue early: noted at the first pass
    for task in ("a", "b"):
        for i in range(JOBS_PER_TASK):
            offset = INTERVAL * (i + (JOBS_PER_TASK if task == "b" else 0)) / (2 * JOBS_PER_TASK)
            starts[f"{task}-{i}"] = first_tick + offset  # spread over the interval
    adder = AsyncScheduler(
        SQLAlchemyStore(url), trigger=NoRuns(), tasks=registry, worker_id="adder"
    )
    async with adder:
        for job_id, start in starts.items():
            schedule = StartAtIntervalSchedule(start_at=start, interval=INTERVAL)
            task = job_id.partition("-")[0]
            await adder.add_job(job_id, schedule, {"team": "ops"}, task=task)
    return starts


def read_runs(folder: Path) -> list[tuple[str, datetime, str, str]]:
    """Every line the workers' tasks wrote: (job, tick, worker, the file it was in)."""
    runs = []
    for path in sorted(folder.glob("*.runs")):
        for line in path.read_text().splitlines():
            job_id, tick, worker = line.split()
            runs.append((job_id, datetime.fromisoformat(tick), worker, path.stem))
    return runs


def grid(start: datetime, until: datetime) -> list[datetime]:
    """The ticks of a job starting at ``start`` up to ``until``."""
    count = max(0, math.floor((until - start) / INTERVAL) + 1)
    return [start + INTERVAL * k for k in range(count)]


async def start_workers(
    url: str, folder: Path, workers: list[Worker], task_sets: dict[str, list[str]]
) -> None:
    """Start one worker per entry of ``task_sets`` (its name: the tasks it registers)
    at once, and wait until every one is ready."""
    started = await asyncio.gather(
        *(Worker.start(url, name, tasks, folder) for name, tasks in task_sets.items()),
        return_exceptions=True,
    )
    workers.extend(w for w in started if isinstance(w, Worker))
    for result in started:
        if isinstance(result, BaseException):
            raise result


async def wait_for_history(store: SQLAlchemyStore, job_id: str) -> None:
    """Until ``job_id`` has a record (within :data:`NOTED_WITHIN`)."""
    deadline = now() + NOTED_WITHIN
    while not await store.list_executions(job_id):
        assert now() < deadline, f"{job_id} was never recorded"
        await asyncio.sleep(0.1)


@pytest.mark.postgresql
async def test_workers_with_different_tasks_each_run_only_theirs_once_and_miss_none(
    postgres_url: str, workers: list[Worker], tmp_path: Path
) -> None:
    url = postgres_url
    await start_workers(url, tmp_path, workers, {"A": ["a"], "B": ["b"]})
    first_tick = now() + LEAD
    starts = await add_grid_jobs(url, first_tick)
    check = SQLAlchemyStore(url, shared=False)
    await check.initialize()
    try:
        ghost_before = await check.get_job("ghost")
        await asyncio.sleep((first_tick + WINDOW - now()).total_seconds())
        await wait_for_history(check, "ghost")
        window_end = now()
        await asyncio.gather(*(w.stop() for w in workers))
        ghost_after = await check.get_job("ghost")
        ghost_history = await check.list_executions("ghost")
        other_history: Counter[str] = Counter()
        for job_id in starts.keys() - {"ghost"}:
            other_history.update(str(r.status.value) for r in await check.list_executions(job_id))
    finally:
        await check.close()

    runs = read_runs(tmp_path)
    print(f"\n{len(runs)} runs: {Counter(w for _, _, w, _ in runs)}; records {other_history}")
    twice = [key for key, n in Counter((j, t) for j, t, _, _ in runs).items() if n > 1]
    assert twice == [], f"ticks run twice: {twice[:5]}"
    assert all(worker == file for _, _, worker, file in runs)
    wrong = [(j, w) for j, _, w, _ in runs if j.partition("-")[0].upper() != w]
    assert wrong == [], f"jobs run by a worker without their task: {wrong[:5]}"
    assert not [r for r in runs if r[0] == "ghost"], "the job whose task nobody has ran"
    for job_id, start in starts.items():
        if job_id == "ghost":
            continue
        ticks = sorted(t for j, t, _, _ in runs if j == job_id)
        expected = grid(start, window_end - LATE)
        missed = sorted(set(expected) - set(ticks))
        assert missed == [], f"{job_id}: ticks missed: {missed}"
        off_grid = [t for t in ticks if t not in set(grid(start, window_end))]
        assert off_grid == [], f"{job_id}: runs off its grid: {off_grid}"
    assert set(other_history) == {"completed"}, other_history

    # The ghost: never claimed, run or rewritten; noted for its one stored tick only
    # (exactly once overall is test_a_job_whose_task_nobody_has_is_recorded_once).
    assert (ghost_after.next_run, ghost_after.metadata, ghost_after.status) == (
        ghost_before.next_run,
        ghost_before.metadata,
        ghost_before.status,
    )
    assert ghost_after.updated_at == ghost_before.updated_at
    assert ghost_before.next_run is not None
    assert {r.status for r in ghost_history} == {ExecutionStatus.TASK_MISSING}
    stored_tick = ghost_before.next_run.isoformat()
    assert {r.metadata["scheduled_at"] for r in ghost_history} == {stored_tick}
    # One record for the tick, whichever workers noted it (the same execution id).
    assert len(ghost_history) == 1, [r.metadata.get("worker") for r in ghost_history]
    assert all("ghost" in (r.error or "") for r in ghost_history)


# -- arguments through a restart ------------------------------------------------------


async def round_trip(make_store: Any) -> tuple[tuple[Any, ...], dict[str, Any], RunContext]:
    """Add the job with one scheduler, then run it with a new one on a new store
    object over the same data; what the task received."""
    received.clear()
    async with AsyncScheduler(make_store(), tasks=tasks, worker_id="first") as first:
        await first.add_job(
            "rich",
            OnceSchedule(now() + timedelta(seconds=1.5)),  # after the first has stopped
            {"team": "ops"},
            task=receive,
            args=RICH_ARGS,
            kwargs=RICH_KWARGS,
        )
    assert received == [], "the first scheduler ran the job"
    async with AsyncScheduler(make_store(), tasks=tasks, worker_id="second") as second:
        deadline = now() + timedelta(seconds=10)
        while not received:
            assert now() < deadline, "the restarted scheduler never ran the job"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # a second run would show now
        assert [r.status for r in await second.run_history("rich")] == [ExecutionStatus.COMPLETED]
    assert len(received) == 1, received
    return received[0]


def check_received(got: tuple[tuple[Any, ...], dict[str, Any], RunContext]) -> None:
    args, kwargs, run = got
    assert (run.job_id, run.worker_id, run.task) == (
        "rich",
        "second",
        f"{receive.__module__}:receive",
    )
    assert_same(args, RICH_ARGS)
    assert_same(kwargs, dict(sorted(RICH_KWARGS.items())))  # kwargs are stored by name


def check_metadata_is_text(metadata: Any) -> None:
    """What the Go library reads: a JSON object of strings, the task in two keys."""
    assert isinstance(metadata, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()), metadata
    assert metadata["team"] == "ops"
    assert metadata[TASK_KEY] == f"{receive.__module__}:receive"
    document = json.loads(metadata[ARGS_KEY])  # plain JSON text
    assert set(document) == {"args", "kwargs"}


async def test_task_arguments_survive_a_restart_with_their_types(database_url: str) -> None:
    got = await round_trip(lambda: SQLAlchemyStore(database_url))
    check_received(got)
    ((raw,),) = await query(database_url, "SELECT metadata FROM scheduler_jobs WHERE id = 'rich'")
    check_metadata_is_text(json.loads(raw))
