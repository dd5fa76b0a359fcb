"""Scheduler processes against a private database server, and what they leave behind.

:class:`Fleet` starts :mod:`outage_worker` processes (the first one adds the jobs),
:func:`take_away` stops the server at a chosen moment of the 1 s grid and starts it
again, and :func:`examine` gathers the evidence into an :class:`OutageReport`: the
handler runs each worker wrote down, the execution records in the database and each
worker's log. Its :meth:`~OutageReport.problems` are the targets of issue 13.
"""

from __future__ import annotations

import asyncio
import math
import re
import select
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import attrs
from support.throwaway_servers import ThrowawayServer

from tickwork import QueryOptions
from tickwork_sqlalchemy_store import SQLAlchemyStore

WORKER = Path(__file__).with_name("outage_worker.py")

#: Issue 13's targets.
RESUME_WITHIN = 2.0  # every job runs again within this long after the store is back
MAX_LOG_LINES = 100  # per worker, for a 30 s outage
#: Allowance for a loaded 2-core machine on top of RESUME_WITHIN: scheduling delays of
#: the worker processes, not the scheduler's own pauses.
LOAD_SLACK = 0.5
#: After the store is back, how long the workers go on before they are stopped.
AFTER_BACK = 5.0

_TIMESTAMP = re.compile(r"^(\d{9,}\.\d+) ")


@attrs.frozen
class Run:
    """One handler run, as the worker wrote it down."""

    job_id: str
    scheduled_at: str
    worker: str
    started: float
    ended: float


class Worker:
    """One scheduler subprocess; its stderr (the log) and its runs go to files."""

    def __init__(self, worker_id: str, workdir: Path, url: str, extra: Iterable[str]) -> None:
        self.worker_id = worker_id
        self.log_path = workdir / f"{worker_id}.log"
        self.runs_path = workdir / f"{worker_id}.runs"
        command = [sys.executable, str(WORKER), url, worker_id, str(self.runs_path), *extra]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for the worker's ``ready`` line (it has started its scheduler)."""
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else b"nothing"
        if line != b"ready\n":
            self.kill()
            raise AssertionError(
                self.explain(f"expected 'ready' within {timeout:g} s, got {line!r}")
            )

    def explain(self, message: str) -> str:
        log = self.log_path.read_text(errors="replace")
        return f"{message}\n--- {self.worker_id} log (end) ---\n{log[-4000:]}"

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, and wait for the graceful stop; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(self.explain(f"did not stop within {timeout:g} s")) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def runs(self) -> list[Run]:
        if not self.runs_path.exists():
            return []
        out = []
        for line in self.runs_path.read_text().splitlines():
            job_id, scheduled_at, worker, started, ended = line.split()
            out.append(Run(job_id, scheduled_at, worker, float(started), float(ended)))
        return out

    def log_lines(self) -> list[tuple[float, str]]:
        """Each line of the log with the time of the record it belongs to."""
        stamped: list[tuple[float, str]] = []
        when = 0.0
        for line in self.log_path.read_text(errors="replace").splitlines():
            match = _TIMESTAMP.match(line)
            if match:
                when = float(match[1])
            stamped.append((when, line))
        return stamped


class Fleet:
    """``count`` workers on ``url``; the first adds the jobs before it starts."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.workdir = workdir
        self.workers: list[Worker] = []

    def start(self, count: int, *, jobs: list[str], common: list[str]) -> Fleet:
        try:
            for n in range(1, count + 1):
                extra = [*common, *(jobs if n == 1 else [])]
                worker = Worker(f"w{n}", self.workdir, self.url, extra)
                self.workers.append(worker)
                worker.wait_ready()  # jobs are in the store before the next one starts
        except BaseException:
            self.kill()
            raise
        return self

    def runs(self) -> list[Run]:
        return [run for worker in self.workers for run in worker.runs()]

    def alive(self) -> None:
        for worker in self.workers:
            code = worker.process.poll()
            assert code is None, worker.explain(f"{worker.worker_id} exited with {code}")

    def stop(self) -> None:
        codes = {w.worker_id: w.stop() for w in self.workers}
        bad = {k: v for k, v in codes.items() if v != 0}
        assert not bad, self.workers[0].explain(f"graceful stops exited with {bad}")

    def kill(self) -> None:
        for worker in self.workers:
            worker.kill()

    def holders(self, since: float) -> list[Worker]:
        """The workers whose handler runs ended after ``since`` (Unix time)."""
        return [w for w in self.workers if any(r.ended >= since for r in w.runs())]


def wait_for(condition: object, timeout: float, what: str) -> None:
    """Poll ``condition()`` every 50 ms until it is true; fail after ``timeout``."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def next_grid_second(offset: float, *, at_least: float = 0.3) -> float:
    """The Unix time ``offset`` s past the next whole second (the jobs' 1 s grid) that
    is at least ``at_least`` s from now."""
    now = time.time()
    target = math.floor(now) + 1 + offset
    while target - now < at_least:
        target += 1
    return target


