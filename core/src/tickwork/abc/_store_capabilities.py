"""Optional store capabilities that make one process faster or safer: bulk inserts,
in-process data, an id length limit, an index on due jobs and a job's last record.

Each is a separate protocol so that a store declares only what it really does and the
scheduler falls back to the plain :class:`~tickwork.abc.Store` calls otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from .._models import ExecutionRecord, JobData
from ._store import Store

__all__ = ["BulkStore", "DueJobsStore", "IdLimitedStore", "InProcessStore", "LastRecordStore"]


@runtime_checkable
class BulkStore(Store, Protocol):
    """A store that saves many new jobs in one go (optional capability).

    :meth:`AsyncScheduler.add_jobs <tickwork.AsyncScheduler.add_jobs>` hands every job
    to :meth:`save_jobs` at once, so a store can write them in one transaction (one
    round trip) instead of one per job. Stores without it get one ``save_job`` per job.
    """

    async def save_jobs(self, jobs: Sequence[JobData]) -> None:
        """Insert several new jobs: all of them, or none.

        :raises JobDataAlreadyExistsError: one of the ids is stored already, or appears
            twice in ``jobs``; nothing was saved.
        """
        ...


@runtime_checkable
class InProcessStore(Store, Protocol):
    """A store that keeps its data in this process (optional capability).

    Its writes need no round trip and cannot fail for want of a backend. When no other
    process shares it, the scheduler's own job table alone says whether an id is taken,
    so the blocking :class:`~tickwork.Scheduler` adds a job in the caller's thread and
    only hands the write to its loop, instead of waiting a loop round trip per call.
    ``in_process`` is true for such a store.
    """

    in_process: bool


@runtime_checkable
class IdLimitedStore(Store, Protocol):
    """A store that holds job ids up to a length only (optional capability).

    A SQL column has a size (255 characters), a NATS key a length; a store saving a
    longer id would fail, and would fail late: a job added before ``start()`` is saved
    by ``start()``. With the limit declared here, ``add_job`` asks
    :meth:`id_too_long` and refuses such an id at once with a
    :class:`~tickwork.JobIDTooLongError`. A store without this capability takes ids of
    any length.
    """

    max_id_length: int
    """Every id of at most this many characters fits, whatever the characters (a store
    that counts encoded bytes takes longer ids of plain ASCII)."""

    def id_too_long(self, job_id: str) -> str | None:
        """Why ``job_id`` is longer than the store holds (naming the limit), or ``None``
        when it fits. No I/O: ``add_job`` calls it for every new job.

        ``save_job`` refuses exactly the ids this refuses, with
        :class:`~tickwork.JobIDTooLongError`, and stores nothing.
        """
        ...


@runtime_checkable
class DueJobsStore(Store, Protocol):
    """A store that can find the jobs that are due without reading every job
    (optional capability).

    A scheduler starting over a large store first loads the jobs that are due, runs
    them, and only then loads the rest, so overdue work starts within milliseconds
    however many jobs are stored.
    """

    async def list_due_jobs(self, until: datetime) -> list[JobData]:
        """Return the jobs whose ``next_run`` is at or before ``until`` (whatever their
        status), sorted by ``next_run`` then id. It should use an index on next_run."""
        ...


@runtime_checkable
class LastRecordStore(Store, Protocol):
    """A store that finds a job's last record without reading the job's history
    (optional capability).

    Each run is told when the job's previous run ended
    (:attr:`JobEvent.last_completed_at <tickwork.JobEvent.last_completed_at>`). The
    first time a process runs a job it has to ask the store, and
    ``list_executions(job_id, QueryOptions(limit=1, sort_by="end_time", sort_desc=True))``
    costs a store that cannot sort on an index the whole history: a worker restarted
    after a month of runs every minute would read 40,000 records per job before the
    first run of each. A store with this capability answers from the record it saved
    last, in about one read.
    """

    async def last_saved_execution(self, job_id: str) -> ExecutionRecord | None:
        """The record of ``job_id`` saved last (a record saved again counts from its
        last save), or ``None`` when the job has none. The scheduler saves each run's
        record as the run ends, so this is the record of the run that ended last.

        Records outlive their job: a removed job's are still found.

        :raises InvalidJobDataError: that record cannot be read (naming where it is).
        :raises StorageConnectionError: the store cannot be reached.
        """
        ...
