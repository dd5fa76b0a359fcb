"""Store capabilities for writing the outcomes of many runs in one call (group commit).

A store with a round trip per write keeps up with thousands of runs a second only when
the runs that end together are written together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from .._models import ExecutionRecord, FinishOutcome, JobData, RunFinish
from ._claims import ConditionalUpdateStore
from ._store import Store

__all__ = ["BatchRunStore", "ConditionalBatchRunStore", "FinishingStore"]


@runtime_checkable
class BatchRunStore(Store, Protocol):
    """A store that writes the outcome of many runs in one go (optional capability).

    Runs that finish while the previous write is still going are written together:
    the scheduler hands their records and job updates to :meth:`save_runs` in one call
    (group commit), so a store with a round trip per write keeps up with thousands of
    runs a second. Each run still waits for its own write to be stored.
    """

    async def save_runs(
        self, records: Sequence[ExecutionRecord], jobs: Sequence[JobData]
    ) -> set[str]:
        """Save ``records`` (each as :meth:`~Store.save_execution` would) and update
        ``jobs`` (each as :meth:`~Store.update_job` would), in one transaction where
        the backend has them. ``jobs`` holds each id at most once.

        :return: the ids of the jobs that do not exist; those were not written, every
            other write was.
        """
        ...


@runtime_checkable
class ConditionalBatchRunStore(BatchRunStore, ConditionalUpdateStore, Protocol):
    """A store that writes the outcome of many runs in one go, each job on condition
    that nobody wrote it since it was read (optional capability).

    After a run on a shared store the scheduler re-reads the job, so that a pause or
    change made elsewhere during the run is kept, and then saves the run's outcome.
    A change stored between that re-read and that write would be overwritten by a
    plain write; with this capability the outcome is written on condition, in the
    same batch as other runs' writes, and the scheduler merges it with the change and
    writes again when it lost.
    """

    async def save_runs_if(
        self,
        records: Sequence[ExecutionRecord],
        jobs: Sequence[JobData],
        seen: Mapping[str, datetime],
    ) -> tuple[set[str], set[str]]:
        """:meth:`~BatchRunStore.save_runs`, except that each job whose id is in
        ``seen`` is written only if its stored ``updated_at`` is still ``seen[id]``
        (as :meth:`~ConditionalUpdateStore.update_job_if` would). Jobs not in ``seen``
        are written as ``save_runs`` writes them. The records are always written.

        :return: the ids of the jobs that do not exist, and the ids of the jobs not
            written because their ``updated_at`` differed.
        """
        ...


@runtime_checkable
class FinishingStore(Store, Protocol):
    """A store that finishes many runs in one call and one transaction (optional
    capability).

    A run on a shared store used to cost a round trip for each of its after-effects:
    its execution record, a re-read of the job, the job's new state and the release of
    its claim. With this capability the claim hands back the job's version
    (``updated_at``), and everything the run leaves is one :class:`RunFinish`: the
    scheduler gives every finish that is ready while the previous call is with the
    store to one :meth:`finish_runs` call (group commit). The job is read again only
    when its write lost to a change stored meanwhile. Tick-log records of ticks that
    did not run (missed, coalesced, skipped) travel in the same batches.
    """

    async def finish_runs(self, finishes: Sequence[RunFinish]) -> list[FinishOutcome]:
        """Apply each finish, in one transaction where the backend has them.

        For each finish, in order: its ``records`` are saved (as
        :meth:`~Store.save_execution` would); its ``job``, if any, is written as
        :meth:`~Store.update_job` would, or, when ``seen`` is set, only if the stored
        ``updated_at`` is still ``seen`` (as
        :meth:`~ConditionalUpdateStore.update_job_if` would); then, if
        ``release_owner`` is set and the job was written or is missing (or the finish
        has no job), that owner's claim on the job is dropped. A job id may appear in
        several finishes; they apply in order, each seeing the writes before it.

        :return: one outcome per finish, in order: ``STORED`` (also for a finish
            without a job), ``CHANGED`` (not written, claim kept) or ``MISSING``.
        :raises StorageConnectionError: the backend cannot be reached; nothing of the
            batch may be assumed written, and applying it again is safe (records
            replace records with the same execution id, job writes are idempotent).
        """
        ...
