"""SQLAlchemyStore pages jobs and history in SQL (tickwork.abc.QueryableStore): the
query contract on SQLite, PostgreSQL and MariaDB, plus what only SQL has: rows the Go
library wrote, the statements sent (bound text, never inline), the plans the pages
use, and a query against a server that is gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sql_helpers import T0, admin_engine, execute, job
from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

import tickwork
from tickwork import ExecutionQuery, JobQuery, StoreQueries
from tickwork.abc import QueryableStore, Store
from tickwork.testing import UnreadableRowsQueryContract
from tickwork_sqlalchemy_store import SQLAlchemyStore
from tickwork_sqlalchemy_store._queries import like_pattern
from tickwork_sqlalchemy_store._urls import to_async_url


class TestSQLQueries(UnreadableRowsQueryContract):
    """The contract on every backend (``[sqlite]``, ``[postgresql]``, ``[mariadb]``)."""

    @pytest.fixture
    def make_store(self, database_url: str) -> Callable[[], Store]:
        return lambda: SQLAlchemyStore(database_url)

    @pytest.fixture
    def damage_job(self, database_url: str) -> Callable[[Store, str], Awaitable[None]]:
        async def damage(_store: Store, job_id: str) -> None:
            assert job_id.isascii()
            assert "'" not in job_id
            await execute(
                database_url,
                f"UPDATE scheduler_jobs SET metadata = 'not json{{' WHERE id = '{job_id}'",
            )

        return damage

    @pytest.fixture
    def backend_objects(self, database_url: str) -> Callable[[], Awaitable[set[str]]]:
        async def objects() -> set[str]:
            return await _schema_objects(database_url)

        return objects


async def _schema_objects(url: str) -> set[str]:
    engine = admin_engine(url) if not url.startswith("sqlite") else create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(_names))
    finally:
        if url.startswith("sqlite"):
            await engine.dispose()


def _names(conn: Any) -> list[str]:
    inspector = inspect(conn)
    names = []
    for table in inspector.get_table_names():
        names.append(table)
        names += [f"{table}.{index['name']}" for index in inspector.get_indexes(table)]
    return names


def test_the_sql_store_is_queryable() -> None:
    store = SQLAlchemyStore("sqlite://")
    assert isinstance(store, QueryableStore)
    assert StoreQueries(store).native


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("abc", "%abc%"),
        ("AbC", "%abc%"),
        ("100%", "%100/%%"),
        ("a_b", "%a/_b%"),
        ("a/b", "%a//b%"),
        ("\\", "%\\%"),
        ("ÜŒ", "%ÜŒ%"),
    ],
)
def test_like_patterns_take_every_character_literally(text: str, pattern: str) -> None:
    assert like_pattern(text) == pattern


async def test_user_text_is_bound_never_inlined(database_url: str) -> None:
    engine = create_async_engine(to_async_url(database_url))
    sent: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    store = SQLAlchemyStore(engine=engine)
    await store.initialize()
    try:
        marker = "x'; DROP TABLE scheduler_jobs; --"
        await store.save_job(job("a"))
        sent.clear()
        await store.query_jobs(JobQuery(search=marker, task=marker))
        await store.query_executions(ExecutionQuery(job_id=marker))
        await store.latest_executions([marker], 2)
        assert sent
        assert not any("DROP" in statement for statement in sent)
        assert [j.id for j in (await store.query_jobs(JobQuery())).jobs] == ["a"]
    finally:
        await store.close()
        await engine.dispose()


async def test_go_never_times_sort_as_no_time(database_url: str) -> None:
    """GormStorage writes year 1 for "never": it reads back as None and sorts with the
    jobs that have no time, by id."""
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await store.save_job(job("b-set", next_run=T0, last_run=T0))
        await store.save_job(job("c-none", next_run=None))
        async with admin_engine(database_url).begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO scheduler_jobs VALUES ('a-go', 'once', '', 'completed', "
                    "'0001-01-01 00:00:00', '0001-01-01 00:00:00', '2025-01-01 00:00:00', "
                    "'2025-01-01 00:00:00', :metadata)"
                ),
                {"metadata": '{"tickwork.task":"go\\u003ctask\\u003e"}'},
            )
        up = await store.query_jobs(JobQuery(sort_by="next_run"))
        assert [(j.id, j.next_run) for j in up.jobs] == [
            ("b-set", T0),
            ("a-go", None),
            ("c-none", None),
        ]
        down = await store.query_jobs(JobQuery(sort_by="last_run", sort_desc=True))
        assert [j.id for j in down.jobs] == ["c-none", "a-go", "b-set"]
        # Go escapes < and > in JSON; the task is still found by its name.
        by_task = await store.query_jobs(JobQuery(task="go<task>"))
        assert [j.id for j in by_task.jobs] == ["a-go"]
    finally:
        await store.close()


async def test_a_task_name_is_compared_exactly(database_url: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        for job_id, task in (("a", "Mod:Task"), ("b", "mod:task"), ("c", "mod:task "), ("d", "é")):
            await store.save_job(job(job_id, metadata={"tickwork.task": task}))
        for task, ids in (("mod:task", ["b"]), ("Mod:Task", ["a"]), ("é", ["d"]), ("e", [])):
            page = await store.query_jobs(JobQuery(task=task))
            assert [j.id for j in page.jobs] == ids, task
    finally:
        await store.close()


class Forwarder:
    """A loopback TCP port that relays to the database server until it is closed:
    then the store's server is at a closed port, as when the server goes away."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()


