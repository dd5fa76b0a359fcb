"""The in-memory store: the default, and the reference behaviour for every other store."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from ._errors import (
    ExecutionNotFoundError,
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    StorageNotInitializedError,
)
from ._models import ExecutionRecord, JobData, JobStatus, QueryOptions
from ._timeutil import as_utc
from ._validation import check_execution, check_job, check_job_id

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps jobs and execution records in dictionaries.

    Data survives ``close()`` and a later ``initialize()`` (a scheduler that stops and
    starts again finds its jobs), but not the process. Records are indexed by job so
    listing one job's history never scans the others.

    It also implements the claims of :class:`~tickwork.abc.ClaimingStore`. With
    ``shared=True`` several schedulers in one process can share one instance and
    coordinate through it exactly as processes do through a shared database, which is
    how the coordination logic is tested without a server.
    """

    def __init__(self, *, shared: bool = False) -> None:
        self.shared = shared
        self._claims: dict[str, tuple[datetime, str, datetime]] = {}
        self._initialized = False
        self._jobs: dict[str, JobData] = {}
        self._executions: dict[str, ExecutionRecord] = {}
        self._by_job: defaultdict[str, dict[str, ExecutionRecord]] = defaultdict(dict)

    def __repr__(self) -> str:
        return f"MemoryStore(jobs={len(self._jobs)}, executions={len(self._executions)})"

    def _check(self) -> None:
        if not self._initialized:
            raise StorageNotInitializedError("MemoryStore")

    async def initialize(self) -> None:
        self._initialized = True

    async def close(self) -> None:
        self._initialized = False

    async def save_job(self, job: JobData) -> None:
        self._check()
        check_job(job)
        if job.id in self._jobs:
            raise JobDataAlreadyExistsError(job.id)
        self._jobs[job.id] = job.copy()

    async def update_job(self, job: JobData) -> None:
        self._check()
        check_job(job)
        if job.id not in self._jobs:
            raise JobDataNotFoundError(job.id)
        self._jobs[job.id] = job.copy()

    async def delete_job(self, job_id: str) -> None:
        self._check()
        check_job_id(job_id)
        if self._jobs.pop(job_id, None) is None:
            raise JobDataNotFoundError(job_id)
        self._claims.pop(job_id, None)

    async def get_job(self, job_id: str) -> JobData:
        self._check()
        check_job_id(job_id)
        try:
            return self._jobs[job_id].copy()
        except KeyError:
            raise JobDataNotFoundError(job_id) from None

    async def list_jobs(self) -> list[JobData]:
        self._check()
        return [self._jobs[k].copy() for k in sorted(self._jobs)]

    async def list_jobs_by_status(self, status: JobStatus) -> list[JobData]:
        self._check()
        wanted = JobStatus(status)
        return [self._jobs[k].copy() for k in sorted(self._jobs) if self._jobs[k].status == wanted]

    async def save_execution(self, record: ExecutionRecord) -> None:
        self._check()
        check_execution(record)
        stored = record.copy()
        previous = self._executions.get(record.execution_id)
        if previous is not None and previous.job_id != record.job_id:
            self._by_job[previous.job_id].pop(record.execution_id, None)
        self._executions[record.execution_id] = stored
        self._by_job[record.job_id][record.execution_id] = stored

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        self._check()
        try:
            return self._executions[execution_id].copy()
        except (KeyError, TypeError):
            raise ExecutionNotFoundError(execution_id) from None

    async def list_executions(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        opts = (options or QueryOptions()).validate()
        self._check()
        check_job_id(job_id)
        records = list(self._by_job.get(job_id, {}).values())
        return [r.copy() for r in opts.apply(records)]

    async def delete_executions(self, job_id: str | None, before: datetime) -> None:
        self._check()
        cutoff = as_utc(before)
        job_ids = list(self._by_job) if job_id is None else [check_job_id(job_id)]
        for jid in job_ids:
            records = self._by_job.get(jid)
            if not records:
                continue
            for eid in [eid for eid, r in records.items() if r.start_time < cutoff]:
                del records[eid]
                del self._executions[eid]

    async def health_check(self) -> None:
        self._check()

    # -- claims (ClaimingStore) ---------------------------------------------------------

    async def claim_job(
        self, job_id: str, scheduled_at: datetime, owner: str, lease_until: datetime, now: datetime
    ) -> JobData | None:
        self._check()
        job = self._jobs.get(check_job_id(job_id))
        if job is None or job.status == JobStatus.DISABLED or job.next_run != scheduled_at:
            return None
        held = self._claims.get(job_id)
        if held is not None and held[1] != owner and held[2] > as_utc(now):
            return None
        self._claims[job_id] = (job.next_run, owner, as_utc(lease_until))
        return job.copy()

    async def renew_claim(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        self._check()
        held = self._claims.get(job_id)
        if held is None or held[1] != owner:
            return False
        self._claims[job_id] = (held[0], owner, as_utc(lease_until))
        return True

    async def release_claim(self, job_id: str, owner: str) -> None:
        self._check()
        held = self._claims.get(job_id)
        if held is not None and held[1] == owner:
            del self._claims[job_id]

    async def list_jobs_changed_since(self, since: datetime) -> list[JobData]:
        self._check()
        cutoff = as_utc(since)
        return [
            self._jobs[k].copy() for k in sorted(self._jobs) if self._jobs[k].updated_at >= cutoff
        ]
