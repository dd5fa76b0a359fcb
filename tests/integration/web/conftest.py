"""Fixtures for the tickwork-web HTTP tests: a seeded store of each kind, and clients.

``store_url`` is parametrized over memory, SQLite (a file in ``tmp_path``), PostgreSQL
(a schema of its own per test, dropped afterwards) and NATS (a server per test), with
readable ids. ``seeded`` opens that store, fills it with :func:`support.web_app.seed_store`
and closes it afterwards. ``client(app)`` is an ``httpx.AsyncClient`` that calls the
app in the test's own event loop (database connections are bound to a loop), keeping
cookies like a browser.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from support.services import POSTGRES_URL, require_port
from support.web_app import SeededJobs, seed_store

import tickwork
from tickwork import Store

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("nats", id="nats", marks=pytest.mark.nats),
]


async def _execute(url: str, statement: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def postgres_schema_url() -> AsyncIterator[str]:
    """A PostgreSQL URL whose store tables live in a fresh schema, dropped afterwards."""
    parsed = make_url(POSTGRES_URL)
    require_port("postgresql", parsed.host or "127.0.0.1", parsed.port or 5432)
    schema = f"web_{uuid.uuid4().hex[:12]}"
    await _execute(POSTGRES_URL, f"CREATE SCHEMA {schema}")
    try:
        yield parsed.update_query_dict({"schema": schema}).render_as_string(hide_password=False)
    finally:
        await _execute(POSTGRES_URL, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty store of ``backend``, for ``create_store``."""
    if backend == "memory":
        return "memory"
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    if backend == "postgresql":
        return str(request.getfixturevalue("postgres_schema_url"))
    server = request.getfixturevalue("nats_server")
    return str(server.url)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """The store, created and opened; closed after the test."""
    opened = tickwork.create_store(store_url)
    await opened.initialize()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def seeded(store: Store) -> SeededJobs:
    return await seed_store(store)


@pytest.fixture
async def client() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """``client(app, **headers)``: an HTTP client for ``app``, closed after the test."""
    made: list[httpx.AsyncClient] = []

    def make(app: Any, **headers: str) -> httpx.AsyncClient:
        made.append(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver",
                headers=headers,
            )
        )
        return made[-1]

    try:
        yield make
    finally:
        for one in made:
            await one.aclose()
