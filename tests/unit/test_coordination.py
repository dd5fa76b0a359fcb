"""Several schedulers sharing one store: each due run once, changes spread, failover.

The schedulers share one ``MemoryStore(shared=True)`` in this process, which
coordinates exactly as processes do through a shared database (the real-database,
multi-process versions of these tests are in tests/integration/sqlalchemy/).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    JobEvent,
    JobStatus,
    MemoryStore,
    OnceSchedule,
)

INTERVAL = timedelta(milliseconds=50)


class Log:
    def __init__(self) -> None:
        self.runs: list[tuple[str, str, datetime]] = []

    def handler(self, worker: str, delay: float = 0.0):  # type: ignore[no-untyped-def]
        async def handle(event: JobEvent) -> None:
            self.runs.append((worker, event.id, event.scheduled_at))
            if delay:
                await asyncio.sleep(delay)

        return handle


def schedulers(store: MemoryStore, log: Log, n: int = 3, **kw: object) -> list[AsyncScheduler]:
    return [
        AsyncScheduler(store, log.handler(f"w{i}"), worker_id=f"w{i}", sync_interval=0.05, **kw)  # type: ignore[arg-type]
        for i in range(n)
    ]


async def test_coordination_turns_on_for_shared_claiming_stores() -> None:
    assert not AsyncScheduler(MemoryStore()).coordinated
    assert AsyncScheduler(MemoryStore(shared=True)).coordinated
    assert not AsyncScheduler(MemoryStore(shared=True), coordinate=False).coordinated

    class NoClaims:
        """A store with the Store methods only (it cannot claim runs)."""

    for name in (
        "initialize close save_job update_job delete_job get_job list_jobs "
        "list_jobs_by_status save_execution get_execution list_executions "
        "delete_executions health_check"
    ).split():
        setattr(NoClaims, name, getattr(MemoryStore, name))
    with pytest.raises(TypeError, match="ClaimingStore"):
        AsyncScheduler(NoClaims(), coordinate=True)  # type: ignore[arg-type]


async def test_each_due_run_executes_once_across_schedulers() -> None:
    store, log = MemoryStore(shared=True), Log()
    group = schedulers(store, log)
    first = group[0]
    for s in group:
        await s.start()
    for j in range(10):
        await first.add_job(f"job-{j}", IntervalSchedule(INTERVAL))
    await asyncio.sleep(1.5)
    for s in group:
        await s.stop()
    counts = Counter((job, when) for _, job, when in log.runs)
    assert counts, "nothing ran"
    duplicates = {k: v for k, v in counts.items() if v > 1}
    assert duplicates == {}
    workers = Counter(worker for worker, _, _ in log.runs)
    assert len(workers) >= 2, f"one scheduler did all the work: {workers}"
    await store.initialize()
    for j in range(10):
        history = sorted(await store.list_executions(f"job-{j}"), key=lambda r: r.start_time)
        assert len(history) >= 10
        # No gaps: every run is due exactly one interval after the previous run ended.
        for before, after in itertools.pairwise(history):
            assert (
                datetime.fromisoformat(after.metadata["scheduled_at"]) == before.end_time + INTERVAL
            )


async def test_jobs_added_elsewhere_run_and_removal_spreads() -> None:
    store, log = MemoryStore(shared=True), Log()
    a, b = schedulers(store, log, 2)
    await a.start()
    await b.start()
    await a.add_job("shared", IntervalSchedule(INTERVAL))
    await until(lambda: any(w == "w1" for w, _, _ in log.runs), what="b runs a's job")
    await until(lambda: "shared" in {j.id for j in b._entries.values()})
    assert [j.id for j in await b.list_jobs()] == ["shared"]
    await b.pause_job("shared")
    assert (await a.get_job("shared")).status is JobStatus.DISABLED
    await asyncio.sleep(0.2)
    count = len(log.runs)
    await asyncio.sleep(0.3)
    assert len(log.runs) == count, "a paused job ran"
    await a.resume_job("shared")
    await until(lambda: len(log.runs) > count + 2)
    await b.remove_job("shared")
    await asyncio.sleep(0.2)
    count = len(log.runs)
    await asyncio.sleep(0.3)
    assert len(log.runs) == count, "a removed job ran"
    assert await a.list_jobs() == []
    await a.stop()
    await b.stop()


async def test_once_job_runs_once_across_schedulers() -> None:
    store, log = MemoryStore(shared=True), Log()
    group = schedulers(store, log)
    for s in group:
        await s.start()
    await group[1].add_job("once", OnceSchedule(datetime.now(UTC)))
    await until(lambda: log.runs)
    await asyncio.sleep(0.3)
    for s in group:
        await s.stop()
    assert [job for _, job, _ in log.runs] == ["once"]


async def test_run_of_a_dead_scheduler_is_taken_over_after_the_lease() -> None:
    store = MemoryStore(shared=True)
    ran: list[tuple[str, datetime]] = []
    stuck = asyncio.Event()

    async def dying(event: JobEvent) -> None:
        ran.append(("dead", event.scheduled_at))
        stuck.set()
        await asyncio.sleep(3600)  # never finishes, like a process that froze

    async def healthy(event: JobEvent) -> None:
        ran.append(("alive", event.scheduled_at))

    lease = timedelta(milliseconds=300)
    dead = AsyncScheduler(store, dying, worker_id="dead", claim_lease=lease, sync_interval=0.05)
    alive = AsyncScheduler(store, healthy, worker_id="alive", claim_lease=lease, sync_interval=0.05)
    await dead.start()
    await dead.add_job("job", OnceSchedule(datetime.now(UTC)))
    await asyncio.wait_for(stuck.wait(), 5)
    # The frozen process stops renewing its claim.
    assert dead._coordinator is not None
    dead._coordinator.lease = timedelta(hours=1)  # renewals would now be hourly
    for task in asyncio.all_tasks():
        if task.get_name().startswith("tickwork-lease-"):
            task.cancel()
    await alive.start()
    await until(lambda: any(w == "alive" for w, _ in ran), timeout=5, what="takeover")
    assert ran[0][1] == ran[1][1], "the taken-over run is the same due run"
    await alive.stop()
    await dead.stop(timeout=0.1)
