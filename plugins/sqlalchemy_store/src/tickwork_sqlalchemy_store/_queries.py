"""Browsing in SQL (:class:`tickwork.abc.QueryableStore`): filters, order, paging and
counts run in the database, so a page of 10,000 jobs or of 100,000 records costs one
page of rows and a COUNT, never the whole table in Python.

Every page must be the one :func:`tickwork.apply_job_query` cuts, on SQLite,
PostgreSQL and MySQL/MariaDB alike, which takes care where the dialects differ:

- Ids (and statuses) sort by code point, as Python sorts strings: PostgreSQL compares
  them under ``COLLATE "C"`` (its default collation may follow a locale); SQLite's
  ``BINARY`` and MariaDB's binary id collation already do.
- Jobs without a ``next_run``/``last_run`` go last in ascending order and first in
  descending order, ordered by a flag rather than by each dialect's NULL placement; the
  Go library's "never" (year 1) counts as no time, as it reads back as None.
- ``search`` is a LIKE with the user's text escaped (``%``, ``_`` and the escape
  character ``/``) and bound as a parameter, over the id with ASCII letters lowered
  (:func:`tickwork.fold_case` is the rule); MariaDB's ``LOWER`` folds all of Unicode,
  so there the letters A-Z are replaced one by one.
- ``task`` is read from the metadata JSON with the dialect's JSON functions, the key
  and the name bound as parameters, and compared exactly. A row whose metadata is not
  JSON must not fail the whole query: SQLite and MySQL/MariaDB ask ``json_valid``
  first (MySQL's JSON functions raise on such text), and PostgreSQL 15, which has no
  error-free cast, parses only metadata shaped like a flat JSON object of strings
  (all tickwork and the Go library write) and only in rows whose text holds the name
  as either of them encodes it (a LIKE, so the slow shape check runs on few rows).
- ``latest_executions`` numbers each job's records with ROW_NUMBER(); on SQLite the
  numbering is bounded by the job's ``per_job``-th newest start (see ``_recent``).

Only column objects picked here from fixed tables of keys reach ORDER BY; nothing a
caller gives becomes SQL text. The queries only read: they create nothing.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    LargeBinary,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

import tickwork
from tickwork import (
    ExecutionPage,
    ExecutionQuery,
    ExecutionRecord,
    JobPage,
    JobQuery,
    check_count_window,
    check_per_job,
    fold_case,
)

from . import _rows
from ._runners import Runner
from ._schema import Tables, chunks, ids_in, job_columns, run_time_order

__all__ = ["BrowseStatements", "like_pattern"]

#: The escape character of ``search`` patterns (no dialect treats it specially).
ESCAPE = "/"
_MYSQL = ("mysql", "mariadb")
#: The metadata key naming a job's task.
TASK_METADATA_KEY = "tickwork.task"

# A flat JSON object of strings, the only metadata PostgreSQL is asked to parse (see
# the module docstring). Escapes of NUL and of surrogates are left out: PostgreSQL's
# JSON parser refuses some of them, and neither library writes them.
_JSON_STRING = r'"(?:[^"\\\x01-\x1f]|\\(?:["\\/bfnrt]|u(?![dD][89a-fA-F]|0000)[0-9a-fA-F]{4}))*"'
_PAIR = rf"{_JSON_STRING}\s*:\s*{_JSON_STRING}"
_FLAT_JSON_OBJECT = rf"^\s*\{{\s*(?:{_PAIR}\s*(?:,\s*{_PAIR}\s*)*)?\}}\s*$"


def _contains(text: str) -> str:
    """A LIKE pattern (escape ``/``) for text that contains ``text`` as it is."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%")
    return "%" + escaped.replace("_", ESCAPE + "_") + "%"


# What Go's encoding/json escapes beyond what Python's json (ensure_ascii=False) does.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
    "\b": "\\u0008",
    "\f": "\\u000c",
}


