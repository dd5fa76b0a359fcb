"""How the store's work reaches the database.

Every store call is one synchronous function over a SQLAlchemy :class:`Connection`
(``work``), run inside one transaction by a runner:

- :class:`EngineRunner` runs it over an :class:`AsyncEngine` with
  :meth:`AsyncConnection.run_sync`: PostgreSQL (asyncpg), MySQL/MariaDB (aiomysql), and
  any engine the caller lends the store. Each driver call inside is awaited as usual.
- :class:`ThreadRunner` runs it, whole, in one thread that owns a SQLite connection.
  That is what aiosqlite does too, except that aiosqlite crosses to its thread and back
  for every driver call: four crossings for one INSERT (create the cursor, execute,
  close it, commit), five for a read, eight for a claim. Each crossing costs 30-150 µs
  of thread wake-ups, several times what SQLite takes to run the statement, so doing the
  whole transaction in one crossing makes every call two to four times faster. SQLite
  blocks in that thread (waiting for another process's lock, a checkpoint), never in the
  event loop. Claims go ahead of the other calls waiting for the thread: a run waits
  for its claim before its handler starts, while the writes and reads after runs only
  need to happen soon.

The work function is the same for both, so each statement is written once. That is
also what lets :class:`EngineRunner` run it again when the server rolls it back as a
deadlock victim: the function's only effects are its statements, which the rollback
undid.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import tickwork

from ._errors import connection_error, lost_connection, lost_to_a_conflict, operation_error

__all__ = ["EngineRunner", "Runner", "ThreadRunner", "statement_errors"]

T = TypeVar("T")

logger = logging.getLogger("tickwork.sqlalchemy")

# How often a transaction the server picked as a deadlock victim is run again, and the
# first of the doubling random pauses between runs (the pauses let the transaction that
# won finish; random, so that two victims do not meet again in step).
CONFLICT_ATTEMPTS = 5
_FIRST_PAUSE = 0.005

# MySQL/MariaDB: the isolation level of the next transaction (and only that one).
_NEXT_TRANSACTION_READ_COMMITTED = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"


class Runner(Protocol):
    """Runs work functions against one database."""

    @property
    def dialect_name(self) -> str: ...

    async def transaction(
        self,
        action: str,
        work: Callable[[Connection], T],
        *,
        read_committed: bool = False,
        urgent: bool = False,
    ) -> T:
        """``work(conn)`` inside one transaction, committed when it returns and rolled
        back when it raises. Failures come out as tickwork errors naming ``action``;
        tickwork errors raised by ``work`` pass unchanged. ``work`` may be called again
        after a rollback, so its only effects must be its statements.

        ``read_committed`` asks MySQL not to take gap locks, which would make claims
        of different jobs deadlock each other (PostgreSQL reads committed data by
        default; SQLite has one writer). ``urgent`` work (claims: a run waits for it)
        goes ahead of other work waiting for a runner that does one thing at a time.
        """
        ...

    async def session(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` on a connection without a transaction around it; ``work``
        commits or rolls back itself (schema set-up). Only failing to connect is
        translated here."""
        ...

    async def close(self) -> None:
        """Release the connections (and the engine, when the runner made it)."""
        ...


@contextlib.contextmanager
def statement_errors(action: str, where: str) -> Iterator[None]:
    """Turn what a statement raises into StorageOperationError (or, for a lost
    connection, StorageConnectionError), the driver's exception chained."""
    try:
        yield
    except tickwork.TickworkError:
        raise
    except Exception as exc:
        raise operation_error(exc, action, where) from exc


