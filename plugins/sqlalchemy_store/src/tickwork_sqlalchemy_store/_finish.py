"""Finishing runs (:class:`tickwork.abc.FinishingStore`): each run's records, its job's
new state on condition of the version its claim handed back, and the release of its
claim, for a whole batch of runs in one transaction.

A run on a shared database used to cost a transaction for each of these (and a re-read
of the job); here one call costs a handful of statements whatever the batch holds:

1. the records, one executemany upsert (as ``save_runs``);
2. the jobs, as ``save_runs_if`` writes them: PostgreSQL and MySQL/MariaDB lock the
   rows of the batch's jobs in id order and read their versions (one ``SELECT ... FOR
   UPDATE`` per 500 ids), the outcomes are worked out here, finish by finish, and the
   jobs written in one executemany. SQLite has no row locks: the UPDATEs go first (the
   first write of the transaction takes the database's write lock), the conditional
   ones one statement each with the version in their WHERE, and one look-up tells the
   jobs that were not written apart: missing, or changed;
3. the claims to release, one ``DELETE ... WHERE owner = ? AND job_id IN (...)`` per
   owner (one, in a scheduler) and 500 ids.

Locks are taken in the order every other batch takes them (job rows, in id order, then
claim rows, in id order), so a finish cannot deadlock with a batch of claims on
PostgreSQL; InnoDB's rare deadlock victim is run again by the runner. That is also why
the work below never changes the :class:`Finishing` it reads: a transaction may run
twice.

Several finishes of one job apply in order, each seeing the writes of those before:
with row locks the versions are followed in Python and only the last written state of
each job is sent; on SQLite such a batch runs one UPDATE per finish, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

import tickwork
from tickwork import FinishOutcome, RunFinish

from . import _rows
from ._schema import chunks
from ._statements import Statements

__all__ = ["Finishing"]

STORED, CHANGED, MISSING = FinishOutcome.STORED, FinishOutcome.CHANGED, FinishOutcome.MISSING


@dataclass(frozen=True, slots=True)
class _Step:
    """One finish, checked and turned into rows."""

    job_id: str | None  # None: records only
    row: dict[str, Any] | None  # the job's scheduler_jobs row
    updated_at: datetime | None  # the version the write leaves
    seen: datetime | None  # write only over this version (None: whatever is stored)
    owner: str | None  # whose claims to release
    release: tuple[str, ...]  # the jobs whose claims it releases


class Finishing:
    """The rows of one ``finish_runs`` call, every finish checked before any I/O.

    :raises tickwork.InvalidJobDataError: a finish, record, job or owner no SQL table
        can hold (nothing of the call is written).
    """

    def __init__(self, finishes: Sequence[RunFinish]) -> None:
        self.records: dict[str, dict[str, Any]] = {}  # by execution id: the last wins
        steps: list[_Step] = []
        for finish in finishes:
            if not isinstance(finish, RunFinish):
                raise tickwork.InvalidJobDataError(
                    f"expected a RunFinish, got {type(finish).__name__}"
                )
            for record in finish.records:
                row = _rows.execution_to_row(_rows.check_execution(record))
                self.records[row["execution_id"]] = row
            owner = finish.release_owner
            if owner is not None:
                _rows.check_owner(owner)
            job = finish.job
            if job is None:
                release = tuple({r.job_id: None for r in finish.records}) if owner else ()
                steps.append(_Step(None, None, None, None, owner, release))
                continue
            row = _rows.job_to_row(_rows.check_job(job))
            seen = None if finish.seen is None else _utc(finish.seen)
            steps.append(_Step(job.id, row, job.updated_at, seen, owner, (job.id,)))
        self.steps: tuple[_Step, ...] = tuple(steps)
        self.job_ids: list[str] = sorted({s.job_id for s in steps if s.job_id is not None})

    def describe(self) -> str:
        """What the transaction does, for its error messages."""
        return (
            f"finish {len(self.steps)} runs ({len(self.records)} execution records, "
            f"{len(self.job_ids)} jobs)"
        )

    def apply(self, conn: Connection, statements: Statements) -> list[FinishOutcome]:
        """Write the jobs and release the claims (the records are written before);
        return one outcome per finish."""
        if not self.job_ids:
            outcomes = [STORED] * len(self.steps)
        elif conn.dialect.name == "sqlite":
            outcomes = self._update_then_check(conn, statements)
        else:
            outcomes = self._lock_then_update(conn, statements)
        released: dict[str, set[str]] = {}
        for step, outcome in zip(self.steps, outcomes, strict=True):
            if step.owner is not None and outcome is not CHANGED:
                released.setdefault(step.owner, set()).update(step.release)
        for owner, job_ids in released.items():
            statements.claims.release_many(conn, list(job_ids), owner)
        return outcomes

    def _lock_then_update(self, conn: Connection, statements: Statements) -> list[FinishOutcome]:
        """PostgreSQL and MySQL: lock the jobs' rows and read their versions, follow the
        finishes in order, write each job's last written state."""
        versions: dict[str, datetime] = {}
        for chunk in chunks(self.job_ids):
            rows = conn.execute(statements.lock_job_versions, {"ids": chunk})
            versions.update((job_id, at) for job_id, at in rows)
        outcomes: list[FinishOutcome] = []
        written: dict[str, dict[str, Any]] = {}
        for step in self.steps:
            if step.job_id is None:
                outcomes.append(STORED)
                continue
            current = versions.get(step.job_id)
            if current is None:
                outcomes.append(MISSING)
            elif step.seen is not None and current != step.seen:
                outcomes.append(CHANGED)
            else:
                assert step.row is not None
                assert step.updated_at is not None
                outcomes.append(STORED)
                versions[step.job_id] = step.updated_at
                written[step.job_id] = step.row
        if written:
            ids = sorted(written)
            if statements.upsert_existing_jobs is not None:  # MySQL: see save_runs
                conn.execute(statements.upsert_existing_jobs, [written[i] for i in ids])
            else:
                conn.execute(statements.update_job, [_keyed(written[i]) for i in ids])
        return outcomes

    def _update_then_check(self, conn: Connection, statements: Statements) -> list[FinishOutcome]:
        """SQLite: the UPDATEs (in the finishes' order when a job comes twice), then one
        look-up of the jobs not written. Nothing can create or delete a job meanwhile:
        the first UPDATE holds the database's write lock."""
        job_steps = [(i, s) for i, s in enumerate(self.steps) if s.job_id is not None]
        done: dict[int, bool] = {}  # by position: whether the UPDATE wrote the row
        if len(job_steps) == len(self.job_ids):  # each job once: plain writes in one go
            plain = [(i, s) for i, s in job_steps if s.seen is None]
            if plain:
                count = conn.execute(
                    statements.update_job, [_keyed(s.row) for _, s in plain]
                ).rowcount
                if conn.dialect.supports_sane_multi_rowcount and count == len(plain):
                    done.update((i, True) for i, _ in plain)
            job_steps = [(i, s) for i, s in job_steps if s.seen is not None or i not in done]
        for i, step in job_steps:
            if i in done:
                continue
            statement, parameters = statements.update_job, _keyed(step.row)
            if step.seen is not None:
                statement = statements.update_job_if
                parameters["seen_updated_at"] = step.seen
            done[i] = conn.execute(statement, parameters).rowcount == 1
        unwritten = {self.steps[i].job_id for i, wrote in done.items() if not wrote}
        present = _existing(conn, statements, unwritten) if unwritten else set()
        outcomes: list[FinishOutcome] = []
        for i, step in enumerate(self.steps):
            if step.job_id is None or done[i]:
                outcomes.append(STORED)
            elif step.job_id in present and step.seen is not None:
                outcomes.append(CHANGED)
            else:
                outcomes.append(MISSING)
        return outcomes


def _keyed(row: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of a job row as the parameters of ``update_job`` (its id as ``key_id``)."""
    assert row is not None
    keyed = dict(row)
    keyed["key_id"] = keyed.pop("id")
    return keyed


def _existing(conn: Connection, statements: Statements, ids: Iterable[str | None]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(sorted(i for i in ids if i is not None)):
        found.update(conn.execute(statements.select_job_ids, {"ids": chunk}).scalars())
    return found


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise tickwork.InvalidJobDataError(f"seen must be a datetime, got {value!r}")
    return value.astimezone(UTC)
