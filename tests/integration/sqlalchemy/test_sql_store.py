"""Construction, URLs, plugin registration, engine ownership and schemas."""

from __future__ import annotations

import pytest
from sql_helpers import admin_engine, drop_tables, execute, job, record
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import tickwork
from tickwork_sqlalchemy_store import SQLAlchemyStore
from tickwork_sqlalchemy_store._urls import to_async_url


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///jobs.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///jobs.db", "sqlite+aiosqlite"),
        ("sqlite://", "sqlite+aiosqlite"),
        ("postgresql://postgres@127.0.0.1/test", "postgresql+asyncpg"),
        ("postgres://postgres@127.0.0.1/test", "postgresql+asyncpg"),
        ("postgresql+asyncpg://postgres@127.0.0.1/test", "postgresql+asyncpg"),
        ("mysql://root@127.0.0.1/test", "mysql+aiomysql"),
        ("mysql+aiomysql://root@127.0.0.1/test", "mysql+aiomysql"),
        ("mariadb://root@127.0.0.1/test", "mariadb+aiomysql"),
    ],
)
def test_create_store_by_url_picks_the_async_driver(url: str, driver: str) -> None:
    store = tickwork.create_store(url)
    assert isinstance(store, SQLAlchemyStore)
    assert store.url.drivername == driver
    if driver.endswith("aiomysql"):
        assert store.url.query["charset"] == "utf8mb4"


def test_create_store_by_name() -> None:
    store = tickwork.create_store("sqlalchemy", url="sqlite:///jobs.db", connect_timeout=3)
    assert isinstance(store, SQLAlchemyStore)
    assert "sqlalchemy" in tickwork.available_plugins()["stores"]


def test_repr_and_url_hide_the_password() -> None:
    store = SQLAlchemyStore("postgresql://user:hunter2@db.example/jobs")
    assert "hunter2" not in repr(store)
    assert "hunter2" not in str(store.url)
    assert "db.example" in repr(store)


@pytest.mark.parametrize(
    ("url", "shared"),
    [
        ("postgresql://postgres@127.0.0.1/test", True),
        ("mysql://root@127.0.0.1/test", True),
        ("mariadb://root@127.0.0.1/test", True),
        ("sqlite:///jobs.db", True),
        ("sqlite:////var/lib/app/jobs.db", True),
        ("sqlite+aiosqlite:///file:jobs.db?uri=true", True),
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("sqlite+aiosqlite:///file::memory:?uri=true", False),
        ("sqlite+aiosqlite:///file:mem?mode=memory&cache=shared&uri=true", False),
    ],
)
def test_shared_by_default_unless_in_memory(url: str, shared: bool) -> None:
    """Other processes can open every database but an in-memory one: claim by default."""
    assert SQLAlchemyStore(url).shared is shared
    assert tickwork.AsyncScheduler(url, handler=print).coordinated is shared
    engine = create_async_engine(to_async_url(url), poolclass=NullPool)  # never connects
    assert SQLAlchemyStore(engine=engine).shared is shared


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1/test", "sqlite://"])
@pytest.mark.parametrize("shared", [True, False])
def test_explicit_shared_wins(url: str, shared: bool) -> None:
    assert SQLAlchemyStore(url, shared=shared).shared is shared
    assert tickwork.create_store(url, shared=shared).shared is shared  # type: ignore[attr-defined]


def test_schema_is_refused_for_sqlite() -> None:
    with pytest.raises(ValueError, match="database file"):
        SQLAlchemyStore("sqlite:///jobs.db", schema="other")


async def test_borrowed_engine_is_left_open(database_url: str) -> None:
    engine = create_async_engine(SQLAlchemyStore(database_url).url)
    try:
        first, second = SQLAlchemyStore(engine=engine), SQLAlchemyStore(engine=engine)
        await first.initialize()
        await second.initialize()
        await first.save_job(job())
        await first.close()
        assert (await second.get_job("job-1")).id == "job-1"  # the engine still works
        await second.close()
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()


async def test_update_with_unchanged_values_finds_the_job(database_url: str) -> None:
    # MySQL counts changed rows unless asked for matched rows; an unchanged job is found.
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await store.save_job(job())
        await store.update_job(job())
        await store.update_job(job())
        assert await store.get_job("job-1") == job()
    finally:
        await store.close()


async def test_in_memory_database_is_private_and_ends_with_close() -> None:
    store, other = SQLAlchemyStore("sqlite://"), SQLAlchemyStore("sqlite://")
    await store.initialize()
    await other.initialize()
    try:
        await store.save_job(job())
        assert await other.list_jobs() == []
    finally:
        await other.close()
    await store.close()
    await store.initialize()
    try:
        assert await store.list_jobs() == []
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
async def test_services_share_a_database_through_schemas(database_url: str, backend: str) -> None:
    kind = "SCHEMA" if backend == "postgresql" else "DATABASE"
    cascade = " CASCADE" if backend == "postgresql" else ""
    names = ("tickwork_billing", "tickwork_mailer")
    await drop_tables(database_url)
    await execute(database_url, *(f"DROP {kind} IF EXISTS {n}{cascade}" for n in names))
    await execute(database_url, *(f"CREATE {kind} {n}" for n in names))
    billing = SQLAlchemyStore(database_url, schema=names[0])
    mailer = SQLAlchemyStore(database_url, schema=names[1])
    try:
        await billing.initialize()
        await mailer.initialize()
        await billing.save_job(job("nightly", schedule_config="24h0m0s"))
        await mailer.save_job(job("nightly", schedule_config="1h0m0s"))
        await mailer.save_execution(record("nightly", "mail-run"))
        assert (await billing.get_job("nightly")).schedule_config == "24h0m0s"
        assert (await mailer.get_job("nightly")).schedule_config == "1h0m0s"
        assert await billing.list_executions("nightly") == []
        async with admin_engine(database_url).connect() as conn:
            default_has_tables = await conn.run_sync(
                lambda sync: sync.dialect.has_table(sync, "scheduler_jobs")
            )
        assert not default_has_tables  # nothing landed in the default schema
    finally:
        await billing.close()
        await mailer.close()
        await execute(database_url, *(f"DROP {kind} IF EXISTS {n}{cascade}" for n in names))


@pytest.mark.parametrize(
    "backend", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)
async def test_mariadb_scheme_reaches_mariadb(database_url: str) -> None:
    url = make_url(database_url).set(drivername="mariadb")
    store = tickwork.create_store(url.render_as_string(hide_password=False))
    await store.initialize()
    try:
        await store.save_job(job("job"))
        await store.save_job(job("job "))
        assert sorted(j.id for j in await store.list_jobs()) == ["job", "job "]
    finally:
        await store.close()
