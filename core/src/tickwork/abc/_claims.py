"""Store capabilities for sharing one store between scheduler processes: claims on due
runs and writes on condition that nobody wrote first.

They are what makes each due run execute once across every process, and keeps one
process's write from undoing another's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from .._models import JobData
from ._store import Store

__all__ = [
    "BatchClaimingStore",
    "ClaimingStore",
    "ConditionalUpdateStore",
    "WorkerRegistryStore",
]


@runtime_checkable
class ClaimingStore(Store, Protocol):
    """A store that several scheduler processes can share (optional capability).

    A claim makes one process the owner of one due run, ``(job_id, scheduled_at)``.
    A claim succeeds only while the stored job's ``next_run`` equals ``scheduled_at``
    and the job is not disabled, and only if no other owner holds an unexpired claim on
    the job. Because the owner moves ``next_run`` on when the run ends, each due run is
    claimed, and so executed, once across every process sharing the store. A claim
    expires at ``lease_until``: a process that dies mid-run hands the job over to
    another once the lease has passed. Expiry compares ``lease_until`` with the
    ``now`` the claiming process passes, so the processes' clocks must agree to well
    within the lease.

    ``shared`` says whether other processes may use the same backend at once; the
    scheduler claims runs (and watches for jobs changed elsewhere) only when it is true.
    Stores without this capability work in a single process.
    """

    shared: bool

    async def claim_job(
        self, job_id: str, scheduled_at: datetime, owner: str, lease_until: datetime, now: datetime
    ) -> JobData | None:
        """Atomically claim the run of ``job_id`` due at ``scheduled_at``.

        :return: the job as stored when ``owner`` now holds the claim; ``None`` when the
            job is gone or disabled, its ``next_run`` is not ``scheduled_at``, or another
            owner holds a claim whose ``lease_until`` is after ``now`` (at ``now ==
            lease_until`` the claim has expired). Re-claiming a run
            the same owner already holds succeeds (and extends the lease).
        """
        ...

    async def renew_claim(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        """Extend a claim ``owner`` holds; False when it holds none any more."""
        ...

    async def release_claim(self, job_id: str, owner: str) -> None:
        """Drop ``owner``'s claim on ``job_id`` (no error if it holds none)."""
        ...

    async def list_jobs_changed_since(self, since: datetime) -> list[JobData]:
        """Jobs whose ``updated_at`` is at or after ``since``, sorted by id.

        Schedulers sharing a store call it periodically to pick up jobs that other
        processes added, changed, paused or resumed; it should use an index.
        """
        ...


@runtime_checkable
class BatchClaimingStore(ClaimingStore, Protocol):
    """A shared store that claims, releases and re-reads many runs in one go
    (optional capability).

    On a shared store every run costs a claim before the handler, a re-read of the job
    after it (another process may have paused or changed it meanwhile) and a release
    once its outcome is saved. One round trip each caps a scheduler at a few hundred
    runs a second. With this capability the scheduler hands every claim (re-read,
    release) asked for while the previous one is with the store to one call, as it does
    for run writes with :class:`BatchRunStore`. Each run still waits for its own
    answer; nothing waits longer than one round trip for a batch to fill.
    """

    async def claim_jobs(
        self,
        runs: Sequence[tuple[str, datetime]],
        owner: str,
        lease_until: datetime,
        now: datetime,
    ) -> dict[str, JobData]:
        """Claim each ``(job_id, scheduled_at)`` run as :meth:`~ClaimingStore.claim_job`
        would; each claim succeeds or fails on its own. ``runs`` names each job at most
        once.

        :return: the jobs, as stored, whose run ``owner`` now holds, by id.
        """
        ...

    async def release_claims(self, job_ids: Sequence[str], owner: str) -> None:
        """Drop ``owner``'s claims on ``job_ids``, as :meth:`~ClaimingStore.release_claim`
        would for each (no error for a claim it does not hold)."""
        ...

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobData]:
        """The stored jobs among ``job_ids``, by id; ids of missing jobs are left out."""
        ...


@runtime_checkable
class ConditionalUpdateStore(Store, Protocol):
    """A store that overwrites a job only if nobody wrote it since it was read
    (optional capability; a shared store should have it).

    Changing a job is a read, a change and a write of the whole job. When several
    processes share the store, another one may write the job in between: typically it
    finishes a run and moves ``next_run`` on. A plain :meth:`~Store.update_job` would
    then put the old ``next_run`` back, and a run that already happened (a one-off
    job's only run, say) would become due and run again. With this capability the
    scheduler writes such changes on condition that the job's ``updated_at`` is still
    the one it read, and reads again and redoes the change when it is not.
    Every write the scheduler makes gives the job a new ``updated_at``, so the time
    works as a version.
    """

    async def update_job_if(self, job: JobData, updated_at: datetime) -> bool:
        """Overwrite the stored job with ``job`` if its stored ``updated_at`` is still
        ``updated_at``, atomically (a write between the check and the write cannot be
        lost).

        :return: False, and nothing written, when the stored ``updated_at`` differs.
        :raises JobDataNotFoundError: no job with that id.
        """
        ...


@runtime_checkable
class WorkerRegistryStore(ClaimingStore, Protocol):
    """A shared store that knows which schedulers are alive (optional capability).

    Without it every scheduler sharing the store claims every due run, and all but one
    lose: with three schedulers a run costs three claims and two re-reads instead of
    one claim. With it, each scheduler learns the live schedulers from its heartbeat
    and claims at once only the runs of the jobs it owns (rendezvous hashing of the job
    id over the live schedulers); for the others it waits a little and claims only what
    the owner left undone, so a dead owner's runs are still taken over.

    - ``heartbeat(owner, expires_at, now)`` records ``owner`` as alive until
      ``expires_at``, forgets every owner whose ``expires_at`` is before ``now``, and
      returns the live owners (``owner`` among them), sorted. One round trip.
    - ``leave(owner)`` forgets ``owner`` at once (a scheduler that stops cleanly).
    - Neither touches jobs, records or claims; an owner forgotten while it still runs
      loses nothing: it heartbeats again and is back.
    """

    async def heartbeat(self, owner: str, expires_at: datetime, now: datetime) -> list[str]:
        """Say ``owner`` lives until ``expires_at``; return the owners alive at ``now``."""
        ...

    async def leave(self, owner: str) -> None:
        """Forget ``owner`` (no error if it is unknown)."""
        ...
