"""The store contract: persistence for jobs and their execution history.

Every store keeps these invariants; the optional capabilities in the sibling modules
add to them and never loosen them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from .._models import ExecutionRecord, JobData, JobStatus, QueryOptions

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """Persistence for jobs and their execution history (all methods are coroutines).

    Invariants every store keeps (the reusable suite in :mod:`tickwork.testing` checks
    each one):

    - Every method except :meth:`initialize` and :meth:`close` raises
      :class:`StorageNotInitializedError` before ``initialize()`` or after ``close()``.
      ``initialize()`` after ``close()`` makes the store usable again.
    - Objects are copied in and out: mutating a saved or returned object never changes
      what is stored.
    - Any non-empty string is a valid job id and round-trips exactly (up to
      ``max_id_length`` characters for an :class:`IdLimitedStore`); ids compare
      exactly (``job``, ``Job`` and ``job `` are three jobs). An empty id raises
      :class:`EmptyJobIDError`.
    - Datetimes come back as aware UTC, equal to what was saved to the microsecond.
    - Backend failures surface as :class:`StorageConnectionError` (cannot reach the
      backend) or :class:`StorageOperationError` (cause chained), never as a driver's
      own exception type.
    """

    async def initialize(self) -> None:
        """Connect and create whatever schema the store needs; idempotent, and safe
        when several processes initialize the same backend at once."""
        ...

    async def close(self) -> None:
        """Release connections. Data stays in the backend. Closing twice is harmless."""
        ...

    async def save_job(self, job: JobData) -> None:
        """Insert a new job.

        :raises JobDataAlreadyExistsError: a job with ``job.id`` exists.
        """
        ...

    async def update_job(self, job: JobData) -> None:
        """Replace the stored job that has ``job.id``.

        :raises JobDataNotFoundError: no such job.
        """
        ...

    async def delete_job(self, job_id: str) -> None:
        """Delete a job (its execution records stay). A claim on it goes with it
        (:class:`ClaimingStore`): a job added again with the same id is free to claim.

        :raises JobDataNotFoundError: no such job.
        """
        ...

    async def get_job(self, job_id: str) -> JobData:
        """Return a copy of one job.

        :raises JobDataNotFoundError: no such job.
        """
        ...

    async def list_jobs(self) -> list[JobData]:
        """Return every job, sorted by id."""
        ...

    async def list_jobs_by_status(self, status: JobStatus) -> list[JobData]:
        """Return the jobs whose status is ``status``, sorted by id."""
        ...

    async def save_execution(self, record: ExecutionRecord) -> None:
        """Insert an execution record. Saving an ``execution_id`` that exists replaces
        the record (a run may be saved again when it ends)."""
        ...

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        """Return one execution record.

        :raises ExecutionNotFoundError: no such record.
        """
        ...

    async def list_executions(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        """Return one job's execution records, filtered, sorted and paged by ``options``.

        ``start_time``/``end_time`` select records with ``start_time`` in
        ``[start_time, end_time)``. Without ``sort_by`` records come in ascending
        ``start_time`` order. Ties are broken by ``execution_id`` in the sort's direction
        (a descending list is the ascending one reversed), so paging is stable.

        :raises InvalidQueryError: before any I/O, for options no store can honour.
        """
        ...

    async def delete_executions(self, job_id: str | None, before: datetime) -> None:
        """Delete the records of ``job_id`` (``None``: of every job) whose
        ``start_time < before``."""
        ...

    async def health_check(self) -> None:
        """Make one real round trip to the backend.

        :raises StorageConnectionError: the backend does not answer.
        """
        ...
