"""The memory store's browsing queries cut the reference functions' pages, for
generated jobs, records and queries (the memory store filters and sorts its stored
rows itself, so it is checked against the reference it must match)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork import (
    ExecutionQuery,
    ExecutionRecord,
    ExecutionStatus,
    JobData,
    JobQuery,
    JobStatus,
    MemoryStore,
    apply_execution_query,
    apply_job_query,
    count_by_status,
    latest_by_job,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
# Few distinct values, so that ties and repeated case-variants are common.
id_text = st.text(alphabet="aAbB%_/\\'ßẞéÉ ", min_size=1, max_size=5)
times = st.one_of(st.none(), st.integers(0, 4).map(lambda n: T0 + timedelta(minutes=n)))
required_times = st.integers(0, 4).map(lambda n: T0 + timedelta(minutes=n))
tasks = st.sampled_from(["t", "T", "t%", None])
record_statuses = st.sampled_from([*JobStatus, *ExecutionStatus])
SETTINGS = settings(max_examples=150, deadline=timedelta(seconds=2))


@st.composite
def job_lists(draw: st.DrawFn) -> list[JobData]:
    ids = draw(st.lists(id_text, max_size=12, unique=True))
    jobs = []
    for job_id in ids:
        task = draw(tasks)
        jobs.append(
            JobData(
                id=job_id,
                schedule_type="interval",
                schedule_config="1m0s",
                status=draw(st.sampled_from(JobStatus)),
                next_run=draw(times),
                last_run=draw(times),
                created_at=draw(required_times),
                updated_at=draw(required_times),
                metadata={} if task is None else {"tickwork.task": task},
            )
        )
    return jobs


@st.composite
def record_lists(draw: st.DrawFn) -> list[ExecutionRecord]:
    count = draw(st.integers(0, 20))
    records = []
    for n in range(count):
        start = draw(required_times)
        records.append(
            ExecutionRecord(
                job_id=draw(st.sampled_from(["a", "b", "c"])),
                execution_id=f"{draw(id_text)}-{n}",
                start_time=start,
                end_time=draw(required_times),
                duration=timedelta(seconds=draw(st.integers(0, 2))),
                status=draw(record_statuses),
            )
        )
    return records


job_queries = st.builds(
    JobQuery,
    search=st.one_of(st.none(), st.text(alphabet="aAbB%_/\\ßé", max_size=2)),
    status=st.one_of(st.none(), st.sampled_from(JobStatus)),
    task=tasks,
    sort_by=st.sampled_from(["id", "status", "next_run", "last_run", "created_at", "updated_at"]),
    sort_desc=st.booleans(),
    limit=st.integers(0, 15),
    offset=st.integers(0, 15),
)
execution_queries = st.builds(
    ExecutionQuery,
    job_id=st.sampled_from([None, "a", "b", "zzz"]),
    status=st.one_of(st.none(), record_statuses),
    start_time=times,
    end_time=times,
    sort_by=st.sampled_from(["start_time", "end_time", "duration"]),
    sort_desc=st.booleans(),
    limit=st.integers(0, 25),
    offset=st.integers(0, 25),
)


async def _store(jobs: list[JobData], records: list[ExecutionRecord]) -> MemoryStore:
    store = MemoryStore()
    await store.initialize()
    await store.save_jobs(jobs)
    for record in records:
        await store.save_execution(record)
    return store


@SETTINGS
@given(jobs=job_lists(), queries=st.lists(job_queries, min_size=1, max_size=5))
def test_job_pages_are_the_reference_pages(jobs: list[JobData], queries: list[JobQuery]) -> None:
    async def check() -> None:
        store = await _store(jobs, [])
        for query in queries:
            assert await store.query_jobs(query) == apply_job_query(jobs, query)

    asyncio.run(check())


@SETTINGS
@given(
    records=record_lists(),
    queries=st.lists(execution_queries, min_size=1, max_size=5),
    per_job=st.integers(0, 6),
    window=st.tuples(required_times, times),
)
def test_record_pages_latest_and_counts_are_the_reference(
    records: list[ExecutionRecord],
    queries: list[ExecutionQuery],
    per_job: int,
    window: tuple[datetime, datetime | None],
) -> None:
    async def check() -> None:
        store = await _store([], records)
        for query in queries:
            assert await store.query_executions(query) == apply_execution_query(records, query)
        latest = await store.latest_executions(["a", "c", "x"], per_job)
        assert {k: list(v) for k, v in latest.items()} == latest_by_job(
            records, ["a", "c", "x"], per_job
        )
        counts = await store.count_executions_by_status(*window)
        assert dict(counts) == count_by_status(records, *window)

    asyncio.run(check())