class EngineRunner:
    """Work over an :class:`AsyncEngine`.

    On a server each call checks a connection out of the pool. On SQLite (an engine
    lent by the caller) every call goes through one connection, one at a time: SQLite
    has a single writer anyway, an in-memory database lives on one connection, and
    taking a connection from the pool and handing it back would cost two more thread
    crossings a call.
    """

    def __init__(self, engine: AsyncEngine, where: str, *, owned: bool) -> None:
        self._engine = engine
        self._where = where
        self._owned = owned
        sqlite = engine.dialect.name == "sqlite"
        self._serialize: asyncio.Lock | None = asyncio.Lock() if sqlite else None
        self._pinned: AsyncConnection | None = None

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def transaction(
        self,
        action: str,
        work: Callable[[Connection], T],
        *,
        read_committed: bool = False,
        urgent: bool = False,
    ) -> T:
        if self._serialize is not None:
            async with self._serialize:
                conn = await self._pinned_connection()
                with statement_errors(action, self._where):
                    async with conn.begin():
                        return await conn.run_sync(work)
        attempt = 1
        with statement_errors(action, self._where):
            while True:
                try:
                    return await self._on_server(work, read_committed=read_committed)
                except Exception as exc:
                    if attempt == CONFLICT_ATTEMPTS or not lost_to_a_conflict(exc):
                        raise
                await asyncio.sleep(self._pause_after_conflict(action, attempt))
                attempt += 1

    def _pause_after_conflict(self, action: str, attempt: int) -> float:
        pause = random.uniform(0, _FIRST_PAUSE * 2**attempt)
        logger.debug(
            "%s: the database rolled back the transaction to %s to break a deadlock "
            "(attempt %d of %d); running it again in %.1f ms",
            self._where,
            action,
            attempt,
            CONFLICT_ATTEMPTS,
            pause * 1000,
        )
        return pause

    async def _on_server(self, work: Callable[[Connection], T], *, read_committed: bool) -> T:
        """One try of ``work`` in a transaction on a pooled connection.

        InnoDB and PostgreSQL can still pick one of two transactions as a deadlock
        victim where the lock order alone cannot rule it out (an INSERT checking for a
        duplicate takes a shared lock on a deleted row that another transaction holds,
        whatever order the rest took); :meth:`transaction` then runs the work again.
        """
        async with self._checked_out() as conn, conn.begin():
            if read_committed and conn.dialect.name in ("mysql", "mariadb"):
                # For this transaction only, so nothing is left to undo when the
                # connection goes back to the pool: a session setting takes two
                # statements each way, and undoing it on a connection the server has
                # just dropped fails where no caller sees it, losing the pool slot.
                await conn.exec_driver_sql(_NEXT_TRANSACTION_READ_COMMITTED)
            return await conn.run_sync(work)

    async def session(self, work: Callable[[Connection], T]) -> T:
        async with self._checked_out() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        pinned, self._pinned = self._pinned, None
        if pinned is not None:
            with contextlib.suppress(Exception):
                await pinned.close()
        if self._owned:
            await self._engine.dispose()

    async def _pinned_connection(self) -> AsyncConnection:
        if self._pinned is None or self._pinned.closed:
            try:
                self._pinned = await self._engine.connect()
            except Exception as exc:
                raise connection_error(exc, self._where) from exc
        return self._pinned

    @contextlib.asynccontextmanager
    async def _checked_out(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; failing to get one means the database is unreachable.

        A connection found dead while in use is invalidated before it goes back, even
        when SQLAlchemy did not notice (a driver error outside a statement): the pool
        then throws it away instead of rolling it back, which would fail and log a
        traceback, and the next call connects afresh (``pool_pre_ping`` catches the
        connections that died while idle in the pool).
        """
        try:
            conn = await self._engine.connect()
        except Exception as exc:
            raise connection_error(exc, self._where) from exc
        try:
            yield conn
        except Exception as exc:
            if lost_connection(exc) and not conn.invalidated:
                with contextlib.suppress(Exception):
                    await conn.invalidate(exc)
            raise
        finally:
            with contextlib.suppress(Exception):  # a dead connection is discarded anyway
                await conn.close()


class ThreadRunner:
    """Work on a SQLite connection that lives in one thread of its own.

    The runner owns ``engine`` (a blocking ``pysqlite`` engine) and makes, uses and
    closes its one connection in its thread, so the connection never changes threads.
    Calls queue for the thread in order, as they queued for aiosqlite's, except that
    urgent ones (claims) go ahead of the others waiting.

    A call cancelled while its work runs returns at once, but the work goes on to its
    commit or rollback in the thread (as a statement already sent to a server would);
    a call cancelled while it waits for the thread is not run at all.
    """

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where
        self._connection: Connection | None = None
        self._thread = _Lanes("tickwork-sqlite")

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    async def transaction(
        self,
        action: str,
        work: Callable[[Connection], T],
        *,
        read_committed: bool = False,
        urgent: bool = False,
    ) -> T:
        return await self._call(self._in_transaction, action, work, urgent=urgent)

    async def session(self, work: Callable[[Connection], T]) -> T:
        return await self._call(self._in_session, work)

    async def close(self) -> None:
        try:
            await self._call(self._dispose)
        finally:
            self._thread.shutdown()

    async def _call(self, function: Callable[..., T], *args: Any, urgent: bool = False) -> T:
        # wrap_future cancels the thread's future when the caller is cancelled: work
        # still waiting for the thread is then skipped, as with an executor.
        future = self._thread.submit(functools.partial(function, *args), urgent=urgent)
        return await asyncio.wrap_future(future)

    # -- in the thread -------------------------------------------------------------------

    def _connect(self) -> Connection:
        conn = self._connection
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            try:
                conn = self._connection = self._engine.connect()
            except Exception as exc:
                self._connection = None
                raise connection_error(exc, self._where) from exc
        return conn

    def _in_transaction(self, action: str, work: Callable[[Connection], T]) -> T:
        conn = self._connect()
        with statement_errors(action, self._where), conn.begin():
            return work(conn)

    def _in_session(self, work: Callable[[Connection], T]) -> T:
        conn = self._connect()
        try:
            return work(conn)
        finally:
            if conn.in_transaction():
                with contextlib.suppress(Exception):
                    conn.rollback()

    def _dispose(self) -> None:
        conn, self._connection = self._connection, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self._engine.dispose()


class _Lanes:
    """A one-thread executor whose urgent calls go ahead of the others waiting (each
    lane keeps the order of submission).

    Every call adds one task to a one-worker ThreadPoolExecutor, which keeps its
    behaviour (the thread starts on first use, finishes what was submitted when the
    interpreter exits); the task runs whichever waiting call comes first, urgent ones
    before the rest. There are as many tasks as calls, so each call runs once.
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._urgent: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._normal: deque[tuple[Future[Any], Callable[[], Any]]] = deque()

    def submit(self, function: Callable[[], T], *, urgent: bool = False) -> Future[T]:
        future: Future[T] = Future()
        (self._urgent if urgent else self._normal).append((future, function))
        try:
            self._executor.submit(self._run_next)
        except RuntimeError:  # shut down: nothing will ever run it
            (self._urgent if urgent else self._normal).pop()
            raise
        return future

    def shutdown(self) -> None:
        """Finish what was submitted, then let the thread end (without waiting)."""
        self._executor.shutdown(wait=False)

    def _run_next(self) -> None:
        # Only this thread takes calls out, and each task follows its call in, so the
        # lane found non-empty here stays so until popped.
        future, function = (self._urgent or self._normal).popleft()
        if not future.set_running_or_notify_cancel():
            return  # cancelled while it waited
        try:
            result = function()
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
