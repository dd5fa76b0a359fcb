"""Building the runner a store works through, from its URL or a given engine.

One place decides the engine options the store relies on (pre-ping and no reset on
return for servers, sqlite3 in a thread of the runner's own for aiosqlite URLs, WAL
for SQLite files), so the store itself only says which URL and options it was given.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ._drivers import require_driver
from ._runners import EngineRunner, Runner, ThreadRunner
from ._urls import driver_connect_args, is_memory_sqlite

__all__ = ["create_runner"]

logger = logging.getLogger("tickwork.sqlalchemy")


def create_runner(
    url: URL,
    given_engine: AsyncEngine | None,
    where: str,
    connect_timeout: float,
    engine_options: Mapping[str, Any],
) -> Runner:
    """The runner for ``given_engine`` (borrowed, never disposed), else for a new
    engine on ``url`` that the runner owns."""
    if given_engine is not None:
        return EngineRunner(given_engine, where, owned=False)
    connect_args = driver_connect_args(url, connect_timeout)
    options: dict[str, Any] = dict(engine_options)
    connect_args.update(options.pop("connect_args", {}))
    if url.get_driver_name() == "aiosqlite" and "async_creator" not in options:
        # aiosqlite runs sqlite3 in a thread and crosses to it for every driver call;
        # the runner's thread runs each whole transaction in one crossing instead.
        # Same driver module, same dialect (aiosqlite's is pysqlite's), same file.
        sync_url = url.set(drivername="sqlite+pysqlite")
        engine = create_engine(sync_url, connect_args=connect_args, **options)
        if not is_memory_sqlite(url):
            event.listen(engine, "connect", _sqlite_pragmas)
        return ThreadRunner(engine, where)
    require_driver(url.get_driver_name(), where)
    # A server may drop idle connections (restart, timeout): test each one before use.
    # SQLite has no server, and the test would double the cost of every call.
    options.setdefault("pool_pre_ping", url.get_backend_name() != "sqlite")
    if url.get_backend_name() != "sqlite":
        # Every call ends its own transaction (and closing a connection rolls back
        # one left open), so the pool's rollback on return is a wasted round trip
        # on MySQL, and on a connection the server dropped meanwhile it fails and
        # logs a traceback during every outage.
        options.setdefault("pool_reset_on_return", None)
    async_engine = create_async_engine(url, connect_args=connect_args, **options)
    if async_engine.dialect.name == "sqlite" and not is_memory_sqlite(url):
        event.listen(async_engine.sync_engine, "connect", _sqlite_pragmas)
    return EngineRunner(async_engine, where, owned=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work while one process writes; NORMAL sync is durable in WAL
    mode and avoids an fsync per commit."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() != "wal":
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except Exception as exc:
                # The mode is stored in the file, so one connection succeeding is enough;
                # when several processes open a new file at once, the losers are told
                # "database is locked" and the next connection finds WAL on.
                logger.debug("could not switch to WAL yet: %s", exc)
    finally:
        cursor.close()
