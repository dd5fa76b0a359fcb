"""The scheduler on the SQL store across real process restarts.

Three processes run one after another on the same database: A adds the jobs and is
stopped gracefully; while nothing runs, time "passes" (two jobs' ``next_run`` is moved
into the past, as a long outage would leave it); B adds the same jobs again, as a
program does at every start, and is killed with SIGKILL; C starts without adding
anything. Along the way: jobs survive every restart, the one-off job that ran never runs
again, interval and cron jobs resume, a job whose time passed during the outage runs
once (its other missed ticks are logged as coalesced), and the history of all three
processes accumulates and can be queried.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tickwork import ExecutionRecord, ExecutionStatus, JobStatus, QueryOptions
from tickwork_sqlalchemy_store import SQLAlchemyStore

WORKER = Path(__file__).with_name("sql_scheduler_worker.py")
JOB_IDS = ["every-second", "hourly", "once", "yearly-cron"]


class Worker:
    """A scheduler subprocess, its stderr kept in a file for failure reports."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(
        cls,
        url: str,
        worker_id: str,
        once_at: datetime,
        log_dir: Path,
        *,
        add_jobs: bool,
        shared: bool = False,
    ) -> Worker:
        log = log_dir / f"{worker_id}.log"
        args = [str(WORKER), url, worker_id, once_at.isoformat()]
        if add_jobs:
            args.append("--add-jobs")
        if shared:
            args.append("--shared")
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=stderr
            )
        worker = cls(process, log)
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line == b"ready\n", worker.explain(f"expected 'ready', got {line!r}")
        except BaseException:
            await worker.kill()
            raise
        return worker

    def explain(self, message: str) -> str:
        return f"{message}\n--- worker log ---\n{self.log.read_text(errors='replace')[-4000:]}"

    async def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout=20)
        assert code == 0, self.explain(f"graceful stop exited with {code}")

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@pytest.fixture
async def history_store(database_url: str) -> AsyncIterator[SQLAlchemyStore]:
    """The test's own view of the database the workers share."""
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()


async def runs(store: SQLAlchemyStore, job_id: str) -> list[ExecutionRecord]:
    """Records of runs whose handler started (not the coalesced ticks)."""
    return [
        r
        for r in await store.list_executions(job_id)
        if r.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.RUNNING)
    ]


