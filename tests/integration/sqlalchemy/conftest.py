"""Fixtures for the SQL store: one real database per backend, emptied before each test.

``database_url`` is parametrized over SQLite (a file in ``tmp_path``), PostgreSQL and
MariaDB, with readable ids (``[sqlite]``, ``[postgresql]``, ``[mariadb]``). The server
backends come from :mod:`support.services`: missing, they skip here and fail in CI.
Each server test holds a file lock, so two pytest processes on one machine never empty
the tables under each other's feet, and checks on the way out that every connection
its stores opened was closed.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sql_helpers import assert_no_leaked_connections, empty_database, server_url

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]

_LOCK_PATH = os.path.join(tempfile.gettempdir(), "tickwork-sqlalchemy-tests.lock")

# Servers whose tables this session already dropped once: from then on emptying them is
# enough (dropping costs a DDL round per test), and tables left over from an older
# version of the code never survive into a session.


@pytest.fixture
def server_lock() -> Iterator[None]:
    """Exclusive use of the test servers' tables for the duration of one test."""
    with open(_LOCK_PATH, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name: ``sqlite``, ``postgresql`` or ``mariadb``."""
    return str(request.param)


async def _server_database(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty database on ``backend``'s server, held for the test alone; on the way
    out, every connection the test's stores opened must be closed."""
    url = server_url(backend)
    request.getfixturevalue("server_lock")
    await empty_database(url)
    yield url
    await assert_no_leaked_connections(url)


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """The URL of an empty database of ``backend`` (its tables may exist, empty)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
        return
    async for url in _server_database(backend, request):
        yield url


@pytest.fixture(params=BACKENDS[1:])
async def server_database_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty PostgreSQL or MariaDB database (for behaviour only servers have, such
    as row locks and deadlocks)."""
    async for url in _server_database(str(request.param), request):
        yield url


@pytest.fixture
async def mariadb_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty MariaDB database (for MySQL-only behaviour)."""
    async for url in _server_database("mariadb", request):
        yield url


@pytest.fixture
async def postgres_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty PostgreSQL database (for PostgreSQL-only behaviour)."""
    async for url in _server_database("postgresql", request):
        yield url
