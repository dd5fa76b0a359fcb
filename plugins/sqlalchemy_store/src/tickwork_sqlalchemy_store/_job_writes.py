"""Job writes: inserting, overwriting and deleting rows of ``scheduler_jobs``.

The store's job-writing methods delegate here; each function checks its input, then
runs one transaction through the store's runner. A duplicate or missing id becomes the
typed tickwork error that names it, never a driver's integrity error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

import tickwork
from tickwork import JobData

from . import _rows
from ._run_writes import existing_ids, keyed
from ._runners import Runner
from ._schema import Tables
from ._statements import Statements

__all__ = ["delete_job", "insert_job", "insert_jobs", "update_job", "update_job_if"]


async def insert_job(runner: Runner, statements: Statements, job: JobData) -> None:
    """Insert one job; :class:`tickwork.JobDataAlreadyExistsError` if its id is taken."""
    row = _rows.job_to_row(_rows.check_job(job))

    def insert(conn: Connection) -> None:
        try:
            conn.execute(statements.insert_job, row)
        except IntegrityError:
            raise tickwork.JobDataAlreadyExistsError(job.id) from None

    await runner.transaction(f"save job {job.id!r}", insert)


async def insert_jobs(runner: Runner, statements: Statements, jobs: Sequence[JobData]) -> None:
    """Insert every job in one transaction (:class:`tickwork.abc.BulkStore`).

    One executemany INSERT: each driver sends it its own fast way (SQLite reuses one
    prepared statement, asyncpg pipelines, aiomysql packs rows into multi-row
    INSERTs), and none of them hits a limit on bound parameters however many jobs
    there are; SQLAlchemy's multi-row ``VALUES`` was six to twelve times slower on
    all three. A duplicate key rolls everything back; only then is the offending id
    looked up, so the usual case costs nothing extra.
    """
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

    def insert(conn: Connection) -> None:
        try:
            conn.execute(statements.insert_job, rows)
        except IntegrityError:
            # Raised inside so the transaction rolls back; named below, once the
            # failed transaction (unusable on PostgreSQL) is gone.
            raise tickwork.JobDataAlreadyExistsError(rows[0]["id"]) from None

    try:
        await runner.transaction(f"save {len(rows)} jobs", insert)
    except tickwork.JobDataAlreadyExistsError:
        ids = [row["id"] for row in rows]

        def look_up(conn: Connection) -> set[str]:
            return existing_ids(conn, statements.select_job_ids, ids)

        stored = await runner.transaction("look up existing job ids", look_up)
        # The first of the caller's jobs that is stored; if none is any more (it was
        # deleted meanwhile), the first job stands for the batch.
        taken = next((job_id for job_id in ids if job_id in stored), ids[0])
        raise tickwork.JobDataAlreadyExistsError(taken) from None


async def update_job(runner: Runner, statements: Statements, job: JobData) -> None:
    """Overwrite one stored job; :class:`tickwork.JobDataNotFoundError` if it is gone."""
    row = keyed(_rows.job_to_row(_rows.check_job(job)))

    def update_one(conn: Connection) -> None:
        if conn.execute(statements.update_job, row).rowcount == 0:
            raise tickwork.JobDataNotFoundError(job.id)

    await runner.transaction(f"update job {job.id!r}", update_one)


async def update_job_if(
    runner: Runner, statements: Statements, job: JobData, updated_at: datetime
) -> bool:
    """Overwrite the job if its stored ``updated_at`` is still ``updated_at``
    (:class:`tickwork.abc.ConditionalUpdateStore`): one ``UPDATE ... WHERE id = ?
    AND updated_at = ?``, atomic in every database."""
    row = keyed(_rows.job_to_row(_rows.check_job(job)))
    row["seen_updated_at"] = updated_at

    def update_if(conn: Connection) -> bool:
        if conn.execute(statements.update_job_if, row).rowcount == 1:
            return True
        if conn.execute(statements.select_job_ids, {"ids": [job.id]}).first() is None:
            raise tickwork.JobDataNotFoundError(job.id)
        return False

    return await runner.transaction(f"update job {job.id!r} if unchanged", update_if)


async def delete_job(runner: Runner, tables: Tables, job_id: str) -> None:
    """Delete one job and its claim; :class:`tickwork.JobDataNotFoundError` if it is gone."""
    _rows.check_job_id(job_id)
    jobs = tables.jobs
    claims = tables.claims

    def delete_one(conn: Connection) -> None:
        if conn.execute(delete(jobs).where(jobs.c.id == job_id)).rowcount == 0:
            raise tickwork.JobDataNotFoundError(job_id)
        conn.execute(delete(claims).where(claims.c.job_id == job_id))

    await runner.transaction(f"delete job {job_id!r}", delete_one, read_committed=True)
