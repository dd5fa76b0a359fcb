"""Claims: the statements that let one of several scheduler processes own a due run.

A claim is one row of ``scheduler_claims`` per job. Taking it must be atomic with the
check that the job is still due at ``scheduled_at``; otherwise a process that looked
just before the owner moved ``next_run`` on (and released its claim) would run the same
tick again. How that atomicity is reached depends on the database:

- PostgreSQL and MySQL/MariaDB lock the job's row first (``SELECT ... FOR UPDATE``), so
  the check and the claim see the latest committed job and no other claim of that job
  can interleave.
- SQLite has no row locks, and a read followed by a write in another statement can see
  a stale snapshot across processes; there the check and the claim are one
  ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` statement, which takes the database's
  write lock before it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tickwork import JobStatus

from ._schema import Tables, UTCDateTime

__all__ = ["ClaimRequest", "Claims"]


class ClaimRequest(NamedTuple):
    """``owner`` wants the run of ``job_id`` due at ``scheduled_at`` until ``lease_until``
    (all times aware UTC); claims whose lease ended before ``now`` are free."""

    job_id: str
    scheduled_at: datetime
    owner: str
    lease_until: datetime
    now: datetime

    def parameters(self) -> dict[str, Any]:
        return {f"c_{name}": value for name, value in self._asdict().items()}


class Claims:
    """The claim statements of one store, built once (a run may claim every second)."""

    def __init__(self, tables: Tables, dialect: str) -> None:
        jobs, claims = tables.jobs, tables.claims
        self._dialect = dialect
        self._job = select(jobs).where(jobs.c.id == bindparam("c_job_id"))
        self._lock_job = self._job.with_for_update()
        free_or_ours = or_(
            claims.c.owner == bindparam("c_owner"),
            claims.c.lease_until <= bindparam("c_now", type_=UTCDateTime()),
        )
        values = {
            "owner": bindparam("c_owner"),
            "scheduled_at": bindparam("c_scheduled_at", type_=UTCDateTime()),
            "lease_until": bindparam("c_lease_until", type_=UTCDateTime()),
        }
        self._take = (
            update(claims)
            .where(claims.c.job_id == bindparam("c_job_id"), free_or_ours)
            .values(values)
        )
        self._insert = claims.insert().values(job_id=bindparam("c_job_id"), **values)
        self._upsert_if_due: Any = None
        if dialect in ("sqlite", "postgresql"):
            due_job = select(
                bindparam("c_job_id", type_=claims.c.job_id.type),
                bindparam("c_owner", type_=claims.c.owner.type),
                bindparam("c_scheduled_at", type_=UTCDateTime()),
                bindparam("c_lease_until", type_=UTCDateTime()),
            ).where(
                and_(
                    jobs.c.id == bindparam("c_job_id"),
                    jobs.c.next_run == bindparam("c_scheduled_at", type_=UTCDateTime()),
                    jobs.c.status != JobStatus.DISABLED.value,
                )
            )
            insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(claims)
            statement = insert.from_select(
                ["job_id", "owner", "scheduled_at", "lease_until"], due_job
            )
            self._upsert_if_due = statement.on_conflict_do_update(
                index_elements=[claims.c.job_id],
                set_={
                    "owner": statement.excluded.owner,
                    "scheduled_at": statement.excluded.scheduled_at,
                    "lease_until": statement.excluded.lease_until,
                },
                where=or_(
                    claims.c.owner == statement.excluded.owner,
                    claims.c.lease_until <= bindparam("c_now", type_=UTCDateTime()),
                ),
            )
        self.renew = (
            update(claims)
            .where(claims.c.job_id == bindparam("c_job_id"), claims.c.owner == bindparam("c_owner"))
            .values(lease_until=bindparam("c_lease_until", type_=UTCDateTime()))
        )
        self.release = delete(claims).where(
            claims.c.job_id == bindparam("c_job_id"), claims.c.owner == bindparam("c_owner")
        )

    def claim(self, conn: Connection, request: ClaimRequest) -> Mapping[str, Any] | None:
        """Take or extend the claim; return the job's row when ``request.owner`` holds it."""
        parameters = request.parameters()
        if self._dialect != "sqlite":
            locked = conn.execute(self._lock_job, parameters).first()
            if locked is None or not _due(dict(locked._mapping), request.scheduled_at):
                return None
        if self._upsert_if_due is not None:
            claimed = bool(conn.execute(self._upsert_if_due, parameters).rowcount)
        else:
            claimed = self._update_or_insert(conn, parameters)
        if not claimed:
            return None
        row = conn.execute(self._job, parameters).first()
        return None if row is None else dict(row._mapping)

    def _update_or_insert(self, conn: Connection, parameters: dict[str, Any]) -> bool:
        if conn.execute(self._take, parameters).rowcount:
            return True
        try:
            with conn.begin_nested():
                conn.execute(self._insert, parameters)
        except IntegrityError:  # another owner holds an unexpired claim
            return False
        return True


def _due(row: Mapping[str, Any], scheduled_at: datetime) -> bool:
    return bool(row["status"] != JobStatus.DISABLED.value and row["next_run"] == scheduled_at)
