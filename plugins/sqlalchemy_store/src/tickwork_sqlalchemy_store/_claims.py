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

A batch (:meth:`Claims.claim_many`) is one transaction. On PostgreSQL and MySQL it locks
every job row of the batch with one ``SELECT ... ORDER BY id FOR UPDATE`` per 500 ids,
checks which are due in Python, then locks their claim rows the same way, decides which
are free (none, ours, or expired) and writes those: one INSERT for the new claims, one
UPDATE per distinct ``scheduled_at`` for the taken ones. Locks are always taken in id
order, job rows before claim rows, so two schedulers claiming overlapping batches wait
for each other instead of deadlocking. One deadlock is left on InnoDB: the INSERT of new
claims checks each key for a duplicate under a shared lock, and a claim row deleted by
a release still in progress (whose DELETE locks rows as it scans them) holds that lock
whatever order the claim took its others in. The server then rolls back one of the two,
and the runner runs that transaction again (:mod:`._runners`). On SQLite the claim
statement runs once per run (its row count says whether it claimed), all in the one
transaction, whose first statement already holds the write lock.

The store's claim methods delegate to the async functions at the end of this module,
which check their input and run one transaction each through the store's runner.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tickwork import JobData, JobStatus

from . import _rows
from ._rows import job_from_values
from ._runners import Runner
from ._schema import Tables, UTCDateTime, chunks, ids_in, job_columns

__all__ = [
    "ClaimRequest",
    "Claims",
    "claim_job",
    "claim_jobs",
    "release_claim",
    "release_claims",
    "renew_claim",
]

