"""The tables the SQL store creates: the reference's columns and index names, created
idempotently, concurrently, and next to tables the Go library made."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sql_helpers import admin_engine, drop_tables, execute, query, record
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tickwork import JobStatus
from tickwork_sqlalchemy_store import SQLAlchemyStore


@pytest.fixture(autouse=True)
async def _no_tables(database_url: str) -> None:
    """Every test here starts without the store's tables."""
    if not database_url.startswith("sqlite"):
        await drop_tables(database_url)


JOB_COLUMNS = [
    "id",
    "schedule_type",
    "schedule_config",
    "status",
    "next_run",
    "last_run",
    "created_at",
    "updated_at",
    "metadata",
]
EXECUTION_COLUMNS = [
    "execution_id",
    "job_id",
    "start_time",
    "end_time",
    "duration",
    "status",
    "error",
    "metadata",
]
JOB_INDEXES = {
    "idx_scheduler_jobs_status": ["status"],
    "idx_scheduler_jobs_next_run": ["next_run"],
    "idx_scheduler_jobs_created_at": ["created_at"],
    "idx_scheduler_jobs_updated_at": ["updated_at"],
}
EXECUTION_INDEXES = {
    "idx_scheduler_executions_job_id": ["job_id"],
    "idx_scheduler_executions_start_time": ["start_time"],
    "idx_scheduler_executions_status": ["status"],
    "idx_scheduler_executions_job_id_start_time": ["job_id", "start_time", "execution_id"],
    "idx_scheduler_executions_start_time_status": ["start_time", "execution_id", "status"],
}


def job_indexes(backend: str) -> dict[str, list[str]]:
    """The jobs table's indexes: the Go library's, and on PostgreSQL two of tickwork's
    for pages of jobs (by id in code-point order, and by next run)."""
    if backend != "postgresql":
        return JOB_INDEXES
    return {
        **JOB_INDEXES,
        "idx_scheduler_jobs_id_code_points": ["id"],
        "idx_scheduler_jobs_next_run_order": [None, None, "id"],  # two expressions, then id
    }


def _describe(conn: Connection) -> dict[str, Any]:
    inspector = inspect(conn)
    found: dict[str, Any] = {}
    for table in (
        "scheduler_jobs",
        "scheduler_executions",
        "scheduler_claims",
        "scheduler_workers",
    ):
        found[table] = {
            "columns": {c["name"]: c for c in inspector.get_columns(table)},
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": {i["name"]: i["column_names"] for i in inspector.get_indexes(table)},
        }
    return found


async def describe(url: str) -> dict[str, Any]:
    async with admin_engine(url).connect() as conn:
        return await conn.run_sync(_describe)


async def initialize_and_close(url: str) -> None:
    store = SQLAlchemyStore(url)
    await store.initialize()
    await store.close()


async def test_tables_columns_and_indexes(database_url: str, backend: str) -> None:
    await initialize_and_close(database_url)
    schema = await describe(database_url)
    jobs, executions = schema["scheduler_jobs"], schema["scheduler_executions"]
    assert list(jobs["columns"]) == JOB_COLUMNS
    assert list(executions["columns"]) == EXECUTION_COLUMNS
    assert jobs["pk"] == ["id"]
    assert executions["pk"] == ["execution_id"]
    assert jobs["indexes"] == job_indexes(backend)
    assert executions["indexes"] == EXECUTION_INDEXES
    claims = schema["scheduler_claims"]  # tickwork's own, for shared stores
    assert list(claims["columns"]) == ["job_id", "owner", "scheduled_at", "lease_until"]
    assert claims["pk"] == ["job_id"]
    workers = schema["scheduler_workers"]  # tickwork's own: the schedulers sharing it
    assert list(workers["columns"]) == ["owner", "expires_at"]
    assert workers["pk"] == ["owner"]
    for table, column, length in [
        (jobs, "id", 255),
        (jobs, "schedule_type", 50),
        (jobs, "status", 20),
        (executions, "execution_id", 255),
        (executions, "job_id", 255),
        (executions, "status", 20),
    ]:
        assert table["columns"][column]["type"].length == length, column
    duration_type = str(executions["columns"]["duration"]["type"]).upper()
    assert duration_type.startswith("BIGINT")
    if backend == "postgresql":
        assert jobs["columns"]["next_run"]["type"].timezone is True
    if backend == "mariadb":
        assert executions["columns"]["start_time"]["type"].fsp == 6


@pytest.mark.parametrize(
    "backend", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)
async def test_mariadb_ids_use_a_binary_no_pad_utf8mb4_collation(database_url: str) -> None:
    await initialize_and_close(database_url)
    rows = await query(
        database_url,
        "SELECT COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND COLUMN_NAME IN ('id', 'job_id', 'execution_id', 'owner')",
    )
    collations = {(name, charset, collation) for name, charset, collation in rows}
    assert collations == {
        ("id", "utf8mb4", "utf8mb4_nopad_bin"),
        ("job_id", "utf8mb4", "utf8mb4_nopad_bin"),
        ("execution_id", "utf8mb4", "utf8mb4_nopad_bin"),
        ("owner", "utf8mb4", "utf8mb4_nopad_bin"),
    }


