"""Several scheduler processes on one real database: each due run exactly once, failover.

Three worker processes (``sql_multi_worker.py``) share one PostgreSQL, MariaDB or
SQLite database through ``SQLAlchemyStore``, which is shared by default. One of them
adds 50 jobs every second; the handler records nothing itself, so the execution records
the schedulers wrote are the evidence. From them the tests check:

- no duplicate: no ``(job, scheduled_at)`` ran twice;
- no gap: each run's ``scheduled_at`` is the previous run's ``end_time`` plus the
  interval (the interval rule ``next_run = schedule.next(end_time)``), runs start on
  time, and go on to the end of the window;
- the work is spread: at least two processes ran jobs;
- failover: after one process is SIGKILLed, the runs it had in flight (its rows left in
  ``scheduler_claims``) are taken over once its lease expires, so those jobs' gap is at
  most one interval plus the lease, and every job keeps running;
- changes spread: a job added, paused, resumed or removed through one process takes
  effect in the others within ``sync_interval``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sql_helpers import query

from tickwork import ExecutionRecord
from tickwork_sqlalchemy_store import SQLAlchemyStore

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("sql_multi_worker.py")
INTERVAL = timedelta(seconds=1)
LEASE = timedelta(seconds=3)
SYNC = timedelta(seconds=0.2)
WORK = timedelta(seconds=0.3)  # the handler's duration, so runs are in flight at a kill
# How late a run may start on a shared 2-core machine (measured: p50 ~10 ms, p99 ~300 ms).
LATE = timedelta(seconds=1)


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    """The server backends only (``database_url`` empties the tables before each test)."""
    return str(request.param)


def now() -> datetime:
    return datetime.now(UTC)


class Worker:
    """A scheduler subprocess driven through stdin; its stderr is kept in a file."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, url: str, name: str, log_dir: Path, *args: str) -> Worker:
        log = log_dir / f"{name}.log"
        command = [sys.executable, str(WORKER), url, name, "--lease", str(LEASE.seconds)]
        command += ["--sync", str(SYNC.total_seconds()), *args]
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        worker = cls(name, process, log)
        try:
            line = await worker._read_line(timeout=60)
            assert line == "ready", worker.explain(f"expected 'ready', got {line!r}")
        except BaseException:
            await worker.kill()
            raise
        return worker

    async def _read_line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        return line.decode().strip()

    async def command(self, line: str) -> None:
        """Send one command and wait until the worker has carried it out."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()
        answer = await self._read_line(timeout=30)
        assert answer == "ok", self.explain(f"{line!r} answered {answer!r}")

    def explain(self, message: str) -> str:
        return f"{message}\n--- {self.name} log ---\n{self.log.read_text(errors='replace')[-4000:]}"

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
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
    """The test's worker processes: whatever is still running at the end is killed."""
    started: list[Worker] = []
    yield started
    for worker in started:
        await worker.kill()


async def start_workers(
    started: list[Worker], url: str, log_dir: Path, names: Iterable[str], *args: str
) -> list[Worker]:
    results = await asyncio.gather(
        *(Worker.start(url, name, log_dir, *args) for name in names), return_exceptions=True
    )
    new = [w for w in results if isinstance(w, Worker)]
    started.extend(new)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return new


# -- the evidence ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One execution record, as the tests read it."""

    job_id: str
    scheduled_at: datetime
    start: datetime
    end: datetime
    worker: str
    status: str

    @classmethod
    def of(cls, record: ExecutionRecord) -> Run:
        return cls(
            job_id=record.job_id,
            scheduled_at=datetime.fromisoformat(record.metadata["scheduled_at"]),
            start=record.start_time,
            end=record.end_time,
            worker=record.metadata["worker"],
            status=str(record.status.value),
        )

    @property
    def delay(self) -> timedelta:
        return self.start - self.scheduled_at


@dataclass
class History:
    """What the execution records say: the runs (``completed``), and the ticks recorded
    as ``coalesced`` (a run that starts over an interval late, as after a takeover, runs
    the latest tick it missed and records the earlier ones so)."""

    runs: dict[str, list[Run]]
    coalesced: dict[str, set[datetime]]
    other: Counter[str]  # records of any other status (``paused`` ticks, failures)

    def every_run(self) -> list[Run]:
        return [r for job_runs in self.runs.values() for r in job_runs]


_RUN_OR_COALESCED = ("completed", "coalesced")


async def read_history(url: str) -> History:
    """Every job's execution records, runs in ``scheduled_at`` order."""
    store = SQLAlchemyStore(url, shared=False)
    await store.initialize()
    try:
        history = History({}, {}, Counter())
        for job in await store.list_jobs():
            records = [Run.of(r) for r in await store.list_executions(job.id)]
            runs = [r for r in records if r.status == "completed"]
            history.runs[job.id] = sorted(runs, key=lambda r: (r.scheduled_at, r.start))
            history.coalesced[job.id] = {r.scheduled_at for r in records if r.status == "coalesced"}
            history.other.update(r.status for r in records if r.status not in _RUN_OR_COALESCED)
        return history
    finally:
        await store.close()


