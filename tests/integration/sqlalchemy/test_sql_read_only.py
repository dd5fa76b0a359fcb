"""Commands that only read never create: on a missing SQL store they fail in one line,
naming the store, and leave no file, table or schema behind (issue 16).

The server backends get a database (PostgreSQL, MariaDB) or schema (PostgreSQL) of
their own, made for the test and dropped after it, so "nothing appeared" is checked on
a backend that no other test (or pytest process) writes to.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sql_helpers import server_url
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import tickwork
from tickwork.cli import main
from tickwork_sqlalchemy_store import SQLAlchemyStore

SERVERS = [
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


def _admin(url: str, *statements: str) -> list[str]:
    """Run ``statements`` outside a transaction (CREATE DATABASE needs that); the
    first column of the last one's rows."""

    async def run() -> list[str]:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                rows: list[str] = []
                for statement in statements:
                    result = await conn.execute(text(statement))
                    rows = [str(r[0]) for r in result] if result.returns_rows else []
                return rows
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables_in(admin_url: str, schema: str) -> list[str]:
    return _admin(
        admin_url,
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'",
    )


@pytest.fixture(params=SERVERS)
def fresh_database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, str]]:
    """(admin URL, URL of a new empty database, the schema its tables would go in)."""
    admin = server_url(str(request.param))
    name = f"tw_ro_{uuid.uuid4().hex[:12]}"
    _admin(admin, f"CREATE DATABASE {name}")
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    schema = "public" if request.param == "postgresql" else name
    try:
        # PostgreSQL's information_schema shows the database connected to only.
        yield (url if schema == "public" else admin), url, schema
    finally:
        _admin(admin, f"DROP DATABASE {name}")


READING = [
    pytest.param(["jobs", "--store", "{url}", "list"], id="jobs-list"),
    pytest.param(["jobs", "--store", "{url}", "show", "x"], id="jobs-show"),
    pytest.param(["jobs", "--store", "{url}", "pause", "x"], id="jobs-pause"),
    pytest.param(["history", "x", "--store", "{url}"], id="history"),
    pytest.param(["migrate", "{url}", "{dst}"], id="migrate-source"),
]


def _run(argv: list[str], url: str, dst: str, capsys: pytest.CaptureFixture[str]) -> str:
    args = [a.format(url=url, dst=dst) for a in argv]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("argv", READING)
def test_reading_a_missing_sqlite_file_creates_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, dst = tmp_path / "typo.db", tmp_path / "dst.db"
    err = _run(argv, f"sqlite:///{path}", f"sqlite:///{dst}", capsys)
    assert "no tickwork store" in err
    assert str(path) in err
    assert "tickwork run" in err
    assert "tickwork jobs add" in err
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", READING)
def test_reading_a_sqlite_file_without_tables_creates_none(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    path = tmp_path / "other.db"
    sqlite3.connect(path).close()  # an empty database file (some other program's)
    err = _run(argv, f"sqlite:///{path}", f"sqlite:///{tmp_path / 'dst.db'}", capsys)
    assert "scheduler_jobs" in err
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
    assert not (tmp_path / "dst.db").exists()


def test_adding_a_job_creates_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What the error message promises creates the store, and then reading works."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert main(["jobs", "--store", url, "add", "a", "--interval", "5m"]) == 0
    assert main(["jobs", "--store", url, "list"]) == 0
    assert "\na " in capsys.readouterr().out


@pytest.mark.parametrize("argv", READING)
def test_reading_a_fresh_server_database_creates_no_table(
    argv: list[str],
    fresh_database: tuple[str, str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin, url, schema = fresh_database
    err = _run(argv, url, f"sqlite:///{tmp_path / 'dst.db'}", capsys)
    assert "no tickwork store" in err
    assert "scheduler_jobs" in err
    assert _tables_in(admin, schema) == []
    assert not (tmp_path / "dst.db").exists()


@pytest.mark.postgresql
def test_a_password_is_not_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    admin = server_url("postgresql")
    name = f"tw_ro_{uuid.uuid4().hex[:12]}"
    _admin(admin, f"CREATE DATABASE {name}")
    try:
        url = make_url(admin).set(database=name, password="s3cret")
        err = _run(["jobs", "--store", "{url}", "list"], url.render_as_string(False), "", capsys)
        assert "s3cret" not in err
        assert "***" in err
    finally:
        _admin(admin, f"DROP DATABASE {name}")


@pytest.mark.postgresql
def test_a_postgresql_schema_is_neither_created_nor_filled() -> None:
    admin = server_url("postgresql")
    present, absent = f"tw_ro_{uuid.uuid4().hex[:12]}", f"tw_ro_{uuid.uuid4().hex[:12]}"
    _admin(admin, f"CREATE SCHEMA {present}")

    async def open_each() -> None:
        for schema in (present, absent):
            store = SQLAlchemyStore(admin, schema=schema, create=False)
            with pytest.raises(tickwork.StoreNotFoundError, match=f"schema {schema}"):
                await store.initialize()
            await store.close()

    try:
        asyncio.run(open_each())
        assert _tables_in(admin, present) == []
        namespaces = _admin(admin, "SELECT nspname FROM pg_namespace")
        assert absent not in namespaces
    finally:
        _admin(admin, f"DROP SCHEMA {present} CASCADE")


def test_an_existing_store_opens_with_create_false(tmp_path: Path) -> None:
    async def scenario() -> None:
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        first = SQLAlchemyStore(url)
        await first.initialize()
        await first.close()
        store = SQLAlchemyStore(url, create=False)
        await store.initialize()
        try:
            assert await store.list_jobs() == []
        finally:
            await store.close()

    asyncio.run(scenario())