async def test_initialize_twice_and_again_after_close(database_url: str, backend: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    await store.initialize()
    await store.close()
    await initialize_and_close(database_url)
    assert (await describe(database_url))["scheduler_jobs"]["indexes"] == job_indexes(backend)


async def test_concurrent_initialize_on_an_empty_database(database_url: str) -> None:
    stores = [SQLAlchemyStore(database_url) for _ in range(6)]
    try:
        await asyncio.gather(*(store.initialize() for store in stores))
        await stores[0].save_execution(record())
        for store in stores:
            assert (await store.get_execution("e-1")).job_id == "job-1"
    finally:
        for store in stores:
            await store.close()
    schema = await describe(database_url)
    assert schema["scheduler_executions"]["indexes"] == EXECUTION_INDEXES


async def test_missing_indexes_are_added_and_data_kept(database_url: str, backend: str) -> None:
    await initialize_and_close(database_url)
    drop = "DROP INDEX idx_scheduler_executions_job_id_start_time"
    if backend == "mariadb":
        drop += " ON scheduler_executions"
    await execute(
        database_url,
        "INSERT INTO scheduler_jobs (id, schedule_type, schedule_config, status, "
        "created_at, updated_at, metadata) VALUES ('kept', 'interval', '5m0s', "
        "'pending', '2025-01-01 00:00:00', '2025-01-01 00:00:00', '{}')",
        drop,
    )
    await initialize_and_close(database_url)
    assert (await describe(database_url))["scheduler_executions"]["indexes"] == EXECUTION_INDEXES
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        assert (await store.get_job("kept")).schedule_config == "5m0s"
    finally:
        await store.close()


async def test_reads_rows_written_by_the_go_library(database_url: str) -> None:
    """GormStorage writes zero times for "never", "" for no error, "null" for nil maps."""
    await initialize_and_close(database_url)
    zero = "0001-01-01 00:00:00"
    await execute(
        database_url,
        "INSERT INTO scheduler_jobs VALUES ('go-job', 'interval', '1h30m0s', "
        f"'pending', '2025-03-04 05:06:07.123456', '{zero}', "
        "'2025-03-01 00:00:00', '2025-03-01 00:00:00', 'null')",
        "INSERT INTO scheduler_executions VALUES ('go-exec', 'go-job', "
        "'2025-03-04 05:06:07.000000', '2025-03-04 05:06:08.500000', 1500000000, "
        "'completed', '', '{\"k\":\"v\"}')",
    )
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        job = await store.get_job("go-job")
        assert job.next_run == datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
        assert job.last_run is None
        assert job.metadata == {}
        record = await store.get_execution("go-exec")
        assert record.duration.total_seconds() == 1.5
        assert record.end_time == datetime(2025, 3, 4, 5, 6, 8, 500000, tzinfo=UTC)
        assert record.status is JobStatus.COMPLETED
        assert record.metadata == {"k": "v"}
    finally:
        await store.close()


async def test_stored_text_is_readable_by_the_go_library(database_url: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await store.save_execution(record(metadata={"b": "2", "a": "é"}))
    finally:
        await store.close()
    [row] = await query(database_url, "SELECT duration, metadata FROM scheduler_executions")
    assert row.duration == 2_500_000_000  # nanoseconds, Go's time.Duration
    assert row.metadata == '{"a":"é","b":"2"}'  # compact, sorted: encoding/json's form


# What GORM's AutoMigrate creates for the reference's models on MySQL/MariaDB.
GORM_MYSQL_DDL = [
    "CREATE TABLE scheduler_jobs (id varchar(255) NOT NULL, schedule_type varchar(50), "
    "schedule_config text, status varchar(20), next_run datetime(3) NULL, "
    "last_run datetime(3) NULL, created_at datetime(3) NULL, updated_at datetime(3) NULL, "
    "metadata text, PRIMARY KEY (id), KEY idx_scheduler_jobs_status (status), "
    "KEY idx_scheduler_jobs_next_run (next_run), KEY idx_scheduler_jobs_created_at "
    "(created_at), KEY idx_scheduler_jobs_updated_at (updated_at)) "
    "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
    "CREATE TABLE scheduler_executions (execution_id varchar(255) NOT NULL, "
    "job_id varchar(255), start_time datetime(3) NULL, end_time datetime(3) NULL, "
    "duration bigint, status varchar(20), error text, metadata text, "
    "PRIMARY KEY (execution_id), KEY idx_scheduler_executions_job_id (job_id), "
    "KEY idx_scheduler_executions_start_time (start_time), "
    "KEY idx_scheduler_executions_status (status)) "
    "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
]


@pytest.mark.parametrize(
    "backend", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)
async def test_tables_made_by_gorm_are_completed_and_their_collation_flagged(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await execute(database_url, *GORM_MYSQL_DDL)
    await initialize_and_close(database_url)
    schema = await describe(database_url)
    assert schema["scheduler_executions"]["indexes"] == EXECUTION_INDEXES
    warnings = [r.getMessage() for r in caplog.records if r.name == "tickwork.sqlalchemy"]
    flagged = [w for w in warnings if "utf8mb4_general_ci" in w]
    assert len(flagged) == 3  # id, execution_id, job_id
    assert all("ALTER TABLE" in w and "utf8mb4_nopad_bin" in w for w in flagged)
