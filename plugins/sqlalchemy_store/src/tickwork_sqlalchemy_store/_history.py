"""Execution history: the reads and writes of ``scheduler_executions``.

The store's execution methods delegate here, so the history's statements sit apart from
the jobs and claims. ``list_executions`` is built from :class:`tickwork.QueryOptions`:
only column objects chosen here from a fixed table of keys reach ORDER BY, so nothing a
caller gives becomes SQL text; the rest of the options become bound parameters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, select
from sqlalchemy.engine import Connection

import tickwork
from tickwork import ExecutionRecord, QueryOptions

from . import _rows
from ._run_writes import write_executions
from ._runners import Runner
from ._schema import Tables
from ._statements import Statements

__all__ = [
    "checked_options",
    "delete_executions",
    "list_executions",
    "read_execution",
    "save_execution",
]


async def save_execution(runner: Runner, statements: Statements, record: ExecutionRecord) -> None:
    """Insert or replace one execution record."""
    row = _rows.execution_to_row(_rows.check_execution(record))

    def write(conn: Connection) -> None:
        write_executions(conn, statements, [row])

    await runner.transaction(f"save execution {record.execution_id!r}", write)


async def read_execution(runner: Runner, tables: Tables, execution_id: str) -> ExecutionRecord:
    """The record of ``execution_id``, or :class:`tickwork.ExecutionNotFoundError`."""
    if not isinstance(execution_id, str) or not execution_id:
        raise tickwork.ExecutionNotFoundError(execution_id)
    executions = tables.executions
    rows = await _fetch(
        runner,
        f"read execution {execution_id!r}",
        select(executions).where(executions.c.execution_id == execution_id),
    )
    if not rows:
        raise tickwork.ExecutionNotFoundError(execution_id)
    return _rows.execution_from_row(rows[0])


def checked_options(options: QueryOptions | None) -> QueryOptions:
    """``options`` validated (``None`` means the defaults); checked before the store's
    state, so bad options are reported even on a store not yet initialized."""
    if options is None:
        options = QueryOptions()
    elif not isinstance(options, QueryOptions):
        raise tickwork.InvalidQueryError("options", options, "must be a QueryOptions or None")
    options.validate()
    return options


async def list_executions(
    runner: Runner, tables: Tables, job_id: str, options: QueryOptions
) -> list[ExecutionRecord]:
    """The records of ``job_id`` that ``options`` (from :func:`checked_options`)
    selects, in its order."""
    _rows.check_job_id(job_id)
    statement = _executions_query(tables, job_id, options)
    rows = await _fetch(runner, f"list executions of job {job_id!r}", statement)
    return [_rows.execution_from_row(row) for row in rows]


async def delete_executions(
    runner: Runner, tables: Tables, job_id: str | None, before: datetime
) -> None:
    """Delete the records started before ``before``, of ``job_id`` or of every job."""
    executions = tables.executions
    statement = delete(executions).where(executions.c.start_time < _rows.utc(before))
    if job_id is not None:
        statement = statement.where(executions.c.job_id == _rows.check_job_id(job_id))
    whose = "every job" if job_id is None else f"job {job_id!r}"

    def delete_some(conn: Connection) -> None:
        conn.execute(statement)

    await runner.transaction(f"delete executions of {whose}", delete_some)


async def _fetch(runner: Runner, action: str, statement: Any) -> list[dict[str, Any]]:
    def fetch(conn: Connection) -> list[dict[str, Any]]:
        return [dict(row) for row in conn.execute(statement).mappings()]

    return await runner.transaction(action, fetch)


def _executions_query(tables: Tables, job_id: str, options: QueryOptions) -> Select[Any]:
    """The executions of ``job_id`` that ``options`` (already validated) selects, in
    its order with ties broken by execution id, sliced by its offset and limit."""
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
    return statement
