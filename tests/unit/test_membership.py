"""Schedulers sharing a store split the claims by job: one owner per job, the others
claim only what the owner leaves undone (tickwork._membership)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.waiting import until

from tickwork import AsyncScheduler, JobEvent, MemoryStore, OnceSchedule, StartAtIntervalSchedule
from tickwork._membership import owner_of
from tickwork.abc import Store, WorkerRegistryStore
from tickwork.testing import WorkerRegistryContract

members_st = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=6, unique=True)


@given(members_st, st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30))
def test_every_job_has_one_owner_among_the_members_whatever_their_order(
    members: list[str], jobs: list[str]
) -> None:
    for job in jobs:
        owner = owner_of(job, tuple(members))
        assert owner in members
        assert owner_of(job, tuple(reversed(members))) == owner


@given(members_st, st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30))
def test_a_member_leaving_moves_only_its_own_jobs(members: list[str], jobs: list[str]) -> None:
    gone = members[0]
    rest = tuple(members[1:])
    for job in jobs:
        before = owner_of(job, tuple(members))
        if before != gone and rest:
            assert owner_of(job, rest) == before


async def test_the_memory_store_keeps_a_registry_of_live_schedulers() -> None:
    store = MemoryStore(shared=True)
    await store.initialize()
    assert isinstance(store, WorkerRegistryStore)
    now = datetime.now(UTC)
    assert await store.heartbeat("a", now + timedelta(seconds=5), now) == ["a"]
    assert await store.heartbeat("b", now + timedelta(seconds=1), now) == ["a", "b"]
    later = now + timedelta(seconds=2)  # b's time has passed
    assert await store.heartbeat("a", later + timedelta(seconds=5), later) == ["a"]
    await store.leave("a")
    assert await store.heartbeat("c", later + timedelta(seconds=5), later) == ["c"]


class CountingStore(MemoryStore):
    """Counts the claims asked for, per job."""

    def __init__(self) -> None:
        super().__init__(shared=True)
        self.claims: Counter[str] = Counter()

    async def claim_jobs(self, runs, owner, lease_until, now):  # type: ignore[no-untyped-def]
        self.claims.update(job_id for job_id, _ in runs)
        return await super().claim_jobs(runs, owner, lease_until, now)


async def test_three_schedulers_claim_each_run_once_and_share_the_jobs() -> None:
    store = CountingStore()
    runs: list[tuple[str, str]] = []

    def handler(worker: str):  # type: ignore[no-untyped-def]
        async def handle(event: JobEvent) -> None:
            runs.append((worker, event.id))

        return handle

    schedulers = [
        AsyncScheduler(store, handler(f"w{i}"), worker_id=f"w{i}", sync_interval=0.1)
        for i in range(3)
    ]
    for s in schedulers:
        await s.start()
    try:
        await until(lambda: all(len(s._coordinator.membership.members) == 3 for s in schedulers))  # type: ignore[union-attr]
        due = datetime.now(UTC) + timedelta(milliseconds=300)
        await schedulers[0].add_jobs([(f"job-{i}", OnceSchedule(due)) for i in range(60)])
        await until(lambda: len(runs) == 60, timeout=10)
        await asyncio.sleep(0.5)  # a deferred claim would come by now
    finally:
        for s in schedulers:
            await s.stop()
    assert Counter(job for _, job in runs) == {f"job-{i}": 1 for i in range(60)}
    assert sum(store.claims.values()) == 60  # one claim per run: only the owner asked
    by_worker = Counter(worker for worker, _ in runs)
    assert set(by_worker) == {"w0", "w1", "w2"}  # the jobs are spread over all three


async def test_the_runs_of_an_owner_that_went_silent_are_taken_over() -> None:
    store = MemoryStore(shared=True)
    runs: list[str] = []

    async def handle(event: JobEvent) -> None:
        runs.append(event.id)

    scheduler = AsyncScheduler(store, handle, worker_id="alive", sync_interval=0.1)
    await scheduler.start()
    try:
        # A scheduler that registered and then stopped answering (killed): it still
        # counts as alive, so it owns some of the jobs, whose runs nobody claims at once.
        now = datetime.now(UTC)
        await store.heartbeat("silent", now + timedelta(seconds=60), now)
        membership = scheduler._coordinator.membership  # type: ignore[union-attr]
        await until(lambda: membership.members == ("alive", "silent"))
        due = datetime.now(UTC) + timedelta(milliseconds=200)
        jobs = [f"job-{i}" for i in range(20)]
        await scheduler.add_jobs([(job, OnceSchedule(due)) for job in jobs])
        silent_owned = [job for job in jobs if not membership.owns(job)]
        assert silent_owned  # (20 jobs over 2 owners: about half)
        await until(lambda: len(runs) == 20, timeout=5)
    finally:
        await scheduler.stop()
    assert sorted(runs) == sorted(jobs)  # every run once, the silent owner's ones late


class TestMemoryStoreRegistry(WorkerRegistryContract):
    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        shared = MemoryStore(shared=True)  # one backend: both "stores" are the same object
        return lambda: shared


async def test_a_job_taken_over_once_is_claimed_at_once_after_that() -> None:
    """Its owner does not run it (dead, not yet forgotten): one deferred run, then the
    job's runs are claimed here as they come due."""
    store = MemoryStore(shared=True)
    starts: list[datetime] = []

    async def handle(event: JobEvent) -> None:
        starts.append(event.scheduled_at)

    scheduler = AsyncScheduler(store, handle, worker_id="alive", sync_interval=0.2)
    await scheduler.start()
    try:
        now = datetime.now(UTC)
        await store.heartbeat("silent", now + timedelta(seconds=60), now)
        membership = scheduler._coordinator.membership  # type: ignore[union-attr]
        await until(lambda: membership.members == ("alive", "silent"))
        job = next(
            f"job-{i}" for i in range(100) if owner_of(f"job-{i}", membership.members) == "silent"
        )
        grid = StartAtIntervalSchedule(datetime.now(UTC), timedelta(milliseconds=100))
        await scheduler.add_job(job, grid)
        await until(lambda: len(starts) >= 8, timeout=5)
    finally:
        await scheduler.stop()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= timedelta(milliseconds=100)  # (the grid's own step)
    # Only the first run waited for the owner (defer_for: 0.4 s); the rest kept the grid.
    assert max(gaps[1:]) <= timedelta(milliseconds=250), starts
