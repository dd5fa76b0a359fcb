"""Run writes: what save_runs, save_runs_if and finish_runs do.

Kept apart from the store so that the per-dialect ways of writing a batch of execution
records and jobs (executemany upserts, locking in id order, SQLite's row counts) read
as one piece. The async functions run one transaction each through the store's runner;
the others run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from tickwork import ExecutionRecord, FinishOutcome, JobData, RunFinish

from . import _rows
from ._finish import Finishing
from ._runners import Runner
from ._schema import chunks
from ._statements import Statements

__all__ = [
    "existing_ids",
    "finish_runs",
    "keyed",
    "lock_then_update",
    "run_rows",
    "save_runs",
    "save_runs_if",
    "update_then_check",
    "write_executions",
]


def write_executions(conn: Connection, statements: Statements, rows: list[dict[str, Any]]) -> None:
    """Insert or replace execution rows (one executemany upsert where the dialect has
    one, else update-then-insert row by row)."""
    if statements.upsert_execution is not None:
        conn.execute(statements.upsert_execution, rows)
        return
    for row in rows:
        keyed = {"key_execution_id": row["execution_id"], **row}
        del keyed["execution_id"]
        if conn.execute(statements.update_execution, keyed).rowcount == 0:
            conn.execute(statements.insert_execution, row)


def keyed(row: dict[str, Any]) -> dict[str, Any]:
    """A job row as the parameters of ``update_job`` (its id bound as ``key_id``)."""
    row["key_id"] = row.pop("id")
    return row


def run_rows(
    records: Sequence[ExecutionRecord], jobs: Sequence[JobData]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The checked rows of a batch of run writes: records by execution id, jobs by id.

    The last of two records (or jobs) with one id wins, as with single writes made in
    turn (and PostgreSQL refuses an upsert that touches one row twice).
    """
    record_rows: dict[str, dict[str, Any]] = {}
    for record in records:
        row = _rows.execution_to_row(_rows.check_execution(record))
        record_rows[row["execution_id"]] = row
    job_rows: dict[str, dict[str, Any]] = {}
    for job in jobs:
        job_rows[job.id] = _rows.job_to_row(_rows.check_job(job))
    return record_rows, job_rows


def versions(conn: Connection, statement: Any, ids: list[str]) -> dict[str, datetime]:
    """The stored ``updated_at`` of each of ``ids`` that exists."""
    found: dict[str, datetime] = {}
    for chunk in chunks(ids):
        found.update((job_id, at) for job_id, at in conn.execute(statement, {"ids": chunk}))
    return found


def lock_then_update(
    conn: Connection,
    statements: Statements,
    job_rows: dict[str, dict[str, Any]],
    ids: list[str],
    conditional: Mapping[str, datetime],
) -> tuple[set[str], set[str]]:
    """The jobs of save_runs_if (and of save_runs, with nothing ``conditional``) on
    PostgreSQL and MySQL: lock the rows that exist in id order, compare the versions,
    write the rest; the ids missing and the ids changed since."""
    stored = versions(conn, statements.lock_job_versions, ids)
    changed = {
        job_id for job_id, at in conditional.items() if job_id in stored and stored[job_id] != at
    }
    present = [job_id for job_id in ids if job_id in stored and job_id not in changed]
    if present:
        if statements.upsert_existing_jobs is not None:
            conn.execute(statements.upsert_existing_jobs, [job_rows[job_id] for job_id in present])
        else:
            conn.execute(
                statements.update_job, [keyed(dict(job_rows[job_id])) for job_id in present]
            )
    return set(ids) - stored.keys(), changed


def update_then_check(
    conn: Connection,
    statements: Statements,
    job_rows: dict[str, dict[str, Any]],
    ids: list[str],
    conditional: Mapping[str, datetime],
) -> tuple[set[str], set[str]]:
    """save_runs_if's jobs on SQLite: the UPDATEs first (the first takes the write lock),
    then a look-up of the jobs not written. Each conditional UPDATE is a statement of
    its own, whose row count says whether that job was written: in-process, a statement
    costs microseconds."""
    missing: set[str] = set()
    plain = [keyed(dict(job_rows[job_id])) for job_id in ids if job_id not in conditional]
    if plain:
        count = conn.execute(statements.update_job, plain).rowcount
        if not conn.dialect.supports_sane_multi_rowcount or count != len(plain):
            plain_ids = [row["key_id"] for row in plain]
            missing = set(plain_ids) - existing_ids(conn, statements.select_job_ids, plain_ids)
    lost: list[str] = []
    for job_id, at in conditional.items():
        row = {**keyed(dict(job_rows[job_id])), "seen_updated_at": at}
        if conn.execute(statements.update_job_if, row).rowcount != 1:
            lost.append(job_id)
    if not lost:
        return missing, set()
    present = existing_ids(conn, statements.select_job_ids, lost)
    return missing | (set(lost) - present), present


