"""Failures come out typed, quickly, without secrets; hostile input stays data."""

from __future__ import annotations

import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from sql_helpers import execute, job, query, record
from sqlalchemy import create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

import tickwork
from tickwork import JobStatus, QueryOptions
from tickwork_sqlalchemy_store import SQLAlchemyStore

PASSWORD = "s3cret-Pa55"


def full_text(exc: BaseException) -> str:
    """The exception with its whole chain of causes, as a log would show it."""
    return "".join(traceback.format_exception(exc))


# -- unreachable databases -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test", id="postgresql"),
        pytest.param(f"mysql://root:{PASSWORD}@127.0.0.1:1/test", id="mysql"),
    ],
)
async def test_unreachable_port_is_a_connection_error_naming_the_endpoint(url: str) -> None:
    store = SQLAlchemyStore(url)
    started = time.monotonic()
    with pytest.raises(tickwork.StorageConnectionError) as excinfo:
        await store.initialize()
    assert time.monotonic() - started < 5
    message = str(excinfo.value)
    assert "127.0.0.1:1" in message
    assert PASSWORD not in full_text(excinfo.value)
    assert PASSWORD not in repr(store)
    assert excinfo.value.__cause__ is not None
    with pytest.raises(tickwork.StorageNotInitializedError):
        await store.health_check()


