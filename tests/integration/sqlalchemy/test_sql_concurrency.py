"""Many writers at once: tasks sharing a small pool, stores sharing a SQLite file, and
processes sharing a SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sql_helpers import T0, job, record

from tickwork import QueryOptions
from tickwork_sqlalchemy_store import SQLAlchemyStore


async def test_100_concurrent_saves_through_a_two_connection_pool(database_url: str) -> None:
    store = SQLAlchemyStore(database_url, engine_options={"pool_size": 2, "max_overflow": 0})
    await store.initialize()
    try:
        records = [
            record("busy", f"run-{i:03d}", start_time=T0 + timedelta(seconds=i)) for i in range(100)
        ]
        await asyncio.gather(*(store.save_execution(r) for r in records))
        await asyncio.gather(*(store.save_execution(r) for r in records))  # now all updates
        got = await store.list_executions("busy")
        assert [r.execution_id for r in got] == [r.execution_id for r in records]
        reads = await asyncio.gather(
            *(store.list_executions("busy", QueryOptions(limit=5, offset=i)) for i in range(50))
        )
        assert [page[0].execution_id for page in reads] == [f"run-{i:03d}" for i in range(50)]
    finally:
        await store.close()


async def test_several_stores_write_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    stores = [SQLAlchemyStore(url) for _ in range(4)]
    await asyncio.gather(*(store.initialize() for store in stores))
    try:
        await asyncio.gather(
            *(
                store.save_execution(record("shared", f"s{n}-{i}"))
                for n, store in enumerate(stores)
                for i in range(25)
            ),
            *(store.save_job(job(f"job-{n}")) for n, store in enumerate(stores)),
        )
        assert len(await stores[0].list_executions("shared")) == 100
        assert [j.id for j in await stores[3].list_jobs()] == [f"job-{n}" for n in range(4)]
    finally:
        for store in stores:
            await store.close()
    with sqlite3.connect(tmp_path / "shared.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


WRITER = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from tickwork import ExecutionRecord
from tickwork_sqlalchemy_store import SQLAlchemyStore

async def main(url, prefix):
    store = SQLAlchemyStore(url)
    await store.initialize()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    await asyncio.gather(*(
        store.save_execution(ExecutionRecord(
            job_id="multi", execution_id=f"{prefix}-{i:03d}", start_time=now,
            end_time=now + timedelta(seconds=1), duration=timedelta(seconds=1)))
        for i in range(100)
    ))
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_several_processes_write_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'multi.db'}"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, url, f"p{n}", stderr=asyncio.subprocess.PIPE
        )
        for n in range(2)
    ]
    for process in processes:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()
    store = SQLAlchemyStore(url)
    await store.initialize()
    try:
        got = await store.list_executions("multi")
        assert len(got) == 200
        assert {r.execution_id[:2] for r in got} == {"p0", "p1"}
    finally:
        await store.close()


async def test_waiting_for_another_writer_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """SQLite waits for another connection's write lock in the store's own thread: the
    loop keeps running meanwhile, the calls behind the waiting one queue, and a queued
    call that is cancelled is never written."""
    path = tmp_path / "locked.db"
    store = SQLAlchemyStore(f"sqlite:///{path}", connect_timeout=10)
    await store.initialize()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock, as another process would
        first = asyncio.create_task(store.save_job(job("first")))
        queued = asyncio.create_task(store.save_job(job("cancelled")))
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert loop.time() - started < 1.0, "the event loop stalled while SQLite waited"
        assert not first.done()
        queued.cancel()
        other.execute("COMMIT")
        await asyncio.wait_for(first, timeout=10)
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert [j.id for j in await store.list_jobs()] == ["first"]
    finally:
        other.close()
        await store.close()


async def test_claims_go_ahead_of_other_calls_waiting_for_the_sqlite_thread(
    tmp_path: Path,
) -> None:
    """A run waits for its claim; writes after runs can wait. A claim queued behind an
    update of the same job runs first, so it still finds the job due."""
    path = tmp_path / "lanes.db"
    store = SQLAlchemyStore(f"sqlite:///{path}", connect_timeout=10)
    await store.initialize()
    due = T0 + timedelta(minutes=5)
    await store.save_job(job("j", next_run=due))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the store's thread waits in the first call
        blocked = asyncio.create_task(store.save_job(job("first")))
        await asyncio.sleep(0.05)
        moved = asyncio.create_task(store.update_job(job("j", next_run=due + timedelta(hours=1))))
        await asyncio.sleep(0.01)
        claim = asyncio.create_task(
            store.claim_jobs([("j", due)], "a", T0 + timedelta(minutes=10), T0)
        )
        await asyncio.sleep(0.05)
        assert [t.done() for t in (blocked, moved, claim)] == [False, False, False]
        other.execute("COMMIT")
        claimed = await asyncio.wait_for(claim, timeout=10)
        assert list(claimed) == ["j"]
        assert claimed["j"].next_run == due
        await asyncio.wait_for(asyncio.gather(blocked, moved), timeout=10)
        assert (await store.get_job("j")).next_run == due + timedelta(hours=1)
    finally:
        other.close()
        await store.close()
