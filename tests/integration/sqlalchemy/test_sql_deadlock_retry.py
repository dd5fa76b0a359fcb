"""A transaction the server rolls back to break a deadlock is run again, not failed.

Each test makes a real deadlock between the store's runner and another connection, and
arranges for the runner's transaction to be the victim: on MariaDB, InnoDB rolls back
the transaction that changed fewer rows (the other side changes many); on PostgreSQL,
the backend whose ``deadlock_timeout`` ends first finds the cycle and aborts its own
transaction (the other side waits ten times longer before it looks).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sql_helpers import execute, query
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_

import tickwork
from tickwork_sqlalchemy_store import _runners
from tickwork_sqlalchemy_store._runners import EngineRunner

TABLE = "tickwork_deadlock_probe"
ROWS = 50


@pytest.fixture
async def probe(server_database_url: str) -> AsyncIterator[str]:
    """``server_database_url`` with a table of ROWS counters, all 0."""
    url = server_database_url
    values = ", ".join(f"({i}, 0)" for i in range(1, ROWS + 1))
    await execute(
        url,
        f"DROP TABLE IF EXISTS {TABLE}",
        f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
        f"INSERT INTO {TABLE} (id, n) VALUES {values}",
    )
    yield url
    await execute(url, f"DROP TABLE IF EXISTS {TABLE}")


class Deadlocker:
    """Another program that deadlocks with the runner's first ``times`` tries.

    For each try it changes rows 2..ROWS, waits until the runner holds row 1 and waits
    for row 2, then asks for row 1 itself, which closes the cycle.
    """

    def __init__(self, url: str, times: int) -> None:
        self._engine = create_async_engine(url, poolclass=NullPool)
        self._postgres = url.startswith("postgresql")
        self.times = times
        self.holding = asyncio.Event()
        self.runner_holds_row_1 = asyncio.Event()

    async def run(self) -> None:
        try:
            for _ in range(self.times):
                await self._one_cycle()
        finally:
            await self._engine.dispose()

    async def _one_cycle(self) -> None:
        async with self._engine.connect() as conn:
            await conn.begin()
            if self._postgres:
                await conn.execute(text("SET LOCAL deadlock_timeout = '10s'"))
            await conn.execute(text(f"UPDATE {TABLE} SET n = n + 100 WHERE id >= 2"))
            self.holding.set()
            await self.runner_holds_row_1.wait()
            self.runner_holds_row_1.clear()
            self.holding.clear()  # before the runner can roll back and try again
            await asyncio.sleep(0.3)  # the runner's UPDATE of row 2 now waits for us
            await conn.execute(text(f"UPDATE {TABLE} SET n = n + 100 WHERE id = 1"))
            await conn.commit()


def counting_work(deadlocker: Deadlocker) -> tuple[Callable[[Connection], int], list[int]]:
    """Work that adds 1 to rows 1 and 2, in that order, and counts its tries; a try
    the deadlocker means to meet first waits until it holds its rows."""
    tries: list[int] = []

    def work(conn: Connection) -> int:
        tries.append(len(tries) + 1)
        if len(tries) <= deadlocker.times:
            await_(deadlocker.holding.wait())  # run_sync lets work await on the loop
        conn.execute(text(f"UPDATE {TABLE} SET n = n + 1 WHERE id = 1"))
        deadlocker.runner_holds_row_1.set()  # same thread: run_sync works in the loop's
        conn.execute(text(f"UPDATE {TABLE} SET n = n + 1 WHERE id = 2"))
        return len(tries)

    return work, tries


async def counters(url: str) -> dict[int, int]:
    return {row.id: row.n for row in await query(url, f"SELECT id, n FROM {TABLE}")}


async def test_a_deadlock_victim_is_run_again_and_commits_once(probe: str) -> None:
    deadlocker = Deadlocker(probe, times=1)
    work, tries = counting_work(deadlocker)
    runner = EngineRunner(create_async_engine(probe), "the test database", owned=True)
    try:
        other = asyncio.create_task(deadlocker.run())
        assert await asyncio.wait_for(runner.transaction("add to the probe", work), 30) == 2
        await other
    finally:
        await runner.close()
    assert tries == [1, 2]  # the first try lost the deadlock
    stored = await counters(probe)
    # Both transactions committed, each once: the runner's first try left nothing.
    assert (stored[1], stored[2], stored[3]) == (101, 101, 100)


async def test_the_last_lost_try_is_a_storage_operation_error(
    probe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_runners, "CONFLICT_ATTEMPTS", 2)
    deadlocker = Deadlocker(probe, times=2)
    work, tries = counting_work(deadlocker)
    runner = EngineRunner(create_async_engine(probe), "the test database", owned=True)
    try:
        other = asyncio.create_task(deadlocker.run())
        with pytest.raises(tickwork.StorageOperationError) as caught:
            await asyncio.wait_for(runner.transaction("add to the probe", work), 30)
        await other
    finally:
        await runner.close()
    assert tries == [1, 2]
    assert "the test database failed to add to the probe" in str(caught.value)
    assert "deadlock" in str(caught.value).lower()
    stored = await counters(probe)
    assert (stored[1], stored[2]) == (200, 200)  # only the other program's changes


async def test_other_errors_are_not_run_again(probe: str) -> None:
    tries: list[int] = []

    def work(conn: Connection) -> None:
        tries.append(1)
        conn.execute(text(f"INSERT INTO {TABLE} (id, n) VALUES (1, 0)"))  # duplicate key

    runner = EngineRunner(create_async_engine(probe), "the test database", owned=True)
    try:
        with pytest.raises(tickwork.StorageOperationError):
            await runner.transaction("insert a duplicate", work)
    finally:
        await runner.close()
    assert tries == [1]