@attrs.frozen
class Outage:
    """When the server went away and when it answered again (Unix times)."""

    down: float
    back: float

    @property
    def length(self) -> float:
        return self.back - self.down


def take_away(
    server: ThrowawayServer,
    *,
    at: float,
    seconds: float,
    as_it_returns: Callable[[], None] = lambda: None,
) -> Outage:
    """Stop ``server`` (fast shutdown) at Unix time ``at``, keep it down ``seconds``,
    call ``as_it_returns()`` and start it again on the same port; the outage's times."""
    time.sleep(max(0.0, at - time.time()))
    down = time.time()
    server.stop()
    time.sleep(max(0.0, down + seconds - time.time()))
    as_it_returns()
    server.start()
    return Outage(down=down, back=time.time())


@attrs.define
class OutageReport:
    """The evidence after one outage, measured against issue 13's targets."""

    outage: Outage
    workers: int
    jobs: int
    runs: int = 0
    duplicates: list[tuple[str, str, int]] = attrs.Factory(list)
    duplicate_records: list[tuple[str, str, int]] = attrs.Factory(list)
    runs_without_record: list[Run] = attrs.Factory(list)
    runs_recorded_otherwise: list[tuple[Run, str]] = attrs.Factory(list)
    #: Ticks a handler ran that are also recorded as not run (coalesced, missed): a
    #: worker went back to ticks another one had run.
    run_and_folded: list[tuple[Run, str]] = attrs.Factory(list)
    ended_during_outage: int = 0
    not_resumed: list[str] = attrs.Factory(list)
    stalled: list[str] = attrs.Factory(list)
    resume_delays: dict[str, float] = attrs.Factory(dict)
    log_lines: dict[str, int] = attrs.Factory(dict)
    tracebacks: dict[str, int] = attrs.Factory(dict)

    def problems(self) -> list[str]:
        """What misses a target, one line each (empty: every target met)."""
        found = []
        if self.duplicates:
            found.append(f"{len(self.duplicates)} runs ran more than once: {self.duplicates[:5]}")
        if self.duplicate_records:
            found.append(
                f"{len(self.duplicate_records)} runs have several run records: "
                f"{self.duplicate_records[:5]}"
            )
        if self.runs_without_record:
            lost_in_outage = [r for r in self.runs_without_record if self.outage.down <= r.ended]
            found.append(
                f"{len(self.runs_without_record)} handler runs have no execution record "
                f"({len(lost_in_outage)} of them ended during or after the outage): "
                f"{[(r.job_id, r.scheduled_at) for r in self.runs_without_record[:5]]}"
            )
        if self.runs_recorded_otherwise:
            found.append(
                f"{len(self.runs_recorded_otherwise)} handler runs are recorded as something "
                f"other than completed: "
                f"{[(r.job_id, r.scheduled_at, s) for r, s in self.runs_recorded_otherwise[:5]]}"
            )
        if self.run_and_folded:
            found.append(
                f"{len(self.run_and_folded)} ticks that a handler ran are also recorded as "
                f"not run: {[(r.job_id, r.scheduled_at, s) for r, s in self.run_and_folded[:5]]}"
            )
        limit = RESUME_WITHIN + LOAD_SLACK
        if self.not_resumed:
            found.append(
                f"{len(self.not_resumed)} of {self.jobs} jobs did not run again within "
                f"{limit:g} s of the store's return: {self.not_resumed[:5]}"
            )
        if self.stalled:
            found.append(
                f"{len(self.stalled)} jobs ran again but then stopped running: {self.stalled[:5]}"
            )
        noisy = {w: n for w, n in self.log_lines.items() if n > MAX_LOG_LINES}
        if noisy:
            found.append(f"more than {MAX_LOG_LINES} log lines in the outage: {noisy}")
        traced = {w: n for w, n in self.tracebacks.items() if n}
        if traced:
            found.append(f"tracebacks logged: {traced}")
        return found

    def summary(self) -> str:
        delays = sorted(self.resume_delays.values())
        slowest = f"{delays[-1]:.2f} s" if delays else "n/a"
        median = f"{delays[len(delays) // 2]:.2f} s" if delays else "n/a"
        return (
            f"outage {self.outage.length:.1f} s, {self.workers} worker(s), {self.jobs} jobs: "
            f"{self.runs} handler runs ({self.ended_during_outage} ended during the "
            f"outage), {len(self.duplicates)} duplicate runs, "
            f"{len(self.runs_without_record)} runs without a record, "
            f"{len(self.runs_recorded_otherwise)} recorded as something else, "
            f"{len(self.not_resumed)} jobs not resumed within "
            f"{RESUME_WITHIN + LOAD_SLACK:g} s (first run after the return: median "
            f"{median}, slowest {slowest}), log lines during the outage per worker "
            f"{self.log_lines}, tracebacks per worker {self.tracebacks}"
        )


