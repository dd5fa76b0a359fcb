"""What the SQL store adds to the capability contracts: batches past every driver's
parameter limit, the exact id an error names, checks before any write, the missing
jobs of a batch found by row count or look-up, and due jobs read through the next_run
index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sql_helpers import T0, execute, job, record
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import tickwork
from tickwork import JobData, JobStatus
from tickwork_sqlalchemy_store import SQLAlchemyStore
from tickwork_sqlalchemy_store._urls import to_async_url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SQLAlchemyStore]:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()


def many_jobs(count: int, prefix: str = "job") -> list[JobData]:
    return [
        job(f"{prefix}-{i:05d}", next_run=T0 + timedelta(seconds=i), metadata={"n": str(i)})
        for i in range(count)
    ]


# -- save_jobs -------------------------------------------------------------------------


async def test_save_jobs_past_every_parameter_limit(store: SQLAlchemyStore) -> None:
    """20,000 jobs of nine columns: 180,000 values, more than SQLite (32,766) or asyncpg
    (32,767) take in one statement."""
    jobs = many_jobs(20_000)
    await store.save_jobs(jobs)
    stored = await store.list_jobs()
    assert len(stored) == len(jobs)
    assert stored[0] == jobs[0]
    assert stored[-1] == jobs[-1]
    assert stored[12_345] == jobs[12_345]


async def test_save_jobs_names_the_stored_id(store: SQLAlchemyStore) -> None:
    await store.save_job(job("b-taken"))
    with pytest.raises(tickwork.JobDataAlreadyExistsError) as raised:
        await store.save_jobs([job("a-new"), job("b-taken"), job("c-new")])
    assert raised.value.job_id == "b-taken"
    assert [j.id for j in await store.list_jobs()] == ["b-taken"]
    await store.save_jobs([job("a-new"), job("c-new")])  # the failure left nothing behind
    assert [j.id for j in await store.list_jobs()] == ["a-new", "b-taken", "c-new"]


async def test_save_jobs_names_an_id_given_twice_before_any_io(store: SQLAlchemyStore) -> None:
    await store.close()  # any statement would raise StorageNotInitializedError
    with pytest.raises(tickwork.StorageNotInitializedError):
        await store.save_jobs([job("twice"), job("other"), job("twice")])
    await store.initialize()
    with pytest.raises(tickwork.JobDataAlreadyExistsError) as raised:
        await store.save_jobs([job("twice"), job("other"), job("twice")])
    assert raised.value.job_id == "twice"
    assert await store.list_jobs() == []


async def test_save_jobs_ids_differing_only_in_case_or_spaces(store: SQLAlchemyStore) -> None:
    ids = ["job", "Job", "job ", "jöb"]
    await store.save_jobs([job(job_id) for job_id in ids])
    assert [j.id for j in await store.list_jobs()] == sorted(ids)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (job("x" * 256), tickwork.InvalidJobDataError),
        (job(""), tickwork.EmptyJobIDError),
        (job("no-type", schedule_type=""), tickwork.InvalidJobDataError),
        ("not a job", tickwork.InvalidJobDataError),
    ],
    ids=["long-id", "empty-id", "no-schedule-type", "not-a-job"],
)
async def test_save_jobs_checks_every_job_before_writing(
    store: SQLAlchemyStore, bad: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.save_jobs([job("fine-1"), bad, job("fine-2")])
    assert await store.list_jobs() == []


# -- save_runs -------------------------------------------------------------------------


async def test_save_runs_finds_every_missing_job_in_a_large_batch(store: SQLAlchemyStore) -> None:
    """2,500 jobs, every third one missing: more ids than one look-up takes."""
    jobs = many_jobs(2_500)
    stored = [j for i, j in enumerate(jobs) if i % 3]
    await store.save_jobs(stored)
    updated = [
        job(j.id, status=JobStatus.COMPLETED, last_run=T0, next_run=j.next_run, metadata=j.metadata)
        for j in jobs
    ]
    records = [record(j.id, f"run-{j.id}") for j in jobs]
    missing = await store.save_runs(records, updated[::-1])
    assert missing == {j.id for i, j in enumerate(jobs) if not i % 3}
    assert await store.list_jobs() == [u for i, u in enumerate(updated) if i % 3]
    assert await store.get_execution(f"run-{jobs[0].id}") == records[0]  # job gone, record kept
    assert await store.get_execution(f"run-{jobs[-1].id}") == records[-1]


async def test_save_runs_with_every_job_missing(store: SQLAlchemyStore) -> None:
    assert await store.save_runs([], [job("gone-1"), job("gone-2")]) == {"gone-1", "gone-2"}
    assert await store.list_jobs() == []


async def test_save_runs_finds_jobs_whose_values_do_not_change(store: SQLAlchemyStore) -> None:
    # MySQL counts changed rows unless asked for matched rows: an unchanged job is found.
    await store.save_jobs([job("same-1"), job("same-2")])
    assert await store.save_runs([], [job("same-1"), job("same-2")]) == set()
    assert await store.save_runs([], [job("same-2"), job("gone")]) == {"gone"}


async def test_save_runs_keeps_the_last_of_one_execution_id(store: SQLAlchemyStore) -> None:
    running = record("job-1", "e-1", status=JobStatus.RUNNING)
    done = record("job-1", "e-1", status=JobStatus.FAILED, error="boom")
    await store.save_runs([running, done], [])
    assert await store.list_executions("job-1") == [done]


async def test_save_runs_checks_everything_before_writing(store: SQLAlchemyStore) -> None:
    await store.save_job(job("kept"))
    with pytest.raises(tickwork.InvalidJobDataError):
        await store.save_runs(
            [record("kept", "fine"), record("kept", "x" * 256)],
            [job("kept", status=JobStatus.FAILED)],
        )
    with pytest.raises(tickwork.InvalidJobDataError):
        await store.save_runs([record("kept", "fine")], [job("kept", schedule_type="")])
    assert await store.get_job("kept") == job("kept")
    assert await store.list_executions("kept") == []


# -- list_due_jobs ---------------------------------------------------------------------


async def test_list_due_jobs_breaks_ties_by_code_point(store: SQLAlchemyStore) -> None:
    """Not by the database's collation: PostgreSQL's en_US would put ``_`` and case
    elsewhere."""
    ids = ["b", "a", "_", "B", "a ", "Ä"]
    await store.save_jobs([job(job_id, next_run=T0) for job_id in ids])
    assert [j.id for j in await store.list_due_jobs(T0)] == sorted(ids)


async def test_list_due_jobs_takes_any_time_zone(store: SQLAlchemyStore) -> None:
    await store.save_jobs(
        [job("due", next_run=T0), job("late", next_run=T0 + timedelta(microseconds=1))]
    )
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert [j.id for j in await store.list_due_jobs(berlin)] == ["due"]


async def test_list_due_jobs_skips_the_go_librarys_never(
    store: SQLAlchemyStore, database_url: str
) -> None:
    """GormStorage writes year 1 for "no next run"; that is not due."""
    await execute(
        database_url,
        "INSERT INTO scheduler_jobs VALUES ('go-never', 'once', '', 'completed', "
        "'0001-01-01 00:00:00', '2025-01-01 00:00:00', '2025-01-01 00:00:00', "
        "'2025-01-01 00:00:00', 'null')",
    )
    await store.save_job(job("due", next_run=T0))
    assert [j.id for j in await store.list_due_jobs(T0)] == ["due"]


def _recording_engine(url: str) -> tuple[AsyncEngine, list[tuple[str, Any]]]:
    engine = create_async_engine(to_async_url(url))
    sent: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    return engine, sent


async def test_list_due_jobs_reads_through_the_next_run_index(
    database_url: str, backend: str
) -> None:
    """The statement the store sends can use ``idx_scheduler_jobs_next_run``: SQLite and
    PostgreSQL (sequential scans off) plan an index scan, MariaDB lists it as a
    possible key."""
    engine, sent = _recording_engine(database_url)
    store = SQLAlchemyStore(engine=engine)
    try:
        await store.initialize()
        await store.save_jobs(many_jobs(200))
        sent.clear()
        due = await store.list_due_jobs(T0 + timedelta(seconds=9))
        assert [j.id for j in due] == [f"job-{i:05d}" for i in range(10)]
        [(statement, parameters)] = sent
        async with engine.connect() as conn:
            if backend == "sqlite":
                plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                details = " ".join(str(row[-1]) for row in plan)
            elif backend == "postgresql":
                await conn.exec_driver_sql("SET enable_seqscan = off")
                plan = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                details = " ".join(str(row[0]) for row in plan)
            else:
                plan = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                details = " ".join(str(value) for row in plan.mappings() for value in row.values())
            await conn.rollback()
        assert "idx_scheduler_jobs_next_run" in details, details
    finally:
        await store.close()
        await engine.dispose()


async def test_list_due_jobs_is_exact_to_the_microsecond(store: SQLAlchemyStore) -> None:
    edge = datetime(2025, 6, 7, 8, 9, 10, 999_999, tzinfo=UTC)
    await store.save_jobs(
        [
            job("before", next_run=edge - timedelta(microseconds=1)),
            job("at", next_run=edge),
            job("after", next_run=edge + timedelta(microseconds=1)),
        ]
    )
    assert [j.id for j in await store.list_due_jobs(edge)] == ["before", "at"]


# -- finish_runs -----------------------------------------------------------------------


async def test_finish_runs_costs_a_few_statements_whatever_the_batch(
    database_url: str, backend: str
) -> None:
    """200 runs finished at once (a record, a conditional job write, a claim release
    each): on a server, one upsert of the records, one locking read of the versions,
    one write of the jobs and one DELETE of the claims, in one transaction. SQLite has
    no round trips to save: one conditional UPDATE per job there."""
    engine, sent = _recording_engine(database_url)
    store = SQLAlchemyStore(engine=engine)
    try:
        await store.initialize()
        jobs = many_jobs(200)
        await store.save_jobs(jobs)
        due = {j.id: j.next_run for j in jobs}
        claimed = await store.claim_jobs(
            [(j.id, j.next_run) for j in jobs if j.next_run is not None],
            "me",
            T0 + timedelta(minutes=1),
            T0,
        )
        assert len(claimed) == 200
        finished = [
            job(j.id, status=JobStatus.COMPLETED, last_run=due[j.id], updated_at=T0 + timedelta(1))
            for j in jobs
        ]
        sent.clear()
        outcomes = await store.finish_runs(
            [
                tickwork.RunFinish(
                    records=(record(j.id, f"run-{j.id}"),),
                    job=j,
                    seen=claimed[j.id].updated_at,
                    release_owner="me",
                )
                for j in finished
            ]
        )
        assert outcomes == [tickwork.FinishOutcome.STORED] * 200
        statements = [s for s, _ in sent if not s.lstrip().upper().startswith(("SET", "BEGIN"))]
        if backend == "sqlite":
            assert len(statements) == 1 + 200 + 1
        else:
            assert len(statements) == 4, statements
        assert await store.list_jobs() == finished
        free = await store.claim_jobs(
            [(j.id, j.next_run) for j in finished[:3] if j.next_run is not None],
            "other",
            T0 + timedelta(minutes=1),
            T0,
        )
        assert len(free) == 3  # released
    finally:
        await store.close()
        await engine.dispose()


async def test_finish_runs_checks_everything_before_writing(store: SQLAlchemyStore) -> None:
    await store.save_job(job("kept"))
    fine = tickwork.RunFinish(records=(record("kept", "fine"),), job=job("kept"), seen=T0)
    for bad in (
        tickwork.RunFinish(records=(record("kept", "x" * 256),)),
        tickwork.RunFinish(job=job("x" * 256)),
        tickwork.RunFinish(job=job("kept"), release_owner=""),
        tickwork.RunFinish(job=job("kept"), release_owner="o" * 256),
        "not a finish",
    ):
        with pytest.raises(tickwork.InvalidJobDataError):
            await store.finish_runs([fine, bad])  # type: ignore[list-item]
    assert await store.get_job("kept") == job("kept")
    assert await store.list_executions("kept") == []
