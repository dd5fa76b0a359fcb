"""Job changes pushed through PostgreSQL's LISTEN/NOTIFY: the capability contract, the
channel name, MySQL and SQLite left polling, changes from a scheduler and from the
command line reaching another scheduler at once, and a listening connection killed on
the server (``pg_terminate_backend``) missing nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sql_helpers import execute, query
from support.change_push import (
    a_lost_listener_misses_nothing,
    command_line_changes_reach_a_scheduler,
    scheduler_changes_reach_another_scheduler,
)

import tickwork
from tickwork.abc import ChangeSignalingStore, Store
from tickwork.testing import ChangeSignalingStoreContract
from tickwork.testing._change_contract import next_signal
from tickwork_sqlalchemy_store import SQLAlchemyStore
from tickwork_sqlalchemy_store._change_channel import channel_name


class TestPostgresChangeSignals(ChangeSignalingStoreContract):
    """LISTEN/NOTIFY on the test database (``[postgresql]``)."""

    @pytest.fixture
    def make_store(self, postgres_url: str) -> Callable[[], Store]:
        return lambda: SQLAlchemyStore(postgres_url)


def test_only_postgresql_through_asyncpg_signals_changes(tmp_path: Path) -> None:
    assert SQLAlchemyStore("postgresql://u@127.0.0.1/db").signals_changes is True
    url = "postgresql://u@127.0.0.1/db"
    assert SQLAlchemyStore(url, push_changes=False).signals_changes is False
    assert tickwork.create_store(url, push_changes=False).signals_changes is False  # type: ignore[attr-defined]
    assert SQLAlchemyStore("mysql://u@127.0.0.1/db").signals_changes is False
    assert SQLAlchemyStore("mariadb://u@127.0.0.1/db").signals_changes is False
    assert SQLAlchemyStore(f"sqlite:///{tmp_path / 'jobs.db'}").signals_changes is False
    assert SQLAlchemyStore("sqlite://").signals_changes is False


async def test_a_store_that_cannot_signal_says_so(tmp_path: Path) -> None:
    store = SQLAlchemyStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    await store.initialize()
    try:
        with pytest.raises(tickwork.StorageOperationError, match="signals_changes"):
            await store.signal_changes()
        with pytest.raises(
            tickwork.StorageOperationError, match="only PostgreSQL through asyncpg does"
        ):
            async with store.listen_for_changes():
                pass
    finally:
        await store.close()


def test_the_channel_is_named_after_the_schema_and_fits_an_identifier() -> None:
    assert channel_name(None) == "tickwork_jobs"
    assert channel_name("billing") == "tickwork_jobs:billing"
    long = channel_name("ü" * 40)
    assert len(long.encode()) <= 63
    assert long != channel_name("ü" * 41)
    assert channel_name("a" * 49) == "tickwork_jobs:" + "a" * 49  # exactly 63 bytes


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_any_schema_gets_a_channel_that_fits_and_tells_it_apart(one: str, other: str) -> None:
    name = channel_name(one)
    assert len(name.encode()) <= 63
    assert name == channel_name(one)
    assert name.startswith("tickwork_jobs:")
    if one != other:
        assert name != channel_name(other)


async def test_a_schema_name_with_quotes_and_spaces_signals(postgres_url: str) -> None:
    schema = "odd \"schema\" 'name'"
    quoted = '"' + schema.replace('"', '""') + '"'
    await execute(
        postgres_url, f"DROP SCHEMA IF EXISTS {quoted} CASCADE", f"CREATE SCHEMA {quoted}"
    )
    sender = SQLAlchemyStore(postgres_url, schema=schema)
    listener = SQLAlchemyStore(postgres_url, schema=schema)
    default = SQLAlchemyStore(postgres_url)
    try:
        for store in (sender, listener, default):
            await store.initialize()
        async with (
            listener.listen_for_changes() as signals,
            default.listen_for_changes() as elsewhere,
        ):
            await sender.signal_changes()
            await next_signal(signals)
            with pytest.raises(TimeoutError):  # not heard in the default schema
                await next_signal(elsewhere, timeout=0.2)
    finally:
        for store in (sender, listener, default):
            await store.close()
        await execute(postgres_url, f"DROP SCHEMA IF EXISTS {quoted} CASCADE")


async def test_ids_past_the_notify_limit_and_unreadable_payloads_say_everything(
    postgres_url: str,
) -> None:
    """PostgreSQL refuses a payload of 8000 bytes or more: a signal whose ids do not
    fit says "everything" instead of failing; a notification that is not ours (or an
    older tickwork's bare tag) reads as "everything" too; ids travel bound, so quotes
    in them change nothing."""
    sender, listener = SQLAlchemyStore(postgres_url), SQLAlchemyStore(postgres_url)
    try:
        await sender.initialize()
        await listener.initialize()
        async with listener.listen_for_changes() as signals:
            long_ids = [f"{n:03d}-" + "x" * 100 for n in range(100)]  # about 10,000 bytes
            await sender.signal_changes(long_ids)
            assert await next_signal(signals) is None
            await execute(postgres_url, f"NOTIFY \"{channel_name(None)}\", 'not json'")
            assert await next_signal(signals) is None
            await sender.signal_changes(["it's'); DROP TABLE x; --"])
            assert await next_signal(signals) == frozenset({"it's'); DROP TABLE x; --"})
    finally:
        await sender.close()
        await listener.close()


async def test_scheduler_changes_reach_another_scheduler(postgres_url: str) -> None:
    await scheduler_changes_reach_another_scheduler(lambda: SQLAlchemyStore(postgres_url))


async def test_command_line_changes_reach_a_scheduler(postgres_url: str) -> None:
    await command_line_changes_reach_a_scheduler(
        lambda: SQLAlchemyStore(postgres_url), ["--store", postgres_url]
    )


async def test_a_killed_listening_connection_misses_nothing(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A schema of its own, so that only this test's listener is terminated.
    schema = "tickwork_push_faults"
    await execute(
        postgres_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}"
    )
    listen = f'LISTEN "{channel_name(schema)}"'

    async def terminate_listener() -> None:
        rows = await query(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = current_database() AND query = '{listen}'",
        )
        assert [row[0] for row in rows] == [True], rows

    try:
        await a_lost_listener_misses_nothing(
            lambda: SQLAlchemyStore(postgres_url, schema=schema), terminate_listener, caplog
        )
    finally:
        await execute(postgres_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_the_store_has_the_capability() -> None:
    assert isinstance(SQLAlchemyStore("sqlite://"), ChangeSignalingStore)