logger = logging.getLogger("tickwork.sqlalchemy")


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
        self._locks_rows = dialect != "sqlite"
        columns = job_columns(jobs, dialect)
        self._job = select(*columns).where(jobs.c.id == bindparam("c_job_id"))
        self._lock_job = self._job.with_for_update()
        self._jobs = select(*columns).where(ids_in(jobs.c.id, dialect))
        self._lock_jobs = self._jobs.order_by(jobs.c.id).with_for_update()
        self._lock_claims = (
            select(claims.c.job_id, claims.c.owner, claims.c.lease_until)
            .where(ids_in(claims.c.job_id, dialect))
            .order_by(claims.c.job_id)
            .with_for_update()
        )
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
        # Claim rows this transaction has locked (and found free): no condition needed.
        self._take_locked = update(claims).where(ids_in(claims.c.job_id, dialect)).values(values)
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
        owned = and_(claims.c.owner == bindparam("c_owner"), ids_in(claims.c.job_id, dialect))
        if dialect == "postgresql":
            # The rows to delete are locked in id order first, like every other lock on
            # claims; a plain DELETE locks them in whatever order its scan finds them.
            self._release_many: Any = delete(claims).where(
                claims.c.job_id.in_(
                    select(claims.c.job_id)
                    .where(owned)
                    .order_by(claims.c.job_id)
                    .with_for_update()
                    .scalar_subquery()
                )
            )
        else:
            # MySQL's InnoDB finds rows by primary key, so in id order, anyway (and
            # MySQL refuses a subquery on the table a DELETE deletes from).
            self._release_many = delete(claims).where(owned)

    # -- one run -------------------------------------------------------------------------

    def claim(self, conn: Connection, request: ClaimRequest) -> JobData | None:
        """Take or extend the claim; return the stored job when ``request.owner`` holds
        it. A job whose row cannot be read is not claimed (and logged): None.
        """
        parameters = request.parameters()
        if self._locks_rows:
            locked = conn.execute(self._lock_job, parameters).first()
            if locked is None:
                return None
            job = _readable(locked)
            if job is None or not _due(job, request.scheduled_at):
                return None
            # The row stays locked until the transaction ends: it is the stored job.
            if self._upsert_if_due is not None:
                claimed = bool(conn.execute(self._upsert_if_due, parameters).rowcount)
            else:
                claimed = self._update_or_insert(conn, parameters)
            return job if claimed else None
        if not conn.execute(self._upsert_if_due, parameters).rowcount:
            return None
        row = conn.execute(self._job, parameters).first()
        found = None if row is None else _readable(row)
        if found is None:  # give back what was just taken
            conn.execute(self.release, parameters)
        return found

    def _update_or_insert(self, conn: Connection, parameters: dict[str, Any]) -> bool:
        if conn.execute(self._take, parameters).rowcount:
            return True
        try:
            with conn.begin_nested():
                conn.execute(self._insert, parameters)
        except IntegrityError:  # another owner holds an unexpired claim
            return False
        return True

    # -- batches -------------------------------------------------------------------------

    def claim_many(
        self,
        conn: Connection,
        runs: Mapping[str, datetime],
        owner: str,
        lease_until: datetime,
        now: datetime,
    ) -> dict[str, JobData]:
        """Claim each run ``{job_id: scheduled_at}`` on its own; return the stored jobs
        whose run ``owner`` now holds. A job whose row cannot be read is not claimed
        (and logged), so it cannot fail the others."""
        ids = sorted(runs)
        if self._locks_rows:
            return self._claim_locked(conn, ids, runs, owner, lease_until, now)
        claimed: list[str] = []
        for job_id in ids:
            request = ClaimRequest(job_id, runs[job_id], owner, lease_until, now)
            if conn.execute(self._upsert_if_due, request.parameters()).rowcount:
                claimed.append(job_id)
        found: dict[str, JobData] = {}
        unreadable: list[str] = []
        for chunk in chunks(claimed):
            for values in conn.execute(self._jobs, {"ids": chunk}):
                job = _readable(values)
                if job is None:
                    unreadable.append(values[0])
                else:
                    found[job.id] = job
        if unreadable:  # give back what was just taken
            conn.execute(
                self.release, [{"c_job_id": job_id, "c_owner": owner} for job_id in unreadable]
            )
        return found

    def _claim_locked(
        self,
        conn: Connection,
        ids: list[str],
        runs: Mapping[str, datetime],
        owner: str,
        lease_until: datetime,
        now: datetime,
    ) -> dict[str, JobData]:
        due: dict[str, JobData] = {}
        for chunk in chunks(ids):
            for values in conn.execute(self._lock_jobs, {"ids": chunk}):
                job = _readable(values)
                if job is not None and _due(job, runs[job.id]):
                    due[job.id] = job
        if not due:
            return {}
        due_ids = sorted(due)
        taken: dict[datetime, list[str]] = {}  # held claims that are free, by run
        held: set[str] = set()
        for chunk in chunks(due_ids):
            for job_id, holder, held_until in conn.execute(self._lock_claims, {"ids": chunk}):
                held.add(job_id)
                if holder == owner or held_until <= now:
                    taken.setdefault(runs[job_id], []).append(job_id)
        new = [job_id for job_id in due_ids if job_id not in held]
        if new:
            # Nobody else can insert these meanwhile: every claim of a job locks its row.
            conn.execute(
                self._insert,
                [
                    {
                        "c_job_id": job_id,
                        "c_owner": owner,
                        "c_scheduled_at": runs[job_id],
                        "c_lease_until": lease_until,
                    }
                    for job_id in new
                ],
            )
        for scheduled_at, job_ids in taken.items():
            for chunk in chunks(job_ids):
                conn.execute(
                    self._take_locked,
                    {
                        "ids": chunk,
                        "c_owner": owner,
                        "c_scheduled_at": scheduled_at,
                        "c_lease_until": lease_until,
                    },
                )
        claimed = set(new)
        for job_ids in taken.values():
            claimed.update(job_ids)
        return {job_id: due[job_id] for job_id in due_ids if job_id in claimed}

    def release_many(self, conn: Connection, job_ids: Sequence[str], owner: str) -> None:
        """Drop ``owner``'s claims on ``job_ids``."""
        for chunk in chunks(sorted(set(job_ids))):
            conn.execute(self._release_many, {"ids": chunk, "c_owner": owner})

    def jobs(self, conn: Connection, job_ids: Sequence[str]) -> dict[str, JobData]:
        """The stored jobs among ``job_ids``, by id (a row that cannot be read as its
        :meth:`~tickwork.JobData.unreadable_row`)."""
        found: dict[str, JobData] = {}
        for chunk in chunks(sorted(set(job_ids))):
            for values in conn.execute(self._jobs, {"ids": chunk}):
                job = job_from_values(values)
                found[job.id] = job
        return found