async def claims_of(url: str, owner: str) -> dict[str, datetime]:
    """The claims ``owner`` holds: job id -> scheduled_at."""
    rows = await query(
        url, f"SELECT job_id, scheduled_at FROM scheduler_claims WHERE owner = '{owner}'"
    )
    return {job_id: as_utc(scheduled_at) for job_id, scheduled_at in rows}


def as_utc(value: datetime | str) -> datetime:
    """A timestamp read with raw SQL: SQLite gives text, MariaDB naive UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def duplicates(history: History) -> list[tuple[str, datetime]]:
    counts = Counter((r.job_id, r.scheduled_at) for r in history.every_run())
    return sorted(key for key, n in counts.items() if n > 1)


def broken_chains(history: History) -> list[tuple[Run, Run]]:
    """Consecutive runs where the second was not due at the first's end plus the
    interval, the ticks in between (if any) being recorded as coalesced."""
    broken = []
    for job_id, job_runs in history.runs.items():
        skipped = history.coalesced[job_id]
        for before, after in itertools.pairwise(job_runs):
            due = before.end + INTERVAL
            while due < after.scheduled_at and due in skipped:
                due += INTERVAL
            if after.scheduled_at != due:
                broken.append((before, after))
    return broken


def check_common(
    history: History,
    jobs: int,
    first_due: datetime,
    window_end: datetime,
    may_coalesce: Iterable[str] = (),
) -> None:
    """No duplicate, no gap, every job ran to the end of the window; only the jobs in
    ``may_coalesce`` have ticks recorded as coalesced."""
    assert len(history.runs) == jobs
    assert not history.other, f"records that are neither runs nor coalesced: {history.other}"
    twice = duplicates(history)
    assert twice == [], f"{len(twice)} due run(s) executed twice: " + "; ".join(
        f"{r}" for job_id, at in twice[:2] for r in history.runs[job_id] if r.scheduled_at == at
    )
    coalesced = {job_id for job_id, ticks in history.coalesced.items() if ticks}
    assert coalesced <= set(may_coalesce), f"ticks coalesced in {coalesced - set(may_coalesce)}"
    broken = broken_chains(history)
    assert broken == [], f"{len(broken)} runs off the interval rule, first: {broken[0]}"
    last_useful_start = window_end - (INTERVAL + WORK + LATE)
    for job_id, job_runs in history.runs.items():
        assert job_runs[0].scheduled_at == first_due, (job_id, job_runs[0])
        assert job_runs[-1].start >= last_useful_start, (job_id, "stopped early", job_runs[-1])


def summary(history: History) -> str:
    every = history.every_run()
    delays = sorted(r.delay.total_seconds() * 1000 for r in every)
    workers = Counter(r.worker for r in every)
    return (
        f"{len(every)} runs, by worker {dict(sorted(workers.items()))}, delay ms "
        f"p50 {statistics.median(delays):.1f} p99 {delays[int(len(delays) * 0.99)]:.1f} "
        f"max {delays[-1]:.1f}"
    )


async def add_jobs(adder: Worker, url: str, count: int) -> datetime:
    """Add ``count`` jobs through ``adder``; return when their first run is due."""
    await adder.command(f"add-interval job {count} {INTERVAL.total_seconds()}")
    created = {row[0] for row in await query(url, "SELECT created_at FROM scheduler_jobs")}
    assert len(created) == 1, "add_jobs gives every job the same creation time"
    (created_at,) = created
    return as_utc(created_at) + INTERVAL


# -- the tests -------------------------------------------------------------------------


async def test_three_processes_run_each_due_run_once_without_gaps(
    database_url: str, workers: list[Worker], tmp_path: Path
) -> None:
    url = database_url
    w0, _, _ = await start_workers(
        workers, url, tmp_path, ["w0", "w1", "w2"], "--work", str(WORK.total_seconds())
    )
    first_due = await add_jobs(w0, url, 50)
    await asyncio.sleep(15)  # 750 due runs: enough for every process to take a share
    window_end = now()
    await asyncio.gather(*(w.stop() for w in workers))

    history = await read_history(url)
    print(f"\n{url}: {summary(history)}")
    check_common(history, 50, first_due, window_end)
    every = history.every_run()
    late = [r for r in every if r.delay > LATE]
    assert late == [], f"{len(late)} runs started late, first: {late[0]}"
    assert len({r.worker for r in every}) >= 2, "one process did all the work"


async def test_runs_of_a_killed_process_are_taken_over_after_the_lease(
    database_url: str, workers: list[Worker], tmp_path: Path
) -> None:
    url = database_url
    w0, victim, _ = await start_workers(
        workers, url, tmp_path, ["w0", "w1", "w2"], "--work", str(WORK.total_seconds())
    )
    first_due = await add_jobs(w0, url, 50)
    await asyncio.sleep(6)
    # Kill it while it has runs in flight (a run holds a claim row until it ends).
    deadline = now() + timedelta(seconds=10)
    while not await claims_of(url, victim.name):
        assert now() < deadline, "the victim never held a claim"
        await asyncio.sleep(0.01)
    await victim.kill()
    killed_at = now()
    in_flight = await claims_of(url, victim.name)  # left behind: nobody releases them
    await asyncio.sleep(9)  # the lease, an interval, and a few runs more
    window_end = now()
    await asyncio.gather(*(w.stop() for w in workers))

    history = await read_history(url)
    print(f"\n{url}: {summary(history)}; {len(in_flight)} run(s) in flight at the kill")
    assert in_flight, "the victim held no claim when it was killed"
    check_common(history, 50, first_due, window_end, may_coalesce=in_flight)
    assert not [r for r in history.every_run() if r.worker == victim.name and r.start > killed_at]
    takeovers: list[float] = []
    for job_id, job_runs in history.runs.items():
        # The first run due at or after the victim's claim: its lease had to expire
        # first. (Starting a lease late, it runs the latest tick it missed.)
        taken_over = next(
            (
                r
                for r in job_runs
                if job_id in in_flight
                and r.scheduled_at >= in_flight[job_id]
                and r.worker != victim.name
            ),
            None,
        )
        for before, after in itertools.pairwise(job_runs):
            gap = after.start - before.end
            if after is taken_over:
                takeovers.append((after.start - in_flight[job_id]).total_seconds())
                assert gap <= INTERVAL + LEASE + LATE, (job_id, gap, after)
            else:
                assert gap <= INTERVAL + LATE, (job_id, "late", gap, after)
        after_failover = [r for r in job_runs if r.start > killed_at + LEASE + INTERVAL + LATE]
        assert after_failover, f"{job_id} stopped running after the kill"
    print(f"takeover: started (s) after the killed process's due time: {sorted(takeovers)}")
    assert len(takeovers) == len(in_flight), (takeovers, in_flight)


async def test_jobs_changed_through_one_process_take_effect_in_the_others(
    database_url: str, workers: list[Worker], tmp_path: Path
) -> None:
    """The manager process never runs a job: every run shows what the runners learned."""
    url = database_url
    (manager,) = await start_workers(workers, url, tmp_path, ["manager"], "--no-runs")
    await start_workers(workers, url, tmp_path, ["r1", "r2"])
    # sync_interval, plus a poll and a claim on a busy host (0.604 s was seen on MariaDB
    # with the two test runs side by side on two cores, against 0.2-0.4 s when quiet).
    bound = SYNC + timedelta(seconds=0.8)

    async def runs_of(job_id: str) -> list[Run]:
        return (await read_history(url)).runs.get(job_id, [])

    async def wait_for_runs(job_id: str, count: int) -> list[Run]:
        deadline = now() + timedelta(seconds=10)
        while len(found := await runs_of(job_id)) < count:
            assert now() < deadline, f"{job_id} ran {len(found)} time(s), expected {count}"
            await asyncio.sleep(0.05)
        return found

    # Added: a one-off job due at once runs as soon as a runner sees it.
    await manager.command("add-once once")
    (once,) = await wait_for_runs("once", 1)
    assert once.worker in ("r1", "r2")
    print(f"\nan added job ran {once.delay.total_seconds():.3f}s after it was added")
    assert once.delay <= bound, f"added job ran {once.delay} after it was added"

    await manager.command("add-interval job 2 0.5")
    await wait_for_runs("job-000", 2)
    await wait_for_runs("job-001", 2)

    # Paused: no runner starts it any more.
    await manager.command("pause job-000")
    paused_at = now()
    await asyncio.sleep(1.5)
    late = [r for r in await runs_of("job-000") if r.start > paused_at + bound]
    assert late == [], f"runs after the pause: {late}"

    # Resumed: the runners pick it up again at its next due time.
    await manager.command("resume job-000")
    resumed_at = now()
    runs = await wait_for_runs("job-000", len(await runs_of("job-000")) + 1)
    assert runs[-1].start <= resumed_at + timedelta(seconds=0.5) + bound, runs[-1]

    # Removed: no runner starts it any more.
    before = await runs_of("job-001")
    await manager.command("remove job-001")
    removed_at = now()
    await asyncio.sleep(1.5)
    store = SQLAlchemyStore(url, shared=False)
    await store.initialize()
    try:
        records = [Run.of(r) for r in await store.list_executions("job-001")]
    finally:
        await store.close()
    assert len(records) >= len(before)
    late = [r for r in records if r.start > removed_at + bound]
    assert late == [], f"runs after the removal: {late}"
    await asyncio.gather(*(w.stop() for w in workers))
    assert duplicates(await read_history(url)) == []


async def test_three_processes_share_one_sqlite_file(workers: list[Worker], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    w0, _, _ = await start_workers(
        workers, url, tmp_path, ["w0", "w1", "w2"], "--work", str(WORK.total_seconds())
    )
    first_due = await add_jobs(w0, url, 10)
    await asyncio.sleep(10)
    window_end = now()
    await asyncio.gather(*(w.stop() for w in workers))

    history = await read_history(url)
    print(f"\nsqlite: {summary(history)}")
    check_common(history, 10, first_due, window_end)
    assert len({r.worker for r in history.every_run()}) >= 2
