"""Run policies and the tick log behave the same with the NATS trigger as with the
local one: the scheduler applies them to whatever delivers the due runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from support.nats_server import NatsServer
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    JobData,
    JobEvent,
    JobStatus,
    OnceSchedule,
    QueryOptions,
    RetryPolicy,
    StartAtIntervalSchedule,
    default_codec,
)
from tickwork_nats_store import NATSStore
from tickwork_nats_trigger import create_nats_scheduler

pytestmark = pytest.mark.nats


def scheduler(server: NatsServer, handler: object) -> AsyncScheduler:
    return create_nats_scheduler(server.url, handler, ack_wait=3)


async def outcomes(s: AsyncScheduler, job_id: str) -> Counter[str]:
    records = await s.store.list_executions(job_id)
    return Counter(str(r.status) for r in records)


async def test_retry_and_timeout_with_the_nats_trigger(nats_server: NatsServer) -> None:
    attempts: list[int] = []

    async def handler(event: JobEvent) -> None:
        attempts.append(event.attempt)
        if event.id == "slow":
            await asyncio.sleep(10)
        if event.id == "flaky" and event.attempt < 3:
            raise RuntimeError(f"attempt {event.attempt}")

    async with scheduler(nats_server, handler) as s:
        retry = RetryPolicy(max_attempts=3, backoff=timedelta(milliseconds=20), jitter=0)
        await s.add_job("flaky", OnceSchedule(datetime.now(UTC)), retry=retry)
        await s.add_job("slow", OnceSchedule(datetime.now(UTC)), timeout=0.2)
        await until(lambda: attempts.count(3) == 1, timeout=15, what="three attempts")
        await until(lambda: len(attempts) >= 4, timeout=15)

        async def settled() -> bool:
            return (await outcomes(s, "slow"))["timed_out"] == 1

        deadline = asyncio.get_running_loop().time() + 15
        while not await settled():
            assert asyncio.get_running_loop().time() < deadline, "no timed_out record"
            await asyncio.sleep(0.05)
        flaky = await s.store.list_executions("flaky")
        assert sorted((r.metadata["attempt"], str(r.status)) for r in flaky) == [
            ("1", "failed"),
            ("2", "failed"),
            ("3", "completed"),
        ]
        assert (await s.get_job("slow")).status is JobStatus.FAILED


async def test_missed_runs_and_catch_up_with_the_nats_trigger(nats_server: NatsServer) -> None:
    ran: list[JobEvent] = []
    # A grid whose start lies five ticks in the past: the first delivery finds five
    # ticks due at once, runs the latest and records the other four as coalesced.
    interval = timedelta(minutes=1)
    start = datetime.now(UTC) - 5 * interval + timedelta(seconds=5)
    # The job's stored next run is its first tick, five ticks ago: nothing ran since.
    kind, config = default_codec().encode(StartAtIntervalSchedule(start, interval))
    store = NATSStore(servers=nats_server.url)
    await store.initialize()
    await store.save_job(
        JobData(id="catch-up", schedule_type=kind, schedule_config=config, next_run=start)
    )
    await store.close()
    async with scheduler(nats_server, ran.append) as s:
        await s.add_job(
            "late",
            OnceSchedule(datetime.now(UTC) - timedelta(minutes=10)),
            misfire_grace_time=timedelta(minutes=1),
        )
        await until(lambda: any(e.id == "catch-up" for e in ran), timeout=15)

        async def logged() -> Counter[str]:
            return await outcomes(s, "catch-up") + await outcomes(s, "late")

        deadline = asyncio.get_running_loop().time() + 15
        while (await logged())["missed"] < 1 or (await logged())["coalesced"] < 4:
            assert asyncio.get_running_loop().time() < deadline, await logged()
            await asyncio.sleep(0.05)
        assert [e.scheduled_at for e in ran if e.id == "catch-up"] == [start + 4 * interval]
        assert all(e.id != "late" for e in ran)
        missed = await s.store.list_executions("late", QueryOptions(status="missed"))
        assert len(missed) == 1