async def test_connect_timeout_bounds_a_silent_host() -> None:
    # 10.255.255.1 is routed nowhere: the SYN goes unanswered (or the network says no).
    store = SQLAlchemyStore(
        f"postgresql://postgres:{PASSWORD}@10.255.255.1:5432/test", connect_timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(tickwork.StorageConnectionError) as excinfo:
        await store.initialize()
    assert time.monotonic() - started < 3
    assert "10.255.255.1:5432" in str(excinfo.value)
    assert PASSWORD not in full_text(excinfo.value)


async def test_sqlite_file_in_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "jobs.db"
    store = SQLAlchemyStore(f"sqlite:///{path}")
    with pytest.raises(tickwork.StorageConnectionError, match=str(path)):
        await store.initialize()


@pytest.mark.mariadb
async def test_wrong_password_is_a_connection_error_without_the_password(
    mariadb_url: str,
) -> None:
    from sqlalchemy import make_url

    url = make_url(mariadb_url).set(password=PASSWORD)
    store = SQLAlchemyStore(url)
    with pytest.raises(tickwork.StorageConnectionError) as excinfo:
        await store.initialize()
    assert "127.0.0.1:3306" in str(excinfo.value)
    assert "Access denied" in str(excinfo.value)
    assert PASSWORD not in full_text(excinfo.value)


@pytest.mark.postgresql
async def test_missing_database_is_a_connection_error(postgres_url: str) -> None:
    from sqlalchemy import make_url

    store = SQLAlchemyStore(make_url(postgres_url).set(database="no_such_database_xyz"))
    with pytest.raises(tickwork.StorageConnectionError, match="no_such_database_xyz"):
        await store.initialize()


# -- failures while running -------------------------------------------------------------


async def test_database_errors_are_operation_errors_with_the_cause(database_url: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await execute(database_url, "DROP TABLE scheduler_jobs")
        with pytest.raises(tickwork.StorageOperationError) as excinfo:
            await store.list_jobs()
        assert isinstance(excinfo.value.__cause__, DBAPIError)
        assert "list jobs" in str(excinfo.value)
        await store.health_check()  # the database itself is fine
    finally:
        await store.close()


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
    indirect=True,
)
async def test_connection_killed_by_the_server_is_replaced(database_url: str, backend: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await store.save_job(job())
        if backend == "postgresql":
            await query(
                database_url,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
        else:
            rows = await query(
                database_url,
                "SELECT ID FROM information_schema.PROCESSLIST "
                "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
            )
            await execute(database_url, *(f"KILL {int(row.ID)}" for row in rows))
        assert (await store.get_job("job-1")).id == "job-1"
        await store.health_check()
    finally:
        await store.close()


async def test_corrupt_stored_job_is_an_unreadable_row(database_url: str) -> None:
    """(Every kind of damage: test_sql_unreadable_rows.)"""
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await store.save_job(job())
        await execute(database_url, "UPDATE scheduler_jobs SET metadata = '{not json'")
        got = await store.get_job("job-1")
        assert got.unreadable == "metadata: '{not json' is not a JSON object"
        await execute(database_url, "UPDATE scheduler_jobs SET status = 'exploded'")
        [listed] = await store.list_jobs()
        assert listed.unreadable is not None
        assert listed.unreadable.startswith("status: 'exploded' is not a job status")
    finally:
        await store.close()


async def test_a_batch_of_claims_leaves_out_only_the_unreadable_job(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        due = job().next_run
        assert due is not None
        await store.save_jobs([job("fine"), job("broken"), job("also-fine")])
        await execute(
            database_url, "UPDATE scheduler_jobs SET metadata = '{not json' WHERE id = 'broken'"
        )
        lease = due + timedelta(seconds=30)
        runs = [("fine", due), ("broken", due), ("also-fine", due)]
        claimed = await store.claim_jobs(runs, "a", lease, due)
        assert sorted(claimed) == ["also-fine", "fine"]
        assert any("broken" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
        # Nothing is held on it, and another owner's claim does not take it either.
        assert await store.claim_job("broken", due, "b", lease, due) is None
        assert not await store.renew_claim("broken", "a", lease)
        assert not await store.renew_claim("broken", "b", lease)
        found = await store.get_jobs(["fine", "broken"])
        assert found["fine"].unreadable is None
        assert found["broken"].unreadable == "metadata: '{not json' is not a JSON object"
    finally:
        await store.close()


@pytest.mark.parametrize("backend", [pytest.param("sqlite", id="sqlite")], indirect=True)
async def test_sqlite_times_as_other_programs_write_them(database_url: str) -> None:
    """SQLite keeps times as text: SQLAlchemy's form, Go's (nanoseconds, an offset),
    or anything else a program wrote; a row with what is not a time is unreadable."""
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await store.save_jobs([job("go"), job("offset"), job("bad")])
        await execute(
            database_url,
            "UPDATE scheduler_jobs SET next_run = '2025-03-04 05:06:07.123456789+00:00' "
            "WHERE id = 'go'",
            "UPDATE scheduler_jobs SET next_run = '2025-03-04 07:06:07+02:00', "
            "last_run = '2025-03-04 05:06:07' WHERE id = 'offset'",
            "UPDATE scheduler_jobs SET last_run = 'yesterday' WHERE id = 'bad'",
        )
        go = await store.get_job("go")
        assert go.next_run == datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
        offset = await store.get_job("offset")
        assert offset.next_run == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
        assert offset.last_run == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
        assert offset.next_run.tzinfo is UTC
        bad = await store.get_job("bad")
        assert bad.unreadable == "last_run: 'yesterday' is not a time"
        assert [j.unreadable is None for j in await store.list_jobs()] == [False, True, True]
    finally:
        await store.close()


async def test_values_longer_than_the_columns_are_refused_before_io(database_url: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        with pytest.raises(tickwork.InvalidJobDataError, match="255"):
            await store.save_job(job("x" * 256))
        with pytest.raises(tickwork.InvalidJobDataError, match="50"):
            await store.save_job(job(schedule_type="t" * 51))
        with pytest.raises(tickwork.InvalidJobDataError, match="255"):
            await store.save_execution(record(execution_id="e" * 256))
        await store.save_job(job("🚀" * 255))  # the limit counts characters, not bytes
        assert (await store.get_job("🚀" * 255)).id == "🚀" * 255
        with pytest.raises(tickwork.JobDataNotFoundError):
            await store.get_job("x" * 300)
    finally:
        await store.close()


# -- hostile input ------------------------------------------------------------------------

INJECTIONS = [
    "x'; DROP TABLE scheduler_jobs; --",
    "' OR '1'='1",
    '" OR "1"="1',
    "1); DELETE FROM scheduler_executions; --",
    "\\'; DROP TABLE scheduler_executions; #",
    "%' OR 1=1 --",
]


async def test_sql_in_ids_and_metadata_is_stored_as_text(database_url: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await store.save_job(job("victim"))
        await store.save_execution(record("victim", "victim-run"))
        for i, payload in enumerate(INJECTIONS):
            await store.save_job(job(payload, metadata={payload: payload}, schedule_config=payload))
            await store.save_execution(
                record(payload, f"{payload}-{i}", error=payload, metadata={"p": payload})
            )
        for i, payload in enumerate(INJECTIONS):
            got = await store.get_job(payload)
            assert (got.id, got.schedule_config, got.metadata) == (
                payload,
                payload,
                {payload: payload},
            )
            runs = await store.list_executions(payload)
            assert [(r.execution_id, r.error) for r in runs] == [(f"{payload}-{i}", payload)]
        with pytest.raises(tickwork.JobDataNotFoundError):
            await store.get_job("nobody' OR '1'='1")
        assert await store.list_executions("nobody' OR '1'='1") == []
        await store.delete_executions("nobody' OR '1'='1", record().start_time.replace(year=2100))
        assert len(await store.list_jobs()) == len(INJECTIONS) + 1
        assert [r.execution_id for r in await store.list_executions("victim")] == ["victim-run"]
    finally:
        await store.close()


def _recording_engine(url: str) -> tuple[AsyncEngine, list[str]]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from tickwork_sqlalchemy_store._urls import to_async_url

    engine = create_async_engine(to_async_url(url))
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    return engine, statements


async def test_no_user_value_reaches_the_sql_text(database_url: str) -> None:
    marker = "ZZ-marker-ZZ"
    engine, statements = _recording_engine(database_url)
    store = SQLAlchemyStore(engine=engine)
    try:
        await store.initialize()
        statements.clear()
        payload = f"{marker}'; DROP TABLE scheduler_jobs; --"
        await store.save_job(job(payload, metadata={marker: marker}, schedule_config=marker))
        await store.update_job(job(payload, schedule_type=marker, metadata={"m": marker}))
        await store.get_job(payload)
        await store.list_jobs_by_status(JobStatus.PENDING)
        await store.save_execution(record(payload, marker, error=marker))
        await store.save_execution(record(payload, marker, error=marker))
        await store.get_execution(marker)
        options = QueryOptions(
            start_time=record().start_time,
            end_time=record().start_time.replace(year=2100),
            status=JobStatus.COMPLETED,
            sort_by="duration",
            sort_desc=True,
            limit=3,
            offset=1,
        )
        await store.list_executions(payload, options)
        await store.delete_executions(payload, record().start_time)
        await store.delete_job(payload)
        await store.save_jobs([job(payload, metadata={marker: marker}), job(marker)])
        with pytest.raises(tickwork.JobDataAlreadyExistsError):
            await store.save_jobs([job(payload)])
        await store.save_runs(
            [record(payload, marker, error=marker)],
            [job(payload, schedule_config=marker), job(f"{marker}-gone")],
        )
        await store.list_due_jobs(record().start_time.replace(year=2100))
        # Claims, one at a time and in batches: ids and owners are bound too.
        owner = f"{marker}' OR '1'='1"
        due = job(payload).next_run
        assert due is not None
        lease, now = due + timedelta(seconds=30), due
        await store.claim_job(payload, due, owner, lease, now)
        await store.renew_claim(payload, owner, lease)
        await store.release_claim(payload, owner)
        runs = [(payload, due), (marker, due), (f"{marker}-gone", due)]
        assert sorted(await store.claim_jobs(runs, owner, lease, now)) == sorted([payload, marker])
        assert sorted(await store.get_jobs([payload, marker, f"{marker}-gone"])) == sorted(
            [payload, marker]
        )
        await store.release_claims([payload, marker, f"{marker}-gone"], owner)
        await store.list_jobs_changed_since(due)
        assert statements, "the listener saw nothing"
        assert not [s for s in statements if marker in s]
    finally:
        await store.close()
        await engine.dispose()


async def test_sort_by_injection_is_refused_before_any_statement(database_url: str) -> None:
    engine, statements = _recording_engine(database_url)
    store = SQLAlchemyStore(engine=engine)
    try:
        await store.initialize()
        await store.save_execution(record())
        statements.clear()
        hostile = "start_time; DROP TABLE scheduler_jobs"
        with pytest.raises(tickwork.InvalidQueryError):
            await store.list_executions("job-1", QueryOptions(sort_by=hostile))  # type: ignore[arg-type]
        # Options changed behind the validators' back are caught by the store too.
        forged = QueryOptions()
        object.__setattr__(forged, "sort_by", hostile)
        with pytest.raises(tickwork.InvalidQueryError):
            await store.list_executions("job-1", forged)
        forged_limit = attrs.evolve(QueryOptions())
        object.__setattr__(forged_limit, "limit", "1; DROP TABLE scheduler_jobs")
        with pytest.raises(tickwork.InvalidQueryError):
            await store.list_executions("job-1", forged_limit)
        with pytest.raises(tickwork.InvalidQueryError):
            await store.list_executions("job-1", {"sort_by": "start_time"})  # type: ignore[arg-type]
        assert statements == []
        assert len(await store.list_executions("job-1")) == 1
    finally:
        await store.close()
        await engine.dispose()


async def test_batch_claim_arguments_are_refused_before_any_statement(database_url: str) -> None:
    engine, statements = _recording_engine(database_url)
    store = SQLAlchemyStore(engine=engine)
    try:
        await store.initialize()
        statements.clear()
        due = job().next_run
        assert due is not None
        lease = due + timedelta(seconds=30)
        with pytest.raises(tickwork.EmptyJobIDError):
            await store.claim_jobs([("ok", due), ("", due)], "a", lease, due)
        with pytest.raises(tickwork.EmptyJobIDError):
            await store.claim_jobs([(None, due)], "a", lease, due)  # type: ignore[list-item]
        with pytest.raises(tickwork.InvalidJobDataError):
            await store.claim_jobs([("ok", due)], "", lease, due)
        with pytest.raises(tickwork.InvalidJobDataError, match="255"):
            await store.claim_jobs([("ok", due)], "o" * 256, lease, due)
        with pytest.raises(TypeError):
            await store.claim_jobs([("ok", "tomorrow")], "a", lease, due)  # type: ignore[list-item]
        with pytest.raises(tickwork.EmptyJobIDError):
            await store.release_claims(["ok", ""], "a")
        with pytest.raises(tickwork.InvalidJobDataError):
            await store.release_claims(["ok"], "")
        with pytest.raises(tickwork.EmptyJobIDError):
            await store.get_jobs(["ok", ""])
        assert statements == []
    finally:
        await store.close()
        await engine.dispose()


# -- construction -------------------------------------------------------------------------


def test_needs_exactly_one_of_url_and_engine() -> None:
    with pytest.raises(ValueError, match=r"url=.*engine="):
        SQLAlchemyStore()
    with pytest.raises(ValueError, match="not both"):
        SQLAlchemyStore("sqlite://", engine=_recording_engine("sqlite://")[0])


def test_blocking_engine_or_driver_is_refused() -> None:
    with pytest.raises(TypeError, match="create_async_engine"):
        SQLAlchemyStore(engine=create_engine("sqlite://"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"postgresql\+asyncpg"):
        SQLAlchemyStore("postgresql+psycopg2://u@h/db")
    with pytest.raises(ValueError, match="not a database URL"):
        SQLAlchemyStore("not a url")
    with pytest.raises(ValueError, match="no default async driver"):
        SQLAlchemyStore("oracle://u@h/db")
    with pytest.raises(ValueError, match="connect_timeout"):
        SQLAlchemyStore("sqlite://", connect_timeout=0)


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
    indirect=True,
)
async def test_missing_schema_fails_at_once_naming_it(database_url: str) -> None:
    store = SQLAlchemyStore(database_url, schema="no_such_schema_xyz")
    started = time.monotonic()
    with pytest.raises(tickwork.StorageOperationError, match="no_such_schema_xyz"):
        await store.initialize()
    assert time.monotonic() - started < 2  # a real failure is not retried as a race