def existing_ids(conn: Connection, statement: Any, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are stored, looked up a bounded number at a time."""
    found: set[str] = set()
    for chunk in chunks(list(ids)):
        found.update(conn.execute(statement, {"ids": chunk}).scalars())
    return found


async def save_runs(
    runner: Runner,
    statements: Statements,
    records: Sequence[ExecutionRecord],
    jobs: Sequence[JobData],
) -> set[str]:
    """Upsert ``records`` and update ``jobs`` in one transaction
    (:class:`tickwork.abc.BatchRunStore`); return the ids of the jobs not stored.

    The records are one executemany upsert. How the jobs are written, and how the
    missing ones are found, follows what each driver does with executemany:

    - SQLite reports the total row count: one UPDATE, and only when the count falls
      short a look-up names the missing jobs (the UPDATE holds the database's write
      lock, so the look-up sees what it saw).
    - asyncpg reports no count, but pipelines the UPDATE: the jobs that exist are
      selected ``FOR UPDATE`` first (so none can vanish), and only they are updated.
    - aiomysql sends an executemany UPDATE as one round trip per row, but packs an
      INSERT into multi-row statements: the jobs that exist are selected
      ``FOR UPDATE``, then written with ``INSERT ... ON DUPLICATE KEY UPDATE``, which
      only ever updates since every row exists and is locked (three times faster
      than the UPDATE on MariaDB for batches of 100).

    Jobs are written in id order, so two processes writing overlapping batches lock
    rows in the same order.
    """
    record_rows, job_rows = run_rows(records, jobs)
    if not record_rows and not job_rows:
        return set()
    ids = sorted(job_rows)

    def write(conn: Connection) -> set[str]:
        if record_rows:
            write_executions(conn, statements, list(record_rows.values()))
        if not ids:
            return set()
        if statements.upsert_existing_jobs is None and conn.dialect.supports_sane_multi_rowcount:
            updates = [keyed(job_rows[job_id]) for job_id in ids]
            if conn.execute(statements.update_job, updates).rowcount == len(updates):
                return set()
            return set(ids) - existing_ids(conn, statements.select_job_ids, ids)
        missing, _ = lock_then_update(conn, statements, job_rows, ids, {})
        return missing

    action = f"save {len(record_rows)} execution records and {len(ids)} jobs"
    return await runner.transaction(action, write)


async def save_runs_if(
    runner: Runner,
    statements: Statements,
    records: Sequence[ExecutionRecord],
    jobs: Sequence[JobData],
    seen: Mapping[str, datetime],
) -> tuple[set[str], set[str]]:
    """:func:`save_runs`, each job in ``seen`` written only if its stored
    ``updated_at`` is still ``seen[id]`` (:class:`tickwork.abc.ConditionalBatchRunStore`);
    return the ids of the missing jobs and of the jobs changed since.

    PostgreSQL and MySQL/MariaDB lock the jobs' rows in id order and read their
    versions first, then write the jobs whose version matches (as ``save_runs``
    writes them). SQLite has no row locks: the UPDATEs go first, the conditional
    ones with the version in their WHERE, and the database's write lock, which the
    first one takes, is held while the jobs not written are looked up.
    """
    record_rows, job_rows = run_rows(records, jobs)
    if not record_rows and not job_rows:
        return set(), set()
    ids = sorted(job_rows)
    conditional = {job_id: seen[job_id] for job_id in ids if job_id in seen}

    def write(conn: Connection) -> tuple[set[str], set[str]]:
        if record_rows:
            write_executions(conn, statements, list(record_rows.values()))
        if not ids:
            return set(), set()
        if conn.dialect.name == "sqlite":
            return update_then_check(conn, statements, job_rows, ids, conditional)
        return lock_then_update(conn, statements, job_rows, ids, conditional)

    action = f"save {len(record_rows)} execution records and {len(ids)} jobs if unchanged"
    return await runner.transaction(action, write)


async def finish_runs(
    runner: Runner, statements: Statements, finishes: Sequence[RunFinish]
) -> list[FinishOutcome]:
    """Save each finish's records, write its job (on condition of ``seen``) and
    release its claim, in one transaction (:class:`tickwork.abc.FinishingStore`):
    one upsert of every record, the jobs as :func:`save_runs_if` writes them and one
    DELETE of the claims per owner (see :mod:`._finish`)."""
    finishing = Finishing(finishes)
    if not finishing.steps:
        return []
    record_rows = list(finishing.records.values())

    def finish(conn: Connection) -> list[FinishOutcome]:
        if record_rows:
            write_executions(conn, statements, record_rows)
        return finishing.apply(conn, statements)

    return await runner.transaction(finishing.describe(), finish, read_committed=True)
