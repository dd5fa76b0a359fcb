"""SQLAlchemyStore keeps the registry of the schedulers sharing it (``scheduler_workers``,
tickwork.abc.WorkerRegistryStore): the contract on every backend, two store objects on
one database as two processes would have, and three schedulers splitting the claims."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from support.waiting import until

from tickwork import AsyncScheduler, JobEvent, OnceSchedule
from tickwork.abc import Store
from tickwork.testing import WorkerRegistryContract
from tickwork_sqlalchemy_store import SQLAlchemyStore


class TestSQLWorkerRegistry(WorkerRegistryContract):
    """The contract on the servers (``[postgresql]``, ``[mariadb]``); SQLite keeps no
    registry (every scheduler on a file claims every run)."""

    @pytest.fixture
    def make_store(self, server_database_url: str) -> Callable[[], Store]:
        return lambda: SQLAlchemyStore(server_database_url, shared=True)


class CountingStore(SQLAlchemyStore):
    """Counts the claims each store object asks for."""

    def __init__(self, url: str) -> None:
        super().__init__(url, shared=True)
        self.claimed: Counter[str] = Counter()

    async def claim_jobs(self, runs, owner, lease_until, now):  # type: ignore[no-untyped-def]
        self.claimed.update(job_id for job_id, _ in runs)
        return await super().claim_jobs(runs, owner, lease_until, now)


async def test_three_schedulers_on_one_database_claim_each_run_once(
    server_database_url: str,
) -> None:
    database_url = server_database_url
    runs: list[tuple[str, str]] = []

    def handler(worker: str):  # type: ignore[no-untyped-def]
        async def handle(event: JobEvent) -> None:
            runs.append((worker, event.id))

        return handle

    stores = [CountingStore(database_url) for _ in range(3)]
    schedulers = [
        AsyncScheduler(store, handler(f"w{i}"), worker_id=f"w{i}", sync_interval=1.0)
        for i, store in enumerate(stores)
    ]
    for s in schedulers:
        await s.start()
    try:
        await until(
            lambda: all(len(s._coordinator.membership.members) == 3 for s in schedulers),  # type: ignore[union-attr]
            timeout=10,
        )
        due = datetime.now(UTC) + timedelta(seconds=1)
        await schedulers[0].add_jobs([(f"job-{i}", OnceSchedule(due)) for i in range(30)])
        await until(lambda: len(runs) == 30, timeout=15)
        await asyncio.sleep(2.5)  # past the others' deferral: nothing more is claimed
    finally:
        for s in schedulers:
            await s.stop()
    assert Counter(job for _, job in runs) == {f"job-{i}": 1 for i in range(30)}
    # One claim a run (90 without the registry); on a loaded machine an owner now and
    # then takes longer than the others' pause, and they claim (and lose) that run too.
    assert sum(sum(store.claimed.values()) for store in stores) < 45
    assert {worker for worker, _ in runs} == {"w0", "w1", "w2"}