def _json_forms(text: str) -> set[str]:
    """``text`` as a JSON string, as tickwork writes it and as the Go library does."""
    python = json.dumps(text, ensure_ascii=False)
    pieces = [_GO_ESCAPES.get(char) or json.dumps(char, ensure_ascii=False)[1:-1] for char in text]
    return {python, '"' + "".join(pieces) + '"'}


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``/``) matching ids that contain ``text``
    after :func:`tickwork.fold_case`, every character of it taken literally."""
    return _contains(fold_case(text))


class BrowseStatements:
    """The pieces of the browsing statements for one store's tables and dialect."""

    def __init__(self, tables: Tables, dialect: str) -> None:
        self._tables = tables
        self._dialect = dialect
        jobs = tables.jobs
        self._job_columns = job_columns(jobs, dialect)
        self._folded_id = self._fold(jobs.c.id)
        self._task = self._task_of(jobs.c.metadata)

    def can_match(self, *texts: str | None, search: str | None = None) -> bool:
        """Whether stored text could equal each of ``texts`` and contain ``search``.

        PostgreSQL holds no NUL character in text (and refuses one in a parameter),
        and SQLite's LIKE ends a pattern at one, so a query with one matches nothing
        there rather than failing or matching everything.
        """
        if self._dialect == "sqlite":
            return not (search and "\x00" in search)
        if self._dialect != "postgresql":
            return True
        return not any(text and "\x00" in text for text in (*texts, search))

    def exact(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """``column`` compared by code point (see the module docstring)."""
        return column.collate("C") if self._dialect == "postgresql" else column

    def _fold(self, column: ColumnElement[str]) -> ColumnElement[str]:
        if self._dialect in _MYSQL:
            folded: ColumnElement[str] = column
            for letter in string.ascii_uppercase:
                folded = func.replace(folded, letter, letter.lower())
            return folded
        return func.lower(self.exact(column))

    def _task_of(self, metadata: ColumnElement[Any]) -> ColumnElement[Any]:
        if self._dialect == "postgresql":
            parsed = cast(metadata, postgresql.JSON)[TASK_METADATA_KEY].astext
            return case((metadata.regexp_match(_FLAT_JSON_OBJECT), parsed), else_=null())
        extracted = type_coerce(metadata, JSON)[TASK_METADATA_KEY].as_string()
        return case((func.json_valid(metadata) == 1, extracted), else_=null())

    def task_is(self, task: str) -> ColumnElement[bool]:
        if self._dialect in _MYSQL:  # byte for byte, whatever the connection's collation
            return cast(self._task, LargeBinary) == cast(literal(task, String()), LargeBinary)
        if self._dialect == "postgresql":
            # Checking the shape of every row's metadata is slow in PostgreSQL's regex
            # engine (70 ms for 10,000 jobs); a LIKE for the name as JSON text keeps
            # the few rows that can match, written by tickwork or by Go's encoder.
            metadata = self._tables.jobs.c.metadata
            near = [metadata.like(_contains(form), escape=ESCAPE) for form in _json_forms(task)]
            return and_(or_(*near), self._task == task)
        return self._task == task

    def job_filters(self, query: JobQuery) -> list[ColumnElement[bool]]:
        jobs = self._tables.jobs
        where: list[ColumnElement[bool]] = []
        if query.status is not None:
            where.append(jobs.c.status == query.status.value)
        if query.task is not None:
            where.append(self.task_is(query.task))
        if query.search is not None:
            where.append(self._folded_id.like(like_pattern(query.search), escape=ESCAPE))
        return where

    def job_order(self, query: JobQuery) -> list[ColumnElement[Any]]:
        jobs = self._tables.jobs
        keys: list[ColumnElement[Any]] = []
        field = query.sort_by
        if field in ("next_run", "last_run"):
            keys += run_time_order(jobs.c[field], self._dialect)
        elif field == "status":
            keys.append(self.exact(jobs.c.status))
        elif field in ("created_at", "updated_at"):
            keys.append(jobs.c[field])
        elif field != "id":  # JobQuery refused it already; never guess a column
            raise tickwork.InvalidQueryError("sort_by", field, "not a job sort field")
        keys.append(self.exact(jobs.c.id))
        return [key.desc() if query.sort_desc else key.asc() for key in keys]

    def jobs_page(self, query: JobQuery) -> tuple[Select[Any], Select[Any]]:
        """The page's SELECT (JOB_FIELDS order) and the COUNT of every match.

        The ids of the page are picked first, sorting only the sort keys, and the
        whole rows joined to them: sorting 10,000 whole rows (metadata and all) to
        keep 50 took most of a deep page's time.
        """
        jobs, where = self._tables.jobs, self.job_filters(query)
        order = self.job_order(query)
        ids = (
            select(jobs.c.id.label("page_id"))
            .where(*where)
            .order_by(*order)
            .offset(query.offset)
            .limit(query.limit)
            .subquery()
        )
        page = select(*self._job_columns).join(ids, ids.c.page_id == jobs.c.id).order_by(*order)
        return page, select(func.count()).select_from(jobs).where(*where)

    def executions_page(self, query: ExecutionQuery) -> tuple[Select[Any], Select[Any]]:
        """The page's SELECT of whole records and the COUNT of every match."""
        executions = self._tables.executions
        where: list[ColumnElement[bool]] = []
        if query.job_id is not None:
            where.append(executions.c.job_id == query.job_id)
        if query.start_time is not None:
            where.append(executions.c.start_time >= query.start_time)
        if query.end_time is not None:
            where.append(executions.c.start_time < query.end_time)
        if query.status is not None:
            where.append(executions.c.status == query.status.value)
        sort_columns = {name: executions.c[name] for name in ("start_time", "end_time", "duration")}
        keys = [sort_columns[query.sort_by], self.exact(executions.c.execution_id)]
        page = (
            select(executions)
            .where(*where)
            .order_by(*(key.desc() if query.sort_desc else key.asc() for key in keys))
            .offset(query.offset)
            .limit(query.limit)
        )
        return page, select(func.count()).select_from(executions).where(*where)

    def latest(self, per_job: int) -> Select[Any]:
        """The ``per_job`` newest records of each job in the bound list ``ids``: one
        ROW_NUMBER() over each job's records, newest first.

        The numbering reads only ``(job_id, start_time, execution_id)``, which the
        history index holds, and the whole rows are joined to the few it keeps: a job
        with 100,000 records then costs an index scan, not 100,000 rows read.
        """
        executions = self._tables.executions
        rank = (
            func.row_number()
            .over(
                partition_by=executions.c.job_id,
                order_by=(
                    executions.c.start_time.desc(),
                    self.exact(executions.c.execution_id).desc(),
                ),
            )
            .label("rank")
        )
        ranked = (
            select(executions.c.execution_id, rank)
            .where(ids_in(executions.c.job_id, self._dialect), *self._recent(per_job))
            .subquery()
        )
        return (
            select(executions)
            .join(ranked, ranked.c.execution_id == executions.c.execution_id)
            .where(ranked.c.rank <= per_job)
            .order_by(ranked.c.rank)
        )

    @property
    def per_job_reads(self) -> bool:
        """Whether :meth:`latest_of_one` per job beats one :meth:`latest` for all.

        On SQLite, with several jobs in the list, the planner stops using the per-job
        bound of :meth:`_recent` and numbers every record of a long history (108 ms for
        50 jobs, one of them with 100,000 records, against 5 ms without it); one
        ``ORDER BY ... LIMIT`` per job is a short range of the history index each, and
        all of them run in the one transaction, in the store's own thread.
        """
        return self._dialect == "sqlite"

    def latest_of_one(self, per_job: int) -> Select[Any]:
        """The ``per_job`` newest records of the job bound as ``job_id``."""
        executions = self._tables.executions
        return (
            select(executions)
            .where(executions.c.job_id == bindparam("job_id"))
            .order_by(executions.c.start_time.desc(), self.exact(executions.c.execution_id).desc())
            .limit(per_job)
        )

    def _recent(self, per_job: int) -> list[ColumnElement[bool]]:
        """On SQLite, only the records at or after the job's ``per_job``-th newest start.

        SQLite numbers every row of a partition (90 ms for a job with 100,000 records);
        given this bound, which it looks up once per job and uses as the range of the
        history index, it numbers about ``per_job`` rows. PostgreSQL stops numbering by
        itself (a run condition) and would instead run the lookup for every row.
        """
        if self._dialect != "sqlite":
            return []
        executions = self._tables.executions
        newer = executions.alias("newer")
        cutoff = (
            select(newer.c.start_time)
            .where(newer.c.job_id == executions.c.job_id)
            .order_by(newer.c.start_time.desc())
            .limit(1)
            .offset(per_job - 1)
            .scalar_subquery()
        )
        # Fewer records than per_job: no cutoff (text sorts after '').
        return [executions.c.start_time >= func.coalesce(cutoff, literal_column("''"))]

    def counts(self, start: datetime, end: datetime | None) -> Select[Any]:
        """Records starting in ``[start, end)`` by status: a range of the index on
        ``(start_time, execution_id, status)``, which reads no row."""
        executions = self._tables.executions
        status: ColumnElement[Any] = executions.c.status
        if self._dialect == "sqlite":
            # Without statistics SQLite would rather read the whole status index, in
            # GROUP BY order, than a range of the start-time index and sort the few
            # rows: grouping by an expression the status index cannot give avoids that.
            status = status.op("||")(literal_column("''"))
        statement = select(status, func.count()).where(executions.c.start_time >= start)
        if end is not None:
            statement = statement.where(executions.c.start_time < end)
        return statement.group_by(status)


async def query_jobs(runner: Runner, browse: BrowseStatements, query: JobQuery) -> JobPage:
    """One page of jobs and the number of matches, in one transaction."""
    if not browse.can_match(query.task, search=query.search):
        return JobPage(jobs=(), total=0)
    page, count = browse.jobs_page(query)

    def read(conn: Connection) -> tuple[list[tuple[Any, ...]], int]:
        rows = [tuple(row) for row in conn.execute(page)] if query.limit else []
        return rows, int(conn.execute(count).scalar_one())

    rows, total = await runner.transaction("query jobs", read)
    return JobPage(jobs=tuple(map(_rows.job_from_values, rows)), total=total)


async def query_executions(
    runner: Runner, browse: BrowseStatements, query: ExecutionQuery
) -> ExecutionPage:
    """One page of records and the number of matches, in one transaction."""
    if not browse.can_match(query.job_id):
        return ExecutionPage(records=(), total=0)
    page, count = browse.executions_page(query)

    def read(conn: Connection) -> tuple[list[dict[str, Any]], int]:
        rows = [dict(row) for row in conn.execute(page).mappings()] if query.limit else []
        return rows, int(conn.execute(count).scalar_one())

    whose = "every job" if query.job_id is None else f"job {query.job_id!r}"
    rows, total = await runner.transaction(f"query executions of {whose}", read)
    return ExecutionPage(records=tuple(map(_rows.execution_from_row, rows)), total=total)


async def latest_executions(
    runner: Runner, browse: BrowseStatements, job_ids: Sequence[str], per_job: int
) -> Mapping[str, Sequence[ExecutionRecord]]:
    """The newest records of each job, one statement per 500 ids."""
    check_per_job(per_job)
    ids = [
        job_id
        for job_id in dict.fromkeys(_rows.check_job_id(job_id) for job_id in job_ids)
        if browse.can_match(job_id)
    ]
    if not ids or not per_job:
        return {}
    statement = browse.latest(per_job)
    one = browse.latest_of_one(per_job) if browse.per_job_reads else None

    def read(conn: Connection) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if one is not None:
            for job_id in ids:
                found.extend(dict(row) for row in conn.execute(one, {"job_id": job_id}).mappings())
            return found
        for chunk in chunks(ids):
            found.extend(dict(row) for row in conn.execute(statement, {"ids": chunk}).mappings())
        return found

    rows = await runner.transaction(f"read the latest executions of {len(ids)} jobs", read)
    out: dict[str, list[ExecutionRecord]] = {}
    for row in rows:  # in rank order: each job's newest first
        record = _rows.execution_from_row(row)
        out.setdefault(record.job_id, []).append(record)
    return out


async def count_executions_by_status(
    runner: Runner, browse: BrowseStatements, start_time: datetime, end_time: datetime | None
) -> Mapping[str, int]:
    """How many records start in the window, by status (GROUP BY)."""
    start, end = check_count_window(start_time, end_time)
    statement = browse.counts(start, end)

    def read(conn: Connection) -> dict[str, int]:
        return {str(status): int(n) for status, n in conn.execute(statement)}

    return await runner.transaction("count executions by status", read)
