"""A store that goes away is a state the scheduler gets through, not an error per call.

The store here is a shared ``MemoryStore`` whose backend "goes away": while ``down`` is
set, every call raises ``StorageConnectionError``, as a real store does when its server
is unreachable. (The same behaviour against real PostgreSQL and MariaDB servers that are
stopped and started again is in ``tests/faults``.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    JobData,
    JobEvent,
    JobStatus,
    MemoryStore,
    OnceSchedule,
    StartAtIntervalSchedule,
    StorageConnectionError,
)
from tickwork._store_outage import StoreOutage

_CALLS = {
    "claim_job",
    "claim_jobs",
    "delete_job",
    "finish_runs",
    "get_job",
    "get_jobs",
    "health_check",
    "list_due_jobs",
    "list_executions",
    "list_jobs",
    "list_jobs_changed_since",
    "release_claim",
    "release_claims",
    "renew_claim",
    "save_execution",
    "save_job",
    "save_runs",
    "save_runs_if",
    "update_job",
    "update_job_if",
}


class Unplugged(MemoryStore):
    """A shared memory store that can be cut off from its "server"."""

    def __init__(self) -> None:
        super().__init__(shared=True)
        self.down = False
        self.refused = 0

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name in _CALLS and super().__getattribute__("down"):

            async def refused(*args: Any, **kwargs: Any) -> Any:
                self.refused += 1
                raise StorageConnectionError("connection refused (the test unplugged it)")

            return refused
        return attribute


class Runs:
    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.seconds = 0.0

    async def __call__(self, event: JobEvent) -> None:
        self.events.append(event)
        await asyncio.sleep(self.seconds)

    def ticks(self) -> Counter[tuple[str, datetime]]:
        return Counter((e.id, e.scheduled_at) for e in self.events if not e.manual)


def grid(step: float = 0.2) -> StartAtIntervalSchedule:
    return StartAtIntervalSchedule(datetime.now(UTC), timedelta(seconds=step))


async def test_an_outage_between_ticks_is_one_warning_and_every_job_runs_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tickwork")
    store = Unplugged()
    runs = Runs()
    async with AsyncScheduler(store, runs, sync_interval=0.05) as scheduler:
        await scheduler.add_jobs([(f"job-{i}", grid()) for i in range(10)])
        await until(lambda: len(runs.events) >= 20)
        caplog.clear()
        store.down = True
        await asyncio.sleep(1.5)
        assert store.refused > 0
        store.down = False
        back = len(runs.events)
        await until(
            lambda: {e.id for e in runs.events[back:]} == {f"job-{i}" for i in range(10)},
            timeout=2.0,
            what="every job to run again within 2 s of the store's return",
        )
        await until(
            lambda: any("reachable again after" in r.getMessage() for r in caplog.records),
            timeout=3.0,
            what="the line that says the outage is over (after its settle pause)",
        )
    assert max(runs.ticks().values()) == 1, "a tick ran twice"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage()[:31] for r in warnings] == ["the store cannot be reached (co"]
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)
    assert any("reachable again after" in r.getMessage() for r in caplog.records)


async def test_a_run_that_ends_during_an_outage_keeps_its_outcome_and_its_claim() -> None:
    store = Unplugged()
    runs = Runs()
    runs.seconds = 0.5
    a = AsyncScheduler(store, runs, sync_interval=0.05)
    other = Runs()
    b = AsyncScheduler(store, other, sync_interval=0.05)
    async with a, b:
        await a.add_job("once", OnceSchedule(datetime.now(UTC)))
        await until(lambda: runs.events or other.events, what="the one-off to start")
        store.down = True  # the run ends while the store is away
        await asyncio.sleep(1.2)
        store.down = False
        await until(lambda: store.refused and not a._entries["once"].running, timeout=5)
        await asyncio.sleep(1.0)  # time for a wrong second run on either worker
    assert len(runs.events) + len(other.events) == 1, "the one-off ran twice"
    await store.initialize()
    records = await store.list_executions("once")
    assert [r.status for r in records] == [JobStatus.COMPLETED]
    job = await store.get_job("once")
    assert (job.status, job.next_run) == (JobStatus.COMPLETED, None)
    assert store._claims == {}


async def test_a_job_stranded_in_the_store_is_armed_by_reconciliation() -> None:
    """A job left due with nobody armed for it (its outcome was never written, a
    process died between claim and release) is found through list_due_jobs."""
    store = Unplugged()
    runs = Runs()
    async with AsyncScheduler(store, runs, sync_interval=0.05) as scheduler:
        # Written behind the scheduler's back, and its version noted as seen by the
        # change poll, as if this process had saved it: only reconciliation finds it.
        now = datetime.now(UTC)
        stranded = JobData(
            id="stranded",
            schedule_type="interval",
            schedule_config="1h",
            next_run=now - timedelta(seconds=10),
            created_at=now,
            updated_at=now - timedelta(minutes=5),
        )
        await store.save_job(stranded)
        found = await scheduler._reconciler.rearm_overdue()
        assert found == 1
        await until(lambda: runs.events, what="the stranded job to run")
    assert [e.id for e in runs.events] == ["stranded"]


async def test_the_outage_state_backs_off_and_recovers_once() -> None:
    store = Unplugged()
    await store.initialize()
    recovered: list[str] = []

    async def recover() -> str:
        recovered.append("yes")
        return "0 job(s) re-armed"

    outage = StoreOutage(store, recover, first_pause=0.01, max_pause=0.08, settle=0.0)
    store.down = True
    outage.report(StorageConnectionError("gone"))
    outage.report(StorageConnectionError("still gone"))  # one outage, not two
    assert outage.down
    await asyncio.sleep(0.5)
    probes = store.refused
    assert 4 <= probes <= 12, f"pauses grow to the cap: {probes} probes in 0.5 s"
    store.down = False
    assert await asyncio.wait_for(outage.wait_until_back(), 1.0)
    await until(lambda: recovered)
    assert not outage.down
    assert recovered == ["yes"]
    await outage.close()


async def test_stop_during_an_outage_gives_up_after_a_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Unplugged()
    runs = Runs()
    runs.seconds = 0.2
    scheduler = AsyncScheduler(store, runs, sync_interval=0.05)
    await scheduler.start()
    await scheduler.add_job("once", OnceSchedule(datetime.now(UTC)))
    await until(lambda: runs.events)
    store.down = True
    await asyncio.sleep(0.4)  # the run ended; its finish waits for the store
    loop = asyncio.get_running_loop()
    began = loop.time()
    await scheduler.stop(timeout=0.5)
    assert loop.time() - began < 3
    assert "were not written" in caplog.text


async def test_an_outage_is_one_store_error_event_and_one_recovered_event() -> None:
    from tickwork import StoreError, StoreRecovered

    store = Unplugged()
    seen: list[object] = []
    scheduler = AsyncScheduler(store, Runs(), sync_interval=0.05)
    scheduler.subscribe(seen.append, StoreError, StoreRecovered)
    async with scheduler:
        await scheduler.add_jobs([(f"job-{i}", grid()) for i in range(3)])
        store.down = True
        await until(lambda: seen, what="the store error event")
        await asyncio.sleep(0.5)
        store.down = False
        await until(lambda: len(seen) >= 2, timeout=5, what="the recovered event")
    error, recovered = seen
    assert isinstance(error, StoreError)
    assert "unplugged" in error.error
    assert isinstance(recovered, StoreRecovered)
    assert recovered.lasted >= timedelta(seconds=0.4)
