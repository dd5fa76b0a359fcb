"""The statements a SQL store runs on every call, built once per store.

Constructing an upsert costs more than SQLite takes to execute it, so each store builds
its statements once, for its dialect, and every call (and :mod:`._finish`) uses them.
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from ._claims import Claims
from ._schema import Tables, UTCDateTime, ids_in, job_columns

__all__ = ["Statements"]


class Statements:
    """The statements every call runs, built once per store: constructing an upsert
    costs more than SQLite takes to execute it."""

    def __init__(self, tables: Tables, dialect: str) -> None:
        jobs, executions = tables.jobs, tables.executions
        self.insert_job = jobs.insert()
        self.update_job = update(jobs).where(jobs.c.id == bindparam("key_id"))
        self.update_job_if = self.update_job.where(
            jobs.c.updated_at == bindparam("seen_updated_at", type_=UTCDateTime())
        )
        # Jobs are read by position, times unprocessed (see _rows.job_from_values).
        read_jobs = select(*job_columns(jobs, dialect))
        self.select_job = read_jobs.where(jobs.c.id == bindparam("key_id"))
        self.select_jobs = read_jobs
        self.select_jobs_by_status = read_jobs.where(jobs.c.status == bindparam("status"))
        self.select_changed_jobs = read_jobs.where(
            jobs.c.updated_at >= bindparam("since", type_=UTCDateTime())
        )
        self.select_due_jobs = read_jobs.where(
            jobs.c.next_run <= bindparam("until", type_=UTCDateTime())
        )
        self.upsert_execution = _upsert(dialect, executions)
        self.update_execution = update(executions).where(
            executions.c.execution_id == bindparam("key_execution_id")
        )
        self.insert_execution = executions.insert()
        ids = ids_in(jobs.c.id, dialect)
        self.select_job_ids = select(jobs.c.id).where(ids)
        # Locks the jobs that exist and reads their versions, so none of them can vanish
        # or change before the update that follows (save_runs and save_runs_if on
        # PostgreSQL and MySQL), in id order like every lock of several jobs (see
        # _claims), so that it cannot deadlock with a batch of claims.
        self.lock_job_versions = (
            select(jobs.c.id, jobs.c.updated_at).where(ids).order_by(jobs.c.id).with_for_update()
        )
        # MySQL only (see save_runs): rows that exist and are locked, so it only updates.
        self.upsert_existing_jobs = (
            _upsert(dialect, jobs) if dialect in ("mysql", "mariadb") else None
        )
        self.claims = Claims(tables, dialect)


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
