"""The store itself: tickwork's Store protocol over SQLAlchemy's asyncio engine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

import tickwork
from tickwork import ExecutionRecord, JobData, JobStatus, QueryOptions

from . import _rows
from ._claims import ClaimRequest, Claims
from ._errors import connection_error, operation_error
from ._schema import NO_PAD_BINARY_COLLATIONS, Tables, UTCDateTime, build_tables
from ._urls import describe, driver_connect_args, is_memory_sqlite, sqlite_file, to_async_url

__all__ = ["SQLAlchemyStore"]

logger = logging.getLogger("tickwork.sqlalchemy")

# How often initialize() tries again when another process creates the schema at the
# same moment (the loser sees "already exists", then finds the tables on a new look).
_SCHEMA_ATTEMPTS = 10

# Ids per ``id IN (...)`` look-up: far below every driver's limit on bound parameters
# (SQLite 32766, asyncpg 32767), and short enough to stay a cheap index probe.
_IDS_PER_LOOKUP = 1000


class _Statements:
    """The statements every call runs, built once per store: constructing an upsert
    costs more than SQLite takes to execute it."""

    def __init__(self, tables: Tables, dialect: str) -> None:
        jobs, executions = tables.jobs, tables.executions
        self.insert_job = jobs.insert()
        self.update_job = update(jobs).where(jobs.c.id == bindparam("key_id"))
        self.select_job = select(jobs).where(jobs.c.id == bindparam("key_id"))
        self.upsert_execution = _upsert(dialect, executions)
        self.update_execution = update(executions).where(
            executions.c.execution_id == bindparam("key_execution_id")
        )
        self.insert_execution = executions.insert()
        ids = jobs.c.id.in_(bindparam("ids", expanding=True))
        self.select_job_ids = select(jobs.c.id).where(ids)
        # Locks the jobs that exist, so none of them can vanish before the update that
        # follows (PostgreSQL, MySQL; SQLAlchemy leaves FOR UPDATE out on SQLite).
        self.lock_job_ids = select(jobs.c.id).where(ids).with_for_update()
        self.select_due_jobs = select(jobs).where(
            jobs.c.next_run <= bindparam("until", type_=UTCDateTime())
        )
        self.claims = Claims(tables, dialect)


class SQLAlchemyStore:
    """Jobs and execution history in SQLite, PostgreSQL or MySQL/MariaDB.

    The tables are the reference library's (``scheduler_jobs``, ``scheduler_executions``),
    so a Go service using ``GormStorage`` and a tickwork service can share them. Give it
    a URL and it creates (and on :meth:`close` disposes) its own engine; give it an
    :class:`~sqlalchemy.ext.asyncio.AsyncEngine` and it borrows that one, leaving its
    lifetime, pool and SQLite pragmas to you.

    :param url: a database URL (``str`` or :class:`sqlalchemy.engine.URL`). A URL
        without a driver gets the async one this distribution installs: ``sqlite://``
        → aiosqlite, ``postgresql://``/``postgres://`` → asyncpg, ``mysql://``/
        ``mariadb://`` → aiomysql.
    :param engine: an async engine to use instead of ``url``.
    :param schema: PostgreSQL schema or MySQL database for the tables (default: the
        connection's), so several services can share one database, each in its own.
    :param shared: whether several scheduler processes may use these tables at once.
        Schedulers on a shared store claim each due run in ``scheduler_claims`` before
        running it (so it runs once across all of them) and poll the store for jobs
        changed by the others. ``None`` (the default) decides from the database: true
        for every database another process can open (PostgreSQL, MySQL/MariaDB, a
        SQLite file), false for in-memory SQLite (``sqlite://``, ``:memory:``), which
        no other process can see. Pass ``False`` when you know one process is the only
        user, to skip the claim statements and the polling.
    :param connect_timeout: seconds a connection attempt may take before
        :class:`tickwork.StorageConnectionError`; on SQLite, how long a write waits for
        another process to release the file. Ignored with ``engine``.
    :param engine_options: extra keywords for :func:`~sqlalchemy.ext.asyncio.create_async_engine`
        (``pool_size``, ``echo``, ...). Ignored with ``engine``.
    :raises ValueError: neither or both of ``url`` and ``engine``, or a URL that is
        malformed or names a blocking driver.
    :raises TypeError: ``engine`` is not an ``AsyncEngine``.
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        engine: AsyncEngine | None = None,
        schema: str | None = None,
        shared: bool | None = None,
        connect_timeout: float = 10.0,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        if engine is not None and url is None:
            if not isinstance(engine, AsyncEngine):
                raise TypeError(
                    f"engine must be an sqlalchemy.ext.asyncio.AsyncEngine, got "
                    f"{type(engine).__name__}; build it with create_async_engine()"
                )
            self._url: URL = engine.url
        elif url is not None and engine is None:
            self._url = to_async_url(url)
        else:
            raise ValueError(
                "SQLAlchemyStore needs exactly one of url=... (for example "
                "'sqlite:///jobs.db' or 'postgresql://user@host/db') or engine=<AsyncEngine>"
                + (", not both" if url is not None else "")
            )
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be positive, got {connect_timeout!r}")
        self._given_engine = engine
        if schema is not None and self._url.get_backend_name() == "sqlite":
            raise ValueError(
                "schema= names a PostgreSQL schema or a MySQL database; with SQLite, "
                "give each service its own database file instead"
            )
        self._schema = schema
        self.shared: bool = not is_memory_sqlite(self._url) if shared is None else bool(shared)
        self._connect_timeout = connect_timeout
        self._engine_options = dict(engine_options or {})
        self._where = describe(self._url)
        self._engine: AsyncEngine | None = None
        self._tables: Tables | None = None
        self._statements: _Statements | None = None
        self._serialize: asyncio.Lock | None = None
        self._pinned: AsyncConnection | None = None
        self._starting = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SQLAlchemyStore({self._url.render_as_string(hide_password=True)!r})"

    @property
    def url(self) -> URL:
        """The database URL (its ``str()`` hides the password)."""
        return self._url

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> None:
        async with self._starting:
            if self._engine is None:
                await self._start()

    async def _start(self) -> None:
        path = sqlite_file(self._url)
        if path is not None and not path.absolute().parent.is_dir():
            # Checked here because SQLite's own error ("unable to open database file")
            # does not say which part is wrong.
            raise tickwork.StorageConnectionError(
                f"cannot open {self._where}: directory {path.absolute().parent} does not "
                "exist; create it or fix the path"
            )
        engine = self._given_engine or self._create_engine()
        try:
            tables = await self._prepare_schema(engine)
        except BaseException:
            if self._given_engine is None:
                await engine.dispose()
            raise
        self._tables = tables
        self._statements = _Statements(tables, engine.dialect.name)
        self._serialize = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._engine = engine
        logger.debug("store ready on %s", self._where)

    async def close(self) -> None:
        pinned, self._pinned = self._pinned, None
        if pinned is not None:
            with contextlib.suppress(Exception):
                await pinned.close()
        engine, self._engine = self._engine, None
        if engine is not None and self._given_engine is None:
            await engine.dispose()

    def _create_engine(self) -> AsyncEngine:
        # A server may drop idle connections (restart, timeout): test each one before use.
        # SQLite has no server, and the test would double the cost of every call.
        options: dict[str, Any] = {"pool_pre_ping": self._url.get_backend_name() != "sqlite"}
        options.update(self._engine_options)
        connect_args = driver_connect_args(self._url, self._connect_timeout)
        connect_args.update(options.pop("connect_args", {}))
        engine = create_async_engine(self._url, connect_args=connect_args, **options)
        if engine.dialect.name == "sqlite" and not is_memory_sqlite(self._url):
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine

    async def _prepare_schema(self, engine: AsyncEngine) -> Tables:
        for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
            async with _checked_out(engine, self._where) as conn:
                collation = await self._id_collation(conn)
                tables = build_tables(schema=self._schema, id_collation=collation)
                async with _statement_errors("look at the tables", self._where):
                    missing = await conn.run_sync(_missing_objects, tables)
                    await conn.rollback()
                try:
                    async with _statement_errors("create the tables", self._where):
                        if missing:
                            async with conn.begin():
                                await conn.run_sync(_create_missing, tables)
                        if collation is not None:
                            await _warn_on_padded_ids(conn, tables, collation)
                    return tables
                except tickwork.StorageOperationError as exc:
                    # Another process creating the same table or index at the same moment
                    # makes our CREATE fail with "already exists". Then the object is there
                    # on a second look, and we go on; if nothing appeared, the failure is
                    # real (a permission, a missing schema) and is raised at once.
                    async with _statement_errors("look at the tables", self._where):
                        still_missing = await conn.run_sync(_missing_objects, tables)
                        await conn.rollback()
                    if attempt == _SCHEMA_ATTEMPTS or not still_missing < missing:
                        raise
                    logger.debug(
                        "schema creation raced with another process (%s); looking again", exc
                    )
            await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _id_collation(self, conn: AsyncConnection) -> str | None:
        if conn.dialect.name not in ("mysql", "mariadb"):
            return None
        async with _statement_errors("look up collations", self._where):
            found = set(
                (
                    await conn.execute(
                        text(
                            "SELECT COLLATION_NAME FROM information_schema.COLLATIONS "
                            "WHERE COLLATION_NAME IN :names"
                        ).bindparams(
                            bindparam("names", list(NO_PAD_BINARY_COLLATIONS), expanding=True)
                        )
                    )
                ).scalars()
            )
            await conn.rollback()
        for name in NO_PAD_BINARY_COLLATIONS:
            if name in found:
                return name
        logger.warning(
            "%s has no NO PAD binary collation (MySQL 8.0.17+ or MariaDB 10.2+ have one); "
            "falling back to utf8mb4_bin, where ids that differ only by trailing spaces "
            "collide",
            self._where,
        )
        return "utf8mb4_bin"

    # -- plumbing ------------------------------------------------------------------------

    def _ready(self) -> tuple[AsyncEngine, Tables]:
        if self._engine is None or self._tables is None:
            raise tickwork.StorageNotInitializedError("SQLAlchemyStore")
        return self._engine, self._tables

    def _prepared(self) -> _Statements:
        if self._engine is None or self._statements is None:
            raise tickwork.StorageNotInitializedError("SQLAlchemyStore")
        return self._statements

    @contextlib.asynccontextmanager
    async def _transaction(
        self, action: str, *, read_committed: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """One connection and transaction, with every failure turned into a tickwork error.

        On SQLite everything goes through one lock: SQLite has a single writer anyway,
        and an in-memory database lives on one shared connection. ``read_committed``
        asks MySQL not to take gap locks, which would make claims of different jobs
        deadlock each other (PostgreSQL reads committed data by default).
        """
        engine, _ = self._ready()
        if self._serialize is not None:
            async with self._serialize:
                conn = await self._sqlite_connection(engine)
                async with _statement_errors(action, self._where), conn.begin():
                    yield conn
            return
        async with _checked_out(engine, self._where) as conn:
            if read_committed and conn.dialect.name in ("mysql", "mariadb"):
                await conn.execution_options(isolation_level="READ COMMITTED")
            async with _statement_errors(action, self._where), conn.begin():
                yield conn

    async def _sqlite_connection(self, engine: AsyncEngine) -> AsyncConnection:
        """The one connection a SQLite store uses (its calls take turns anyway): taking
        one from the pool and handing it back would cost two more thread hops a call."""
        if self._pinned is None or self._pinned.closed:
            try:
                self._pinned = await engine.connect()
            except Exception as exc:
                raise connection_error(exc, self._where) from exc
        return self._pinned

    async def _fetch(
        self, action: str, statement: Any, parameters: Mapping[str, Any] | None = None
    ) -> list[Mapping[str, Any]]:
        async with self._transaction(action) as conn:
            result = await conn.execute(statement, parameters)
            return [dict(row) for row in result.mappings()]

    # -- jobs ----------------------------------------------------------------------------

    async def save_job(self, job: JobData) -> None:
        statements = self._prepared()
        row = _rows.job_to_row(_rows.check_job(job))
        async with self._transaction(f"save job {job.id!r}") as conn:
            try:
                await conn.execute(statements.insert_job, row)
            except IntegrityError:
                raise tickwork.JobDataAlreadyExistsError(job.id) from None

    async def save_jobs(self, jobs: Sequence[JobData]) -> None:
        """Insert every job in one transaction (:class:`tickwork.abc.BulkStore`).

        One executemany INSERT: each driver sends it its own fast way (SQLite reuses one
        prepared statement, asyncpg pipelines, aiomysql packs rows into multi-row
        INSERTs), and none of them hits a limit on bound parameters however many jobs
        there are. A duplicate key rolls everything back; only then is the offending id
        looked up, so the usual case costs nothing extra.
        """
        statements = self._prepared()
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for job in jobs:
            _rows.check_job(job)
            if job.id in seen:
                raise tickwork.JobDataAlreadyExistsError(job.id)
            seen.add(job.id)
            rows.append(_rows.job_to_row(job))
        if not rows:
            return
        try:
            async with self._transaction(f"save {len(rows)} jobs") as conn:
                try:
                    await conn.execute(statements.insert_job, rows)
                except IntegrityError:
                    # Raised inside so the transaction rolls back; named below, once the
                    # failed transaction (unusable on PostgreSQL) is gone.
                    raise tickwork.JobDataAlreadyExistsError(rows[0]["id"]) from None
        except tickwork.JobDataAlreadyExistsError:
            ids = [row["id"] for row in rows]
            async with self._transaction("look up existing job ids") as conn:
                stored = await _existing_ids(conn, statements.select_job_ids, ids)
            # The first of the caller's jobs that is stored; if none is any more (it was
            # deleted meanwhile), the first job stands for the batch.
            taken = next((job_id for job_id in ids if job_id in stored), ids[0])
            raise tickwork.JobDataAlreadyExistsError(taken) from None

    async def update_job(self, job: JobData) -> None:
        statements = self._prepared()
        row = _rows.job_to_row(_rows.check_job(job))
        row["key_id"] = row.pop("id")
        async with self._transaction(f"update job {job.id!r}") as conn:
            result = await conn.execute(statements.update_job, row)
            if result.rowcount == 0:
                raise tickwork.JobDataNotFoundError(job.id)

    async def delete_job(self, job_id: str) -> None:
        _, tables = self._ready()
        _rows.check_job_id(job_id)
        jobs = tables.jobs
        claims = tables.claims
        async with self._transaction(f"delete job {job_id!r}", read_committed=True) as conn:
            result = await conn.execute(delete(jobs).where(jobs.c.id == job_id))
            if result.rowcount == 0:
                raise tickwork.JobDataNotFoundError(job_id)
            await conn.execute(delete(claims).where(claims.c.job_id == job_id))

    async def get_job(self, job_id: str) -> JobData:
        statements = self._prepared()
        _rows.check_job_id(job_id)
        rows = await self._fetch(f"read job {job_id!r}", statements.select_job, {"key_id": job_id})
        if not rows:
            raise tickwork.JobDataNotFoundError(job_id)
        return _rows.job_from_row(rows[0])

    async def list_jobs(self) -> list[JobData]:
        _, tables = self._ready()
        rows = await self._fetch("list jobs", select(tables.jobs))
        return _sorted_jobs(rows)

    async def list_due_jobs(self, until: datetime) -> list[JobData]:
        """Jobs with ``next_run <= until``, by next_run then id
        (:class:`tickwork.abc.DueJobsStore`).

        The WHERE clause is a range scan of ``idx_scheduler_jobs_next_run``; the order
        is made here, like :meth:`list_jobs`'s, so ties sort by code point whatever the
        database's collation.
        """
        statements = self._prepared()
        rows = await self._fetch(
            "list due jobs", statements.select_due_jobs, {"until": _utc(until)}
        )
        jobs = [_rows.job_from_row(row) for row in rows]
        # A Go-written "never" (year 1) matches in SQL but reads back as None.
        due = [job for job in jobs if job.next_run is not None]
        due.sort(key=lambda job: (job.next_run, job.id))
        return due

    async def list_jobs_by_status(self, status: JobStatus) -> list[JobData]:
        _, tables = self._ready()
        wanted = JobStatus(status)
        jobs = tables.jobs
        rows = await self._fetch(
            f"list {wanted.value} jobs", select(jobs).where(jobs.c.status == wanted.value)
        )
        return _sorted_jobs(rows)

    # -- executions ----------------------------------------------------------------------

    async def save_execution(self, record: ExecutionRecord) -> None:
        statements = self._prepared()
        row = _rows.execution_to_row(_rows.check_execution(record))
        action = f"save execution {record.execution_id!r}"
        async with self._transaction(action) as conn:
            await _write_executions(conn, statements, [row])

    async def save_runs(
        self, records: Sequence[ExecutionRecord], jobs: Sequence[JobData]
    ) -> set[str]:
        """Upsert ``records`` and update ``jobs`` in one transaction
        (:class:`tickwork.abc.BatchRunStore`); return the ids of the jobs not stored.

        Both writes are single executemany statements. Which jobs are missing comes from
        the UPDATE's row count where the driver reports an exact total for executemany
        (SQLite, aiomysql): when it is short, one look-up inside the same transaction
        names the missing ones (the UPDATE already holds the write lock on SQLite and
        the row locks on MySQL, so the look-up sees what the UPDATE saw). asyncpg
        reports no count for executemany: there the existing jobs are selected
        ``FOR UPDATE`` first, and only they are updated. Jobs are written in id order,
        so two processes writing overlapping batches lock rows in the same order.
        """
        statements = self._prepared()
        record_rows: dict[str, dict[str, Any]] = {}
        for record in records:
            # Last one wins, as with save_execution called in turn (and PostgreSQL
            # refuses an upsert that touches one row twice).
            row = _rows.execution_to_row(_rows.check_execution(record))
            record_rows[row["execution_id"]] = row
        job_rows: dict[str, dict[str, Any]] = {}
        for job in jobs:
            row = _rows.job_to_row(_rows.check_job(job))
            row["key_id"] = row.pop("id")
            job_rows[job.id] = row
        if not record_rows and not job_rows:
            return set()
        updates = [job_rows[job_id] for job_id in sorted(job_rows)]
        missing: set[str] = set()
        action = f"save {len(record_rows)} execution records and {len(updates)} jobs"
        async with self._transaction(action) as conn:
            if record_rows:
                await _write_executions(conn, statements, list(record_rows.values()))
            if not updates:
                return missing
            if conn.dialect.supports_sane_multi_rowcount:
                result = await conn.execute(statements.update_job, updates)
                if result.rowcount != len(updates):
                    stored = await _existing_ids(conn, statements.select_job_ids, job_rows)
                    missing = set(job_rows) - stored
            else:
                stored = await _existing_ids(conn, statements.lock_job_ids, sorted(job_rows))
                missing = set(job_rows) - stored
                present = [row for row in updates if row["key_id"] in stored]
                if present:
                    await conn.execute(statements.update_job, present)
        return missing

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        _, tables = self._ready()
        if not isinstance(execution_id, str) or not execution_id:
            raise tickwork.ExecutionNotFoundError(execution_id)
        executions = tables.executions
        rows = await self._fetch(
            f"read execution {execution_id!r}",
            select(executions).where(executions.c.execution_id == execution_id),
        )
        if not rows:
            raise tickwork.ExecutionNotFoundError(execution_id)
        return _rows.execution_from_row(rows[0])

    async def list_executions(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        if options is None:
            options = QueryOptions()
        elif not isinstance(options, QueryOptions):
            raise tickwork.InvalidQueryError("options", options, "must be a QueryOptions or None")
        options.validate()
        _, tables = self._ready()
        _rows.check_job_id(job_id)
        executions = tables.executions
        # Only these column objects can reach ORDER BY; sort_by is a key, never SQL.
        sort_columns: dict[str, ColumnElement[Any]] = {
            "start_time": executions.c.start_time,
            "end_time": executions.c.end_time,
            "duration": executions.c.duration,
        }
        column = sort_columns.get(options.sort_field)
        if column is None:  # validate() already refused it; never guess a column
            raise tickwork.InvalidQueryError(
                "sort_by", options.sort_by, f"must be one of {', '.join(sort_columns)} or None"
            )
        tie = executions.c.execution_id
        statement = select(executions).where(executions.c.job_id == job_id)
        if options.start_time is not None:
            statement = statement.where(executions.c.start_time >= options.start_time)
        if options.end_time is not None:
            statement = statement.where(executions.c.start_time < options.end_time)
        if options.status is not None:
            statement = statement.where(executions.c.status == options.status.value)
        if options.sort_desc:
            statement = statement.order_by(column.desc(), tie.desc())
        else:
            statement = statement.order_by(column.asc(), tie.asc())
        if options.offset:
            statement = statement.offset(options.offset)
        if options.limit is not None:
            statement = statement.limit(options.limit)
        rows = await self._fetch(f"list executions of job {job_id!r}", statement)
        return [_rows.execution_from_row(row) for row in rows]

    async def delete_executions(self, job_id: str | None, before: datetime) -> None:
        _, tables = self._ready()
        executions = tables.executions
        statement = delete(executions).where(executions.c.start_time < _utc(before))
        if job_id is not None:
            statement = statement.where(executions.c.job_id == _rows.check_job_id(job_id))
        whose = "every job" if job_id is None else f"job {job_id!r}"
        async with self._transaction(f"delete executions of {whose}") as conn:
            await conn.execute(statement)

    async def health_check(self) -> None:
        self._ready()
        try:
            async with self._transaction("answer SELECT 1") as conn:
                await conn.execute(select(1))
        except tickwork.StorageOperationError as exc:
            raise tickwork.StorageConnectionError(str(exc)) from exc.__cause__

    # -- claims (tickwork.abc.ClaimingStore) ------------------------------------------------

    async def claim_job(
        self, job_id: str, scheduled_at: datetime, owner: str, lease_until: datetime, now: datetime
    ) -> JobData | None:
        claims = self._prepared().claims
        _rows.check_job_id(job_id)
        _rows.check_owner(owner)
        request = ClaimRequest(job_id, _utc(scheduled_at), owner, _utc(lease_until), _utc(now))
        async with self._transaction(f"claim job {job_id!r}", read_committed=True) as conn:
            row = await claims.claim(conn, request)
        return None if row is None else _rows.job_from_row(row)

    async def renew_claim(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        claims = self._prepared().claims
        parameters = {
            "c_job_id": _rows.check_job_id(job_id),
            "c_owner": owner,
            "c_lease_until": _utc(lease_until),
        }
        async with self._transaction(f"renew the claim on job {job_id!r}") as conn:
            return bool((await conn.execute(claims.renew, parameters)).rowcount)

    async def release_claim(self, job_id: str, owner: str) -> None:
        claims = self._prepared().claims
        parameters = {"c_job_id": _rows.check_job_id(job_id), "c_owner": owner}
        async with self._transaction(f"release the claim on job {job_id!r}") as conn:
            await conn.execute(claims.release, parameters)

    async def list_jobs_changed_since(self, since: datetime) -> list[JobData]:
        _, tables = self._ready()
        jobs = tables.jobs
        rows = await self._fetch(
            "list changed jobs", select(jobs).where(jobs.c.updated_at >= _utc(since))
        )
        return _sorted_jobs(rows)


# -- helpers ---------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    return value.astimezone(UTC)


@contextlib.asynccontextmanager
async def _checked_out(engine: AsyncEngine, where: str) -> AsyncIterator[AsyncConnection]:
    """A pooled connection; failing to get one means the database is unreachable."""
    try:
        conn = await engine.connect()
    except Exception as exc:
        raise connection_error(exc, where) from exc
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):  # a dead connection is discarded anyway
            await conn.close()


@contextlib.asynccontextmanager
async def _statement_errors(action: str, where: str) -> AsyncIterator[None]:
    try:
        yield
    except tickwork.TickworkError:
        raise
    except Exception as exc:
        raise operation_error(exc, action, where) from exc


async def _write_executions(
    conn: AsyncConnection, statements: _Statements, rows: list[dict[str, Any]]
) -> None:
    """Insert or replace execution rows (one executemany upsert where the dialect has
    one, else update-then-insert row by row)."""
    if statements.upsert_execution is not None:
        await conn.execute(statements.upsert_execution, rows)
        return
    for row in rows:
        keyed = {"key_execution_id": row["execution_id"], **row}
        del keyed["execution_id"]
        result = await conn.execute(statements.update_execution, keyed)
        if result.rowcount == 0:
            await conn.execute(statements.insert_execution, row)


async def _existing_ids(conn: AsyncConnection, statement: Any, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are stored, looked up a bounded number at a time."""
    wanted = list(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), _IDS_PER_LOOKUP):
        chunk = wanted[start : start + _IDS_PER_LOOKUP]
        found.update((await conn.execute(statement, {"ids": chunk})).scalars())
    return found


def _sorted_jobs(rows: list[Mapping[str, Any]]) -> list[JobData]:
    # Sorted here rather than by ORDER BY: the database's collation (locale-aware on
    # many PostgreSQL installs) would disagree with Python's code-point order.
    return sorted((_rows.job_from_row(row) for row in rows), key=lambda job: job.id)


def _upsert(dialect: str, table: Table) -> Insert | None:
    """INSERT that replaces an existing row with the same primary key, per dialect; the
    values come as execution parameters."""
    changed = [column.name for column in table.columns if not column.primary_key]
    if dialect in ("postgresql", "sqlite"):
        statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        return statement.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={name: statement.excluded[name] for name in changed},
        )
    if dialect in ("mysql", "mariadb"):
        mysql_statement = mysql.insert(table)
        return mysql_statement.on_duplicate_key_update(
            {name: mysql_statement.inserted[name] for name in changed}
        )
    return None


def _missing_objects(conn: Connection, tables: Tables) -> set[str]:
    """Names of the tables and indexes the store needs and the database lacks."""
    inspector = inspect(conn)
    missing: set[str] = set()
    for table in (tables.jobs, tables.executions, tables.claims):
        if not inspector.has_table(table.name, schema=table.schema):
            missing.add(table.name)
            missing.update(str(index.name) for index in table.indexes)
            continue
        present = {index["name"] for index in inspector.get_indexes(table.name, table.schema)}
        missing.update(str(index.name) for index in table.indexes if index.name not in present)
    return missing


def _create_missing(conn: Connection, tables: Tables) -> None:
    """Create what is missing: whole tables, or the indexes an existing table lacks.

    Looking first and creating object by object keeps tables that another library (or
    an older tickwork) created, and adds only what they lack.
    """
    inspector = inspect(conn)
    for table in (tables.jobs, tables.executions, tables.claims):
        if not inspector.has_table(table.name, schema=table.schema):
            logger.info("creating table %s", table.name)
            table.create(conn)
            continue
        present = {index["name"] for index in inspector.get_indexes(table.name, table.schema)}
        for index in table.indexes:
            if index.name not in present:
                logger.info("creating index %s on %s", index.name, table.name)
                index.create(conn)


async def _warn_on_padded_ids(conn: AsyncConnection, tables: Tables, collation: str) -> None:
    """Tables made by GORM (or by hand) on MySQL usually compare ids case-insensitively;
    say so, since such a database merges ``Job`` into ``job``."""
    rows = await conn.execute(
        text(
            "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME IN :tables "
            "AND COLUMN_NAME IN ('id', 'job_id', 'execution_id')"
        ).bindparams(
            bindparam("tables", [tables.jobs.name, tables.executions.name], expanding=True),
            schema=tables.jobs.schema,
        )
    )
    for table_name, column, found in rows:
        if found != collation:
            logger.warning(
                "%s.%s uses collation %s: ids that differ in case or trailing spaces may "
                "be treated as the same job. Change it to compare ids exactly: ALTER TABLE "
                "%s MODIFY %s VARCHAR(255) CHARACTER SET utf8mb4 COLLATE %s NOT NULL",
                table_name,
                column,
                found,
                table_name,
                column,
                collation,
            )
    await conn.rollback()


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
