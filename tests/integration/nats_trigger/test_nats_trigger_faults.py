"""The NATS trigger through failures: a server crash, a lost next run, restarts, and
several schedulers sharing one store (NATS KV or SQL)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.nats_server import NatsServer
from support.services import POSTGRES_URL, require_port
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    JobEvent,
    JobStatus,
    MemoryStore,
    OnceSchedule,
)
from tickwork_nats_trigger import NATSTrigger, create_nats_scheduler

pytestmark = pytest.mark.nats

INTERVAL = timedelta(milliseconds=400)


class Recorder:
    def __init__(self) -> None:
        self.events: dict[str, list[JobEvent]] = defaultdict(list)
        self.workers: dict[str, set[str]] = defaultdict(set)

    def named(self, worker: str) -> Any:
        async def handler(event: JobEvent) -> None:
            self.events[event.id].append(event)
            self.workers[event.id].add(worker)

        return handler

    async def __call__(self, event: JobEvent) -> None:
        self.events[event.id].append(event)

    def count(self, job_id: str) -> int:
        return len(self.events[job_id])

    def ticks(self, job_id: str) -> list[datetime]:
        return [e.scheduled_at for e in self.events[job_id]]


@pytest.mark.slow
async def test_a_server_crash_and_restart_keeps_every_schedule(nats_server: NatsServer) -> None:
    recorder = Recorder()
    # A run that ends while the server is down cannot save its job's new state; the
    # reconciler (fast here) re-arms what the store still holds.
    scheduler = create_nats_scheduler(
        nats_server.url, recorder, ack_wait=3, reconciler_interval=1, reconciler_grace_period=2
    )
    async with scheduler:
        for name in ("a", "b", "c"):
            await scheduler.add_job(name, IntervalSchedule(INTERVAL))
        later = datetime.now(UTC) + timedelta(seconds=2)
        await scheduler.add_job("during-outage", OnceSchedule(later))
        await until(lambda: all(recorder.count(j) >= 2 for j in "abc"), timeout=5)

        await asyncio.to_thread(nats_server.kill)  # SIGKILL: nothing flushed on purpose
        await asyncio.sleep(2.5)  # "during-outage" comes due while the server is down
        counts = {j: recorder.count(j) for j in "abc"}
        await asyncio.to_thread(nats_server.restart)

        await until(
            lambda: (
                all(recorder.count(j) >= counts[j] + 3 for j in "abc")
                and recorder.count("during-outage") == 1
            ),
            timeout=20,
            what="jobs running again after the server restart",
        )
    for job_id in "abc":
        ticks = recorder.ticks(job_id)
        assert len(ticks) == len(set(ticks)), f"{job_id}: a tick ran twice"
    assert recorder.count("during-outage") == 1


async def test_a_lost_next_run_is_reported_marked_and_repaired(nats_server: NatsServer) -> None:
    """The next run cannot be armed (the server dies during the run): the hook is
    called, the job is marked rescheduling_failed, and the reconciler re-arms it."""
    recorder = Recorder()
    failures: list[tuple[str, datetime, BaseException]] = []
    store = MemoryStore()  # stays up while NATS is down
    killed = asyncio.Event()

    async def handler(event: JobEvent) -> None:
        await recorder(event)
        if not killed.is_set():
            killed.set()
            await asyncio.to_thread(nats_server.kill)

    trigger = NATSTrigger(
        nats_server.url,
        ack_wait=3,
        publish_retry=(2, 0.05),
        request_timeout=1.0,
        reconciler_interval=0.5,
        reconciler_grace_period=0,
        on_rescheduling_failed=lambda job_id, at, exc: failures.append((job_id, at, exc)),
    )
    async with AsyncScheduler(store, handler, trigger=trigger) as scheduler:
        await scheduler.add_job("r", IntervalSchedule(INTERVAL))
        await until(lambda: failures, timeout=10, what="on_rescheduling_failed")
        job = await store.get_job("r")
        assert job.status == JobStatus.RESCHEDULING_FAILED
        assert failures[0][0] == "r"
        assert failures[0][1] == job.next_run
        await asyncio.to_thread(nats_server.restart)
        await until(lambda: recorder.count("r") >= 3, timeout=20, what="the repaired chain")
        assert (await store.get_job("r")).status != JobStatus.RESCHEDULING_FAILED


async def test_restarting_every_worker_resumes_without_rapid_fire(nats_server: NatsServer) -> None:
    recorder = Recorder()

    def worker(name: str) -> AsyncScheduler:
        return create_nats_scheduler(
            nats_server.url, recorder.named(name), ack_wait=3, worker_id=name
        )

    first = [worker("a1"), worker("a2")]
    for scheduler in first:
        await scheduler.start()
    await first[0].add_job("tick", IntervalSchedule(INTERVAL))
    await first[1].add_job("once", OnceSchedule(datetime.now(UTC) + timedelta(milliseconds=200)))
    await until(lambda: recorder.count("tick") >= 3 and recorder.count("once") == 1, timeout=5)
    for scheduler in first:
        await scheduler.stop()
    before = recorder.count("tick")
    await asyncio.sleep(1.5)

    second = [worker("b1"), worker("b2")]
    for scheduler in second:
        await scheduler.start()
    try:
        await until(lambda: recorder.count("tick") >= before + 4, timeout=8, what="resumed")
    finally:
        for scheduler in second:
            await scheduler.stop()
    after = recorder.events["tick"][before:]
    for previous, event in itertools.pairwise(after):
        assert event.started_at - previous.started_at >= INTERVAL, "rapid fire after restart"
    assert recorder.count("once") == 1, "a once job ran again after a restart"
    ticks = recorder.ticks("tick")
    assert len(ticks) == len(set(ticks))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty SQL database (PostgreSQL: a schema of its own, dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
        return
    require_port("postgresql", "127.0.0.1", 5432)
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    schema = f"tw_nats_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(POSTGRES_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    request.node.stash[_SCHEMA] = schema
    try:
        yield POSTGRES_URL
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


_SCHEMA = pytest.StashKey[str]()


async def test_a_sql_store_shared_by_two_schedulers(
    nats_server: NatsServer, sql_url: str, request: pytest.FixtureRequest
) -> None:
    """trigger="nats" with a SQL store: a job added through one scheduler runs on
    whichever gets its due run, each tick once."""
    recorder = Recorder()
    store_options = {}
    if sql_url.startswith("postgresql"):
        store_options["schema"] = request.node.stash[_SCHEMA]

    def worker(name: str) -> AsyncScheduler:
        return AsyncScheduler(
            sql_url,
            recorder.named(name),
            trigger="nats",
            trigger_options={"servers": nats_server.url, "ack_wait": 3},
            store_options=store_options,
            worker_id=name,
        )

    one, two = worker("one"), worker("two")
    async with one, two:
        for i in range(6):
            await one.add_job(f"job-{i}", IntervalSchedule(INTERVAL))
        jobs = [f"job-{i}" for i in range(6)]
        await until(lambda: all(recorder.count(j) >= 4 for j in jobs), timeout=10)
        await two.pause_job("job-0")  # a change made through the other scheduler
        await asyncio.sleep(0.3)
        paused = recorder.count("job-0")
        await asyncio.sleep(1.0)
        assert recorder.count("job-0") == paused
    ran_on = set().union(*(recorder.workers[j] for j in jobs))
    assert ran_on == {"one", "two"}, f"only {ran_on} ran jobs"
    for job_id in jobs:
        ticks = recorder.ticks(job_id)
        assert len(ticks) == len(set(ticks)), f"{job_id}: a tick ran twice"