async def _records(url: str, job_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Every execution record's (scheduled_at, status), per job."""
    store = SQLAlchemyStore(url)
    await store.initialize()
    try:
        out: dict[str, list[tuple[str, str]]] = {}
        for job_id in job_ids:
            records = await store.list_executions(job_id, QueryOptions())
            out[job_id] = [(r.metadata.get("scheduled_at", ""), str(r.status)) for r in records]
        return out
    finally:
        await store.close()


def examine(
    fleet: Fleet, job_ids: list[str], outage: Outage, *, resume: bool = True
) -> OutageReport:
    """Gather the evidence once the workers have stopped (the server running);
    ``resume``: whether every job should run again after the outage (not a one-off)."""
    runs = fleet.runs()
    report = OutageReport(outage=outage, workers=len(fleet.workers), jobs=len(job_ids))
    report.runs = len(runs)
    report.ended_during_outage = sum(outage.down <= r.ended <= outage.back for r in runs)
    per_run = Counter((r.job_id, r.scheduled_at) for r in runs)
    report.duplicates = sorted((j, s, n) for (j, s), n in per_run.items() if n > 1)

    records = asyncio.run(_records(fleet.url, job_ids))
    statuses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for job_id, items in records.items():
        for scheduled_at, status in items:
            statuses[job_id, scheduled_at].append(status)
    run_outcomes = {"running", "completed", "failed", "timed_out"}
    report.duplicate_records = sorted(
        (job_id, scheduled_at, n)
        for (job_id, scheduled_at), found in statuses.items()
        if (n := sum(s in run_outcomes for s in found)) > 1
    )
    for run in runs:
        found = statuses.get((run.job_id, run.scheduled_at), [])
        if not found:
            report.runs_without_record.append(run)
        elif "completed" not in found:
            report.runs_recorded_otherwise.append((run, ",".join(found)))
        elif not_run := [s for s in found if s not in run_outcomes]:
            report.run_and_folded.append((run, ",".join(not_run)))

    deadline = outage.back + RESUME_WITHIN + LOAD_SLACK
    for job_id in job_ids:
        after = [r.started for r in runs if r.job_id == job_id and r.started >= outage.back]
        if after:
            report.resume_delays[job_id] = min(after) - outage.back
        if resume and (not after or min(after) > deadline):
            report.not_resumed.append(job_id)
        elif resume and len(after) < 2:  # the catch-up run, then at least one tick
            report.stalled.append(job_id)

    window_end = outage.back + AFTER_BACK
    for worker in fleet.workers:
        lines = worker.log_lines()
        report.log_lines[worker.worker_id] = sum(
            outage.down <= when <= window_end for when, _ in lines
        )
        report.tracebacks[worker.worker_id] = sum(
            "Traceback (most recent call last)" in line for _, line in lines
        )
    return report


def grid_origin() -> str:
    """A whole second in the past: the 1 s grid's origin, in ISO 8601 (UTC)."""
    return datetime.fromtimestamp(math.floor(time.time()) - 10, UTC).isoformat()
