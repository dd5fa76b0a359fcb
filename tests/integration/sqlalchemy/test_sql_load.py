"""A long history stays quick to query: 100,000 execution records, filtered and
limited in SQL through the history index."""

from __future__ import annotations

import functools
import time
from datetime import timedelta

import pytest
from sql_helpers import T0, drop_tables

from tickwork import ExecutionRecord, JobStatus, QueryOptions
from tickwork_sqlalchemy_store import SQLAlchemyStore

TOTAL = 100_000
HOT = 80_000  # records of the one job queried; the rest belong to 20 others
CHUNK = 10_000

# A query over the indexed history must not scale with the history's length; the bound
# is loose so a busy CI machine does not fail it, yet a full scan plus sort of 80,000
# rows through the driver would still exceed it.
QUERY_BUDGET_S = 1.0


@functools.cache
def history() -> list[ExecutionRecord]:
    """The records, built once per session (the store only reads them)."""
    records = []
    for i in range(TOTAL):
        job_id = "hot" if i < HOT else f"cold-{i % 20}"
        start = T0 + timedelta(seconds=i)
        records.append(
            ExecutionRecord(
                job_id=job_id,
                execution_id=f"run-{i:06d}",
                start_time=start,
                end_time=start + timedelta(milliseconds=i % 997),
                duration=timedelta(milliseconds=i % 997),
                status=JobStatus.FAILED if i % 10 == 0 else JobStatus.COMPLETED,
                error="boom" if i % 10 == 0 else None,
                metadata={"n": str(i)},
            )
        )
    return records


async def timed(store: SQLAlchemyStore, options: QueryOptions) -> tuple[list[str], float]:
    started = time.perf_counter()
    records = await store.list_executions("hot", options)
    return [r.execution_id for r in records], time.perf_counter() - started


@pytest.mark.slow
async def test_history_queries_over_100k_records(database_url: str, backend: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        records = history()
        started = time.perf_counter()
        for offset in range(0, TOTAL, CHUNK):
            assert await store.save_runs(records[offset : offset + CHUNK], []) == set()
        print(f"\n{backend}: inserted {TOTAL} rows in {time.perf_counter() - started:.2f}s")

        await store.list_executions("hot", QueryOptions(limit=1))  # warm the pool

        latest_failures, took = await timed(
            store, QueryOptions(status=JobStatus.FAILED, limit=20, sort_desc=True)
        )
        print(f"{backend}: last 20 failures of 80k runs in {took * 1000:.1f} ms")
        assert latest_failures == [f"run-{i:06d}" for i in range(HOT - 10, HOT - 210, -10)]
        assert took < QUERY_BUDGET_S

        window = QueryOptions(
            start_time=T0 + timedelta(hours=10), end_time=T0 + timedelta(hours=11), limit=50
        )
        first_in_window, took = await timed(store, window)
        print(f"{backend}: 50 runs of a one-hour window in {took * 1000:.1f} ms")
        assert first_in_window == [f"run-{i:06d}" for i in range(36_000, 36_050)]
        assert took < QUERY_BUDGET_S

        page, took = await timed(store, QueryOptions(limit=10, offset=50_000))
        print(f"{backend}: page at offset 50,000 in {took * 1000:.1f} ms")
        assert page == [f"run-{i:06d}" for i in range(50_000, 50_010)]

        longest, took = await timed(
            store, QueryOptions(sort_by="duration", sort_desc=True, limit=3)
        )
        print(f"{backend}: 3 longest of 80k runs (no index on duration) in {took * 1000:.1f} ms")
        assert len(longest) == 3

        await store.delete_executions("hot", T0 + timedelta(seconds=HOT // 2))
        assert len(await store.list_executions("hot", QueryOptions(limit=5))) == 5
    finally:
        await store.close()
        if backend != "sqlite":
            await drop_tables(database_url)  # emptying 60,000 rows row by row is slower
