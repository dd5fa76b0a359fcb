"""Helpers shared by the SQL store tests (imported as ``sql_helpers``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from support.services import MARIADB_URL, POSTGRES_URL, require_port

from tickwork import ExecutionRecord, JobData, JobStatus

SERVER_URLS = {"postgresql": POSTGRES_URL, "mariadb": MARIADB_URL}
TABLES = ("scheduler_claims", "scheduler_executions", "scheduler_jobs", "scheduler_workers")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def server_url(backend: str) -> str:
    """The URL of a server backend, after checking that something listens there."""
    url = SERVER_URLS[backend]
    parsed = make_url(url)
    default_port = 5432 if backend == "postgresql" else 3306
    require_port(backend, parsed.host or "127.0.0.1", parsed.port or default_port)
    return url


_admin_engines: dict[str, AsyncEngine] = {}


def admin_engine(url: str) -> AsyncEngine:
    """An engine for test set-up that keeps no connection open afterwards.

    Without a pool it holds nothing tied to an event loop, so one engine per URL serves
    every test (and its dialect is initialized only once).
    """
    engine = _admin_engines.get(url)
    if engine is None:
        engine = _admin_engines[url] = create_async_engine(url, poolclass=NullPool)
    return engine


async def execute(url: str, *statements: str) -> None:
    """Run raw SQL in one transaction, as another program sharing the database would."""
    async with admin_engine(url).begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def query(url: str, statement: str) -> list[Any]:
    """Rows of a raw SELECT, read the way another program would."""
    async with admin_engine(url).connect() as conn:
        return list(await conn.execute(text(statement)))


async def drop_tables(url: str) -> None:
    """Remove the store's tables, so the next store starts from an empty database."""
    await execute(url, *(f"DROP TABLE IF EXISTS {table}" for table in TABLES))


async def clear_tables(url: str) -> None:
    """Empty the store's tables where they exist (much faster than dropping them)."""
    async with admin_engine(url).connect() as conn:
        for table in TABLES:
            try:
                async with conn.begin():
                    await conn.execute(text(f"DELETE FROM {table}"))
            except ProgrammingError:  # no such table yet
                pass


async def open_connections(url: str) -> int:
    """Connections to the test database other than the one asking."""
    engine = admin_engine(url)
    if engine.dialect.name == "postgresql":
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    else:
        query = (
            "SELECT count(*) FROM information_schema.PROCESSLIST "
            "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
        )
    async with engine.connect() as conn:
        return int((await conn.execute(text(query))).scalar_one())


async def assert_no_leaked_connections(url: str) -> None:
    """Every connection the test's stores opened was closed (the server may take a
    moment to notice)."""
    count = 0
    for _ in range(40):
        count = await open_connections(url)
        if count == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} connection(s) to the test database were left open")


def job(job_id: str = "job-1", **changes: Any) -> JobData:
    fields: dict[str, Any] = {
        "id": job_id,
        "schedule_type": "interval",
        "schedule_config": "5m0s",
        "status": JobStatus.PENDING,
        "next_run": T0 + timedelta(minutes=5),
        "created_at": T0,
        "updated_at": T0,
        "metadata": {"team": "core"},
    }
    fields.update(changes)
    return JobData(**fields)


def record(job_id: str = "job-1", execution_id: str = "e-1", **changes: Any) -> ExecutionRecord:
    fields: dict[str, Any] = {
        "job_id": job_id,
        "execution_id": execution_id,
        "start_time": T0,
        "end_time": T0 + timedelta(seconds=2.5),
        "duration": timedelta(seconds=2.5),
    }
    fields.update(changes)
    return ExecutionRecord(**fields)


_dropped: set[str] = set()


async def empty_database(url: str) -> None:
    """Make ``url``'s database hold empty store tables, or none: the first time in a
    session the tables are dropped (a previous session may have left another schema),
    after that only emptied."""
    if url in _dropped:
        await clear_tables(url)
    else:
        await drop_tables(url)
        _dropped.add(url)