async def test_a_query_while_the_server_is_unreachable(server_database_url: str) -> None:
    """The store started, then its server went away (its port now closed): every query
    raises StorageConnectionError, in one line naming the server."""
    url = make_url(server_database_url)
    forwarder = Forwarder(url.host or "127.0.0.1", url.port or 0)
    await forwarder.start()
    store = SQLAlchemyStore(url.set(port=forwarder.port), connect_timeout=2)
    await store.initialize()
    try:
        await store.query_jobs(JobQuery())
        await forwarder.close()
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: store.query_jobs(JobQuery()),
            lambda: store.query_executions(ExecutionQuery()),
            lambda: store.latest_executions(["a"], 1),
            lambda: store.count_executions_by_status(T0 - timedelta(hours=1)),
        ]
        for call in calls:
            with pytest.raises(tickwork.StorageConnectionError) as caught:
                await call()
            message = str(caught.value)
            assert "\n" not in message, message
            assert f"127.0.0.1:{forwarder.port}" in message, message
    finally:
        await store.close()


async def test_a_store_made_before_the_history_index_gets_it_when_provisioned(
    database_url: str,
) -> None:
    """Tables made by an older tickwork (or by GormStorage) lack the index the history
    pages use: queries work without it and create nothing; the next store opened with
    create=True (``tickwork run``, ``jobs add``) adds it."""
    index = "scheduler_executions.idx_scheduler_executions_start_time_status"
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    await store.close()
    drop = "DROP INDEX idx_scheduler_executions_start_time_status"
    if database_url.startswith("mysql"):
        drop += " ON scheduler_executions"
    await execute(database_url, drop)
    reader = SQLAlchemyStore(database_url, create=False)
    await reader.initialize()
    try:
        page = await reader.query_executions(ExecutionQuery())
        assert (page.records, page.total) == ((), 0)
        assert await reader.count_executions_by_status(T0) == {}
    finally:
        await reader.close()
    assert index not in await _schema_objects(database_url)
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    await store.close()
    assert index in await _schema_objects(database_url)


async def test_a_nul_character_in_query_text_matches_nothing(database_url: str) -> None:
    """PostgreSQL refuses NUL in text; a search box must still answer (with nothing)."""
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        await store.save_job(job("a-b"))
        for query in (JobQuery(search="a\x00"), JobQuery(task="t\x00")):
            assert (await store.query_jobs(query)).total == 0
        page = await store.query_executions(ExecutionQuery(job_id="a\x00b"))
        assert (page.records, page.total) == ((), 0)
        assert await store.latest_executions(["a\x00b"], 3) == {}
    finally:
        await store.close()