async def eventually(
    condition: Callable[[], Awaitable[bool]], worker: Worker, what: str, timeout: float = 20
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(worker.explain(f"timed out waiting until {what}"))
        await asyncio.sleep(0.1)


def by(worker_id: str, records: list[ExecutionRecord]) -> list[ExecutionRecord]:
    return [r for r in records if r.metadata.get("worker") == worker_id]


@pytest.mark.slow
async def test_jobs_and_history_survive_process_restarts(
    database_url: str, history_store: SQLAlchemyStore, tmp_path: Path
) -> None:
    store = history_store
    once_at = datetime.now(UTC) - timedelta(seconds=1)

    # -- A: adds the jobs, runs a little, stops gracefully ------------------------------
    a = await Worker.start(database_url, "A", once_at, tmp_path, add_jobs=True)

    async def a_progressed() -> bool:
        return len(await runs(store, "once")) == 1 and len(await runs(store, "every-second")) >= 1

    await eventually(a_progressed, a, "A ran the one-off job and the interval job")
    await a.stop()
    assert [j.id for j in await store.list_jobs()] == JOB_IDS
    once = await store.get_job("once")
    assert (once.status, once.next_run) == (JobStatus.COMPLETED, None)

    # -- the outage: three and a half hourly ticks and a yearly tick go by ---------------
    now = datetime.now(UTC)
    for job_id, missed_since in (
        ("hourly", timedelta(hours=3, minutes=30)),
        ("yearly-cron", timedelta(minutes=2)),
    ):
        job = await store.get_job(job_id)
        job.next_run = now - missed_since
        await store.update_job(job)

    # -- B: re-adds the same jobs, catches up, is killed ---------------------------------
    b = await Worker.start(database_url, "B", once_at, tmp_path, add_jobs=True)

    async def b_progressed() -> bool:
        return (
            len(await runs(store, "hourly")) == 1
            and len(await runs(store, "yearly-cron")) == 1
            and len(by("B", await runs(store, "every-second"))) >= 1
        )

    await eventually(b_progressed, b, "B caught up the missed jobs and ran the interval job")
    await asyncio.sleep(0.3)  # room for a wrong second catch-up run to show up
    await b.kill()

    # -- C: starts from the store alone --------------------------------------------------
    c = await Worker.start(database_url, "C", once_at, tmp_path, add_jobs=False)
    try:

        async def c_progressed() -> bool:
            return len(by("C", await runs(store, "every-second"))) >= 1

        await eventually(c_progressed, c, "C resumed the interval job")
    finally:
        await c.stop()

    # -- what the history says -----------------------------------------------------------
    assert [j.id for j in await store.list_jobs()] == JOB_IDS

    once_runs = await runs(store, "once")
    assert [(r.status, r.metadata["worker"]) for r in once_runs] == [(JobStatus.COMPLETED, "A")]

    hourly_runs = await runs(store, "hourly")
    assert [(r.status, r.metadata["worker"]) for r in hourly_runs] == [(JobStatus.COMPLETED, "B")]
    coalesced = await store.list_executions(
        "hourly", QueryOptions(status=ExecutionStatus.COALESCED)
    )
    assert len(coalesced) == 3  # the ticks at -3h30, -2h30, -1h30; -0h30 was the one run
    hourly = await store.get_job("hourly")
    assert hourly.next_run is not None
    assert hourly.next_run > datetime.now(UTC) + timedelta(minutes=50)

    cron_runs = await runs(store, "yearly-cron")
    assert [(r.status, r.metadata["worker"]) for r in cron_runs] == [(JobStatus.COMPLETED, "B")]
    cron = await store.get_job("yearly-cron")
    assert cron.next_run == datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC)

    every = await runs(store, "every-second")
    assert {r.metadata["worker"] for r in every} == {"A", "B", "C"}
    assert len({r.execution_id for r in every}) == len(every)
    completed = [r for r in every if r.status == JobStatus.COMPLETED]
    starts = [r.start_time for r in completed]
    assert starts == sorted(starts)
    assert all(b - a >= timedelta(seconds=0.9) for a, b in itertools.pairwise(starts))
    newest = await store.list_executions(
        "every-second", QueryOptions(status=JobStatus.COMPLETED, sort_desc=True, limit=2)
    )
    assert [r.execution_id for r in newest] == [r.execution_id for r in completed[::-1][:2]]
    assert newest[0].metadata["worker"] == "C"


@pytest.mark.slow
async def test_two_schedulers_share_the_store_and_each_run_happens_once(
    database_url: str, history_store: SQLAlchemyStore, tmp_path: Path
) -> None:
    store = history_store
    once_at = datetime.now(UTC) - timedelta(seconds=1)
    started = await asyncio.gather(
        Worker.start(database_url, "P", once_at, tmp_path, add_jobs=True, shared=True),
        Worker.start(database_url, "Q", once_at, tmp_path, add_jobs=True, shared=True),
        return_exceptions=True,
    )
    workers = [w for w in started if isinstance(w, Worker)]
    if len(workers) < len(started):
        for worker in workers:
            await worker.kill()
        raise next(e for e in started if isinstance(e, BaseException))
    p, q = workers
    try:

        async def both_ran_three() -> bool:
            return len(await runs(store, "every-second")) >= 3

        await eventually(both_ran_three, p, "the shared interval job ran three times")
        # Whoever ran last may hold the claim; kill it and the other one takes over.
        last = (await runs(store, "every-second"))[-1].metadata["worker"]
        victim, survivor = (p, q) if last == "P" else (q, p)
        survivor_id = "Q" if last == "P" else "P"
        await victim.kill()
        before = len(by(survivor_id, await runs(store, "every-second")))

        async def survivor_goes_on() -> bool:
            return len(by(survivor_id, await runs(store, "every-second"))) >= before + 2

        await eventually(survivor_goes_on, survivor, "the survivor took the job over")
    finally:
        for worker in (p, q):
            if worker.process.returncode is None:
                await worker.stop()

    every = await runs(store, "every-second")
    ticks = [r.metadata["scheduled_at"] for r in every]
    assert len(ticks) == len(set(ticks)), "a due run was executed twice"
    assert len(await runs(store, "once")) == 1
    assert [j.id for j in await store.list_jobs()] == JOB_IDS
