"""Fixtures for the SQL store: one real database per backend, emptied before each test.

``database_url`` is parametrized over SQLite (a file in ``tmp_path``), PostgreSQL and
MariaDB, with readable ids (``[sqlite]``, ``[postgresql]``, ``[mariadb]``). The server
backends come from :mod:`support.services`: missing, they skip here and fail in CI.
Each server test holds a file lock, so two pytest processes on one machine never empty
the tables under each other's feet, and checks on the way out that every connection
its stores opened was closed.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from support.services import MARIADB_URL, POSTGRES_URL, require_port

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]
SERVER_URLS = {"postgresql": POSTGRES_URL, "mariadb": MARIADB_URL}
TABLES = ("scheduler_executions", "scheduler_jobs")

_LOCK_PATH = os.path.join(tempfile.gettempdir(), "tickwork-sqlalchemy-tests.lock")


def server_url(backend: str) -> str:
    """The URL of a server backend, after checking that something listens there."""
    url = SERVER_URLS[backend]
    parsed = make_url(url)
    require_port(backend, parsed.host or "127.0.0.1", parsed.port or _default_port(backend))
    return url


def _default_port(backend: str) -> int:
    return 5432 if backend == "postgresql" else 3306


@pytest.fixture
def _server_lock() -> Iterator[None]:
    with open(_LOCK_PATH, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def admin_engine(url: str) -> AsyncEngine:
    """An engine for test set-up that keeps no connection open afterwards."""
    return create_async_engine(url, poolclass=NullPool)


async def drop_tables(url: str) -> None:
    """Remove the store's tables, so the next store starts from an empty database."""
    engine = admin_engine(url)
    try:
        async with engine.begin() as conn:
            for table in TABLES:
                await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    finally:
        await engine.dispose()


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
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


async def assert_no_leaked_connections(url: str) -> None:
    # A closed connection leaves the server's process list a moment later.
    for _ in range(40):
        count = await open_connections(url)
        if count == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} connection(s) to the test database were left open")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name: ``sqlite``, ``postgresql`` or ``mariadb``."""
    return str(request.param)


@pytest.fixture
async def database_url(
    backend: str, tmp_path: os.PathLike[str], request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """The URL of an empty database of ``backend``."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/jobs.db"
        return
    url = server_url(backend)
    request.getfixturevalue("_server_lock")
    await drop_tables(url)
    yield url
    await assert_no_leaked_connections(url)
