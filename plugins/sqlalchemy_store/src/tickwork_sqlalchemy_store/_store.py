"""The store itself: tickwork's Store protocol over SQLAlchemy.

Each method checks its input, then hands one synchronous function of a
:class:`~sqlalchemy.engine.Connection` to a runner (:mod:`._runners`), which runs it in
one transaction: through the asyncio engine for PostgreSQL and MySQL, in a thread of its
own for SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import tickwork
from tickwork import (
    ExecutionPage,
    ExecutionQuery,
    ExecutionRecord,
    FinishOutcome,
    InvalidQueryError,
    JobData,
    JobPage,
    JobQuery,
    JobStatus,
    QueryOptions,
    RunFinish,
)
from tickwork.abc import ChangedJobs

from . import _claims, _history, _job_writes, _queries, _rows, _run_writes, _workers
from ._change_channel import ChangeChannel
from ._engines import create_runner
from ._provisioning import not_found, prepare_schema
from ._runners import EngineRunner, Runner
from ._schema import ID_LENGTH, Tables
from ._statements import Statements
from ._urls import describe, is_memory_sqlite, schema_from_url, sqlite_file, to_async_url

__all__ = ["SQLAlchemyStore"]

logger = logging.getLogger("tickwork.sqlalchemy")

# Rows turned into JobData between two turns of the event loop (about 0.5 ms).
_ROWS_PER_SLICE = 200


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
        A server URL may give it as ``?schema=NAME`` instead (taken out of the URL, not
        passed to the driver); given both ways, they must agree.
    :param shared: whether several scheduler processes may use these tables at once.
        Schedulers on a shared store claim each due run in ``scheduler_claims`` before
        running it (so it runs once across all of them) and poll the store for jobs
        changed by the others. ``None`` (the default) decides from the database: true
        for every database another process can open (PostgreSQL, MySQL/MariaDB, a
        SQLite file), false for in-memory SQLite (``sqlite://``, ``:memory:``), which
        no other process can see. Pass ``False`` when you know one process is the only
        user, to skip the claim statements and the polling.
    :param push_changes: on PostgreSQL (asyncpg), tell the other schedulers of a job
        added, changed, paused or removed at once (LISTEN/NOTIFY), so they need not
        wait for their next poll (``signals_changes``). Pass ``False`` where LISTEN
        does not work, such as behind PgBouncer in transaction mode; the schedulers
        then poll. Other databases always poll.
    :param connect_timeout: seconds a connection attempt may take before
        :class:`tickwork.StorageConnectionError`; on SQLite, how long a write waits for
        another process to release the file. Ignored with ``engine``.
    :param engine_options: extra keywords for :func:`~sqlalchemy.ext.asyncio.create_async_engine`
        (``pool_size``, ``echo``, ...); for a SQLite URL with the default aiosqlite
        driver, for :func:`~sqlalchemy.create_engine`, since the store then drives
        ``sqlite3`` in a thread of its own. Ignored with ``engine``.
    :param create: whether :meth:`initialize` creates what is missing (the SQLite file,
        the tables, their indexes). ``False`` opens only an existing store, for callers
        that only read (``tickwork jobs list``, the source of ``tickwork migrate``): a
        missing file or table raises :class:`tickwork.StoreNotFoundError` and nothing is
        created; a missing index is left missing.
    :raises ValueError: neither or both of ``url`` and ``engine``, or a URL that is
        malformed, names a blocking driver, or (SQLite) has a query key the driver
        would ignore.
    :raises TypeError: ``engine`` is not an ``AsyncEngine``.
    """

    #: The longest job id the ``id`` columns hold (``VARCHAR(255)``, in characters), so
    #: that ``add_job`` refuses a longer one at once (:class:`tickwork.abc.IdLimitedStore`).
    max_id_length: int = ID_LENGTH

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        engine: AsyncEngine | None = None,
        schema: str | None = None,
        shared: bool | None = None,
        connect_timeout: float = 10.0,
        engine_options: Mapping[str, Any] | None = None,
        create: bool = True,
        push_changes: bool = True,
    ) -> None:
        if engine is not None and url is None:
            if not isinstance(engine, AsyncEngine):
                raise TypeError(
                    f"engine must be an sqlalchemy.ext.asyncio.AsyncEngine, got "
                    f"{type(engine).__name__}; build it with create_async_engine()"
                )
            self._url: URL = engine.url
        elif url is not None and engine is None:
            self._url, schema = schema_from_url(to_async_url(url), schema)
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
        self._create = bool(create)
        self._where = describe(self._url)
        #: Whether the store pushes job changes to other processes
        #: (:class:`tickwork.abc.ChangeSignalingStore`): PostgreSQL through asyncpg has
        #: LISTEN/NOTIFY; on MySQL/MariaDB and SQLite the schedulers poll.
        self.signals_changes: bool = (
            bool(push_changes)
            and self._url.get_backend_name() == "postgresql"
            and self._url.get_driver_name() == "asyncpg"
        )
        self._changes = ChangeChannel(schema, self._where)
        self._runner: Runner | None = None
        self._tables: Tables | None = None
        self._statements: Statements | None = None
        self._browse: _queries.BrowseStatements | None = None
        self._starting = asyncio.Lock()

    def __repr__(self) -> str:
        url = self._url.render_as_string(hide_password=True)
        schema = "" if self._schema is None else f", schema={self._schema!r}"
        return f"SQLAlchemyStore({url!r}{schema})"

    @property
    def url(self) -> URL:
        """The database URL (its ``str()`` hides the password)."""
        return self._url

    def id_too_long(self, job_id: str) -> str | None:
        """Why ``job_id`` does not fit the ``id`` columns, or None (``IdLimitedStore``)."""
        return _rows.id_too_long(job_id)

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> None:
        async with self._starting:
            if self._runner is None:
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
        if not self._create and path is not None and not path.is_file():
            # Checked before connecting: opening a missing file with sqlite3 creates it.
            raise not_found(self._where, "the file does not exist")
        runner = self._create_runner()
        try:
            tables = await self._prepare_schema(runner)
        except BaseException:
            await runner.close()
            raise
        self._tables = tables
        self._statements = Statements(tables, runner.dialect_name)
        self._browse = _queries.BrowseStatements(tables, runner.dialect_name)
        self._runner = runner
        logger.debug("store ready on %s", self._where)

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.close()

    def _create_runner(self) -> Runner:
        return create_runner(
            self._url, self._given_engine, self._where, self._connect_timeout, self._engine_options
        )

    async def _prepare_schema(self, runner: Runner) -> Tables:
        return await prepare_schema(runner, self._schema, self._where, create=self._create)

    # -- pushed changes ------------------------------------------------------------------

    async def signal_changes(self, job_ids: Collection[str] | None = None) -> None:
        await self._changes.signal(self._signaling_engine()[0], job_ids)

    @contextlib.asynccontextmanager
    async def listen_for_changes(self) -> AsyncIterator[AsyncIterator[ChangedJobs]]:
        async with self._changes.listen(self._signaling_engine()[1]) as signals:
            yield signals

    def _signaling_engine(self) -> tuple[Runner, AsyncEngine]:
        runner, _ = self._ready()
        if not self.signals_changes or not isinstance(runner, EngineRunner):
            raise tickwork.StorageOperationError(
                f"{self._where} does not push job changes (only PostgreSQL through asyncpg "
                "does, unless push_changes=False; check signals_changes before calling "
                "signal_changes() or listen_for_changes())"
            )
        return runner, runner.engine

    # -- plumbing ------------------------------------------------------------------------

    def _ready(self) -> tuple[Runner, Tables]:
        if self._runner is None or self._tables is None:
            raise tickwork.StorageNotInitializedError("SQLAlchemyStore")
        return self._runner, self._tables

    def _prepared(self) -> tuple[Runner, Statements]:
        if self._runner is None or self._statements is None:
            raise tickwork.StorageNotInitializedError("SQLAlchemyStore")
        return self._runner, self._statements

    async def _read_jobs(
        self, action: str, statement: Any, parameters: Mapping[str, Any] | None = None
    ) -> list[JobData]:
        """The jobs a SELECT of ``job_columns`` finds, sorted by id.

        The transaction only fetches the rows (tuples, never dicts); they become JobData
        here, a slice at a time with the event loop let go in between. A scheduler
        sharing the store lists about every job each second (the jobs it ran changed):
        converted in the store's thread, those rows held up the claims queued behind
        them for as long (6 ms for 1,000 jobs on SQLite), and converted in one go they
        would hold up the event loop's timers.
        """
        runner, _ = self._ready()

        def fetch(conn: Connection) -> list[tuple[Any, ...]]:
            # Plain tuples: a Row is two objects for the garbage collector to track
            # until the slices below are done, and a scheduler holding thousands of
            # jobs pays for each one in its next full collection.
            return [tuple(row) for row in conn.execute(statement, parameters)]

        rows = await runner.transaction(action, fetch)
        jobs: list[JobData] = []
        for start in range(0, len(rows), _ROWS_PER_SLICE):
            if start:
                await asyncio.sleep(0)
            jobs.extend(map(_rows.job_from_values, rows[start : start + _ROWS_PER_SLICE]))
        return _rows.sort_by_id(jobs)

    # -- jobs ----------------------------------------------------------------------------

    async def save_job(self, job: JobData) -> None:
        runner, statements = self._prepared()
        await _job_writes.insert_job(runner, statements, job)

    async def save_jobs(self, jobs: Sequence[JobData]) -> None:
        """Insert every job in one transaction (:class:`tickwork.abc.BulkStore`); see
        :func:`._job_writes.insert_jobs`."""
        runner, statements = self._prepared()
        await _job_writes.insert_jobs(runner, statements, jobs)

    async def update_job(self, job: JobData) -> None:
        runner, statements = self._prepared()
        await _job_writes.update_job(runner, statements, job)

    async def update_job_if(self, job: JobData, updated_at: datetime) -> bool:
        """Overwrite the job if its stored ``updated_at`` is still ``updated_at``
        (:class:`tickwork.abc.ConditionalUpdateStore`)."""
        runner, statements = self._prepared()
        return await _job_writes.update_job_if(runner, statements, job, updated_at)

    async def delete_job(self, job_id: str) -> None:
        runner, tables = self._ready()
        await _job_writes.delete_job(runner, tables, job_id)

    async def get_job(self, job_id: str) -> JobData:
        _, statements = self._prepared()
        _rows.check_job_id(job_id)
        found = await self._read_jobs(
            f"read job {job_id!r}", statements.select_job, {"key_id": job_id}
        )
        if not found:
            raise tickwork.JobDataNotFoundError(job_id)
        return found[0]

    async def list_jobs(self) -> list[JobData]:
        _, statements = self._prepared()
        return await self._read_jobs("list jobs", statements.select_jobs)

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobData]:
        """The stored jobs among ``job_ids``, by id; missing ones are left out
        (:class:`tickwork.abc.BatchClaimingStore`).

        One ``SELECT ... WHERE id IN (...)`` per 500 ids, in one transaction.
        """
        runner, statements = self._prepared()
        ids = [_rows.check_job_id(job_id) for job_id in job_ids]
        if not ids:
            return {}
        claims = statements.claims

        def read(conn: Connection) -> dict[str, JobData]:
            return claims.jobs(conn, ids)

        found = await runner.transaction(f"read {len(ids)} jobs", read)
        return {job_id: found[job_id] for job_id in sorted(found)}

    async def list_due_jobs(self, until: datetime) -> list[JobData]:
        """Jobs with ``next_run <= until``, by next_run then id
        (:class:`tickwork.abc.DueJobsStore`).

        The WHERE clause is a range scan of ``idx_scheduler_jobs_next_run``; the order
        is made here, like :meth:`list_jobs`'s, so ties sort by code point whatever the
        database's collation.
        """
        _, statements = self._prepared()
        jobs = await self._read_jobs(
            "list due jobs", statements.select_due_jobs, {"until": _rows.utc(until)}
        )
        # A Go-written "never" (year 1) matches in SQL but reads back as None; a row
        # that cannot be read is listed (first: it has no time to sort by).
        due = [job for job in jobs if job.next_run is not None or job.unreadable is not None]
        due.sort(key=_by_next_run)  # stable: ties stay in id order
        return due

    async def list_jobs_by_status(self, status: JobStatus) -> list[JobData]:
        _, statements = self._prepared()
        wanted = JobStatus(status)
        return await self._read_jobs(
            f"list {wanted.value} jobs", statements.select_jobs_by_status, {"status": wanted.value}
        )

    # -- executions ----------------------------------------------------------------------

    async def save_execution(self, record: ExecutionRecord) -> None:
        runner, statements = self._prepared()
        await _history.save_execution(runner, statements, record)

    async def save_runs(
        self, records: Sequence[ExecutionRecord], jobs: Sequence[JobData]
    ) -> set[str]:
        """Upsert ``records`` and update ``jobs`` in one transaction
        (:class:`tickwork.abc.BatchRunStore`); see :func:`._run_writes.save_runs`."""
        runner, statements = self._prepared()
        return await _run_writes.save_runs(runner, statements, records, jobs)

    async def save_runs_if(
        self,
        records: Sequence[ExecutionRecord],
        jobs: Sequence[JobData],
        seen: Mapping[str, datetime],
    ) -> tuple[set[str], set[str]]:
        """:meth:`save_runs`, each job in ``seen`` written only if its stored
        ``updated_at`` is still ``seen[id]`` (:class:`tickwork.abc.ConditionalBatchRunStore`);
        see :func:`._run_writes.save_runs_if`."""
        runner, statements = self._prepared()
        return await _run_writes.save_runs_if(runner, statements, records, jobs, seen)

    async def finish_runs(self, finishes: Sequence[RunFinish]) -> list[FinishOutcome]:
        """Save each finish's records, write its job and release its claim, in one
        transaction (:class:`tickwork.abc.FinishingStore`); see
        :func:`._run_writes.finish_runs`."""
        runner, statements = self._prepared()
        return await _run_writes.finish_runs(runner, statements, finishes)

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        runner, tables = self._ready()
        return await _history.read_execution(runner, tables, execution_id)

    async def list_executions(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        options = _history.checked_options(options)
        runner, tables = self._ready()
        return await _history.list_executions(runner, tables, job_id, options)

    async def delete_executions(self, job_id: str | None, before: datetime) -> None:
        runner, tables = self._ready()
        await _history.delete_executions(runner, tables, job_id, before)

    async def health_check(self) -> None:
        runner, _ = self._ready()

        def select_one(conn: Connection) -> None:
            conn.execute(select(1))

        try:
            await runner.transaction("answer SELECT 1", select_one)
        except tickwork.StorageOperationError as exc:
            raise tickwork.StorageConnectionError(str(exc)) from exc.__cause__

    # -- browsing (tickwork.abc.QueryableStore) --------------------------------------------

    def _browsing(self) -> tuple[Runner, _queries.BrowseStatements]:
        if self._runner is None or self._browse is None:
            raise tickwork.StorageNotInitializedError("SQLAlchemyStore")
        return self._runner, self._browse

    async def query_jobs(self, query: JobQuery) -> JobPage:
        """Filtered, sorted, counted and paged in SQL (see :mod:`._queries`)."""
        if not isinstance(query, JobQuery):
            raise InvalidQueryError("query", query, "must be a JobQuery")
        return await _queries.query_jobs(*self._browsing(), query)

    async def query_executions(self, query: ExecutionQuery) -> ExecutionPage:
        if not isinstance(query, ExecutionQuery):
            raise InvalidQueryError("query", query, "must be an ExecutionQuery")
        return await _queries.query_executions(*self._browsing(), query)

    async def latest_executions(
        self, job_ids: Sequence[str], per_job: int
    ) -> Mapping[str, Sequence[ExecutionRecord]]:
        """One ROW_NUMBER() query per 500 jobs."""
        tickwork.check_per_job(per_job)
        return await _queries.latest_executions(*self._browsing(), job_ids, per_job)

    async def count_executions_by_status(
        self, start_time: datetime, end_time: datetime | None = None
    ) -> Mapping[str, int]:
        tickwork.check_count_window(start_time, end_time)
        return await _queries.count_executions_by_status(*self._browsing(), start_time, end_time)

    # -- claims (tickwork.abc.ClaimingStore) ------------------------------------------------

    async def claim_job(
        self, job_id: str, scheduled_at: datetime, owner: str, lease_until: datetime, now: datetime
    ) -> JobData | None:
        runner, statements = self._prepared()
        return await _claims.claim_job(
            runner, statements.claims, job_id, scheduled_at, owner, lease_until, now
        )

    async def renew_claim(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        runner, statements = self._prepared()
        return await _claims.renew_claim(runner, statements.claims, job_id, owner, lease_until)

    async def release_claim(self, job_id: str, owner: str) -> None:
        runner, statements = self._prepared()
        await _claims.release_claim(runner, statements.claims, job_id, owner)

    async def list_jobs_changed_since(self, since: datetime) -> list[JobData]:
        _, statements = self._prepared()
        return await self._read_jobs(
            "list changed jobs", statements.select_changed_jobs, {"since": _rows.utc(since)}
        )

    # -- the schedulers sharing the store (tickwork.abc.WorkerRegistryStore) ---------------

    async def heartbeat(self, owner: str, expires_at: datetime, now: datetime) -> list[str]:
        """One transaction on ``scheduler_workers`` (see :mod:`._workers`).

        Not on SQLite: a file has one writer at a time, and a write a second from every
        process would wait on the runs' writes (and they on it). There each scheduler
        hears only itself, and claims every run, as without a registry.
        """
        runner, tables = self._ready()
        if runner.dialect_name == "sqlite":
            return [_rows.check_owner(owner)]
        return await _workers.heartbeat(runner, tables.workers, owner, expires_at, now)

    async def leave(self, owner: str) -> None:
        runner, tables = self._ready()
        if runner.dialect_name == "sqlite":
            return
        await _workers.leave(runner, tables.workers, owner)

    # -- claims in batches (tickwork.abc.BatchClaimingStore) ------------------------------

    async def claim_jobs(
        self,
        runs: Sequence[tuple[str, datetime]],
        owner: str,
        lease_until: datetime,
        now: datetime,
    ) -> dict[str, JobData]:
        """Claim each ``(job_id, scheduled_at)`` as :meth:`claim_job` would, each on its
        own, in one transaction; return the claimed jobs as stored, by id (see
        :func:`._claims.claim_jobs`)."""
        runner, statements = self._prepared()
        return await _claims.claim_jobs(runner, statements.claims, runs, owner, lease_until, now)

    async def release_claims(self, job_ids: Sequence[str], owner: str) -> None:
        """Drop ``owner``'s claims on ``job_ids`` in one statement per 500 ids (no error
        for a claim it does not hold)."""
        runner, statements = self._prepared()
        await _claims.release_claims(runner, statements.claims, job_ids, owner)


# -- helpers ---------------------------------------------------------------------------


def _by_next_run(job: JobData) -> datetime:
    return job.next_run or _UNREADABLE_FIRST


_UNREADABLE_FIRST = datetime.min.replace(tzinfo=UTC)