def _due(job: JobData, scheduled_at: datetime) -> bool:
    return job.status is not JobStatus.DISABLED and job.next_run == scheduled_at


def _readable(values: Sequence[Any]) -> JobData | None:
    """The job of a row, or None (logged) when the row cannot be read."""
    job = job_from_values(values)
    if job.unreadable is not None:
        logger.error(
            "not claiming job %r: its stored row cannot be read: %s", job.id, job.unreadable
        )
        return None
    return job


# -- through the store's runner: one transaction per call ----------------------------------


async def claim_job(
    runner: Runner,
    claims: Claims,
    job_id: str,
    scheduled_at: datetime,
    owner: str,
    lease_until: datetime,
    now: datetime,
) -> JobData | None:
    """Claim one run (:meth:`Claims.claim`); the job as stored, or None if not taken."""
    _rows.check_job_id(job_id)
    _rows.check_owner(owner)
    request = ClaimRequest(
        job_id, _rows.utc(scheduled_at), owner, _rows.utc(lease_until), _rows.utc(now)
    )

    def claim(conn: Connection) -> JobData | None:
        return claims.claim(conn, request)

    return await runner.transaction(
        f"claim job {job_id!r}", claim, read_committed=True, urgent=True
    )


async def renew_claim(
    runner: Runner, claims: Claims, job_id: str, owner: str, lease_until: datetime
) -> bool:
    """Move ``owner``'s lease on ``job_id`` to ``lease_until``; whether it still held it."""
    parameters = {
        "c_job_id": _rows.check_job_id(job_id),
        "c_owner": owner,
        "c_lease_until": _rows.utc(lease_until),
    }

    def renew(conn: Connection) -> bool:
        return bool(conn.execute(claims.renew, parameters).rowcount)

    return await runner.transaction(f"renew the claim on job {job_id!r}", renew)


async def release_claim(runner: Runner, claims: Claims, job_id: str, owner: str) -> None:
    """Drop ``owner``'s claim on ``job_id`` (no error for a claim it does not hold)."""
    parameters = {"c_job_id": _rows.check_job_id(job_id), "c_owner": owner}

    def release(conn: Connection) -> None:
        conn.execute(claims.release, parameters)

    await runner.transaction(f"release the claim on job {job_id!r}", release)


async def claim_jobs(
    runner: Runner,
    claims: Claims,
    runs: Sequence[tuple[str, datetime]],
    owner: str,
    lease_until: datetime,
    now: datetime,
) -> dict[str, JobData]:
    """Claim each ``(job_id, scheduled_at)`` as :func:`claim_job` would, each on its
    own, in one transaction; return the claimed jobs as stored, by id.

    PostgreSQL and MySQL lock the batch's job rows in id order, check which runs are
    due, lock those jobs' claim rows in id order and write the free ones; SQLite runs
    :func:`claim_job`'s statement once per run (see above). A job named
    twice is claimed for its last ``scheduled_at``. A job whose stored row cannot be
    read is left unclaimed (and logged) rather than failing the batch.
    """
    _rows.check_owner(owner)
    wanted: dict[str, datetime] = {}
    for job_id, scheduled_at in runs:
        wanted[_rows.check_job_id(job_id)] = _rows.utc(scheduled_at)
    lease_until, now = _rows.utc(lease_until), _rows.utc(now)
    if not wanted:
        return {}

    def claim(conn: Connection) -> dict[str, JobData]:
        return claims.claim_many(conn, wanted, owner, lease_until, now)

    return await runner.transaction(
        f"claim {len(wanted)} runs", claim, read_committed=True, urgent=True
    )


async def release_claims(
    runner: Runner, claims: Claims, job_ids: Sequence[str], owner: str
) -> None:
    """Drop ``owner``'s claims on ``job_ids`` (:meth:`Claims.release_many`)."""
    _rows.check_owner(owner)
    ids = [_rows.check_job_id(job_id) for job_id in job_ids]
    if not ids:
        return

    def release(conn: Connection) -> None:
        claims.release_many(conn, ids, owner)

    await runner.transaction(f"release the claims on {len(ids)} jobs", release, read_committed=True)
