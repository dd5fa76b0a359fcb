"""The in-memory store: the default, and the reference behaviour for every other store."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from ._errors import (
    ExecutionNotFoundError,
    InvalidJobDataError,
    InvalidQueryError,
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    StorageNotInitializedError,
)
from ._models import (
    ExecutionRecord,
    ExecutionStatus,
    FinishOutcome,
    JobData,
    JobStatus,
    QueryOptions,
    RunFinish,
    build_unchecked,
    to_execution_status,
)
from ._query_values import (
    TASK_METADATA_KEY,
    ExecutionPage,
    ExecutionQuery,
    JobPage,
    JobQuery,
    check_count_window,
    check_per_job,
    fold_case,
)
from ._timeutil import as_utc
from ._validation import check_execution, check_job, check_job_id, check_owner

__all__ = ["MemoryStore"]

# Jobs and records are kept as flat tuples of str, datetime, timedelta and None, with
# metadata as a tuple of pairs and statuses as their string values. The garbage
# collector stops tracking such tuples after it first sees them, so a history of
# millions of records costs the collector nothing; kept as attrs objects they would be
# traversed by every full collection, and the pauses would grow with the history.
#
# A job's row leaves out its id (the key it is kept under), so that jobs in the same
# state share one row: the jobs saved together by ``add_jobs`` on one schedule are
# all alike until they first run, and a million of them then cost a dict slot each
# rather than a 112-byte tuple. A new job's row equal to the row saved last is that row.
JobRow = tuple[
    str,  # schedule_type
    str,  # schedule_config
    str,  # status
    datetime | None,  # next_run
    datetime | None,  # last_run
    datetime,  # created_at
    datetime,  # updated_at
    tuple[tuple[str, str], ...],  # metadata
]
RecordRow = tuple[
    str,  # job_id
    str,  # execution_id
    datetime,  # start_time
    datetime,  # end_time
    timedelta,  # duration
    str,  # status
    str | None,  # error
    tuple[tuple[str, str], ...],  # metadata
]

_STATUS: Final = 2
_NEXT_RUN: Final = 3
_UPDATED_AT: Final = 6
_METADATA: Final = 7
_RECORD_JOB_ID: Final = 0
_EXECUTION_ID: Final = 1
_START_TIME: Final = 2
_RECORD_STATUS: Final = 5
_SORT_KEYS: dict[str, Callable[[RecordRow], tuple[Any, str]]] = {
    "start_time": lambda r: (r[2], r[1]),
    "end_time": lambda r: (r[3], r[1]),
    "duration": lambda r: (r[4], r[1]),
}

_JOB_FIELDS: dict[str, int] = {
    "status": 2,
    "next_run": 3,
    "last_run": 4,
    "created_at": 5,
    "updated_at": 6,
}
_EPOCH: Final = datetime.min.replace(tzinfo=UTC)

_JOB_STATUSES: dict[str, JobStatus] = {s.value: s for s in JobStatus}
_RECORD_STATUSES: dict[str, JobStatus | ExecutionStatus] = {
    s.value: to_execution_status(s.value) for s in (*JobStatus, *ExecutionStatus)
}


def _pairs(metadata: dict[str, str]) -> tuple[tuple[str, str], ...]:
    # Through a list, so the pairs exist before the tuple that holds them: the
    # collector then untracks all of them in its first pass over the young objects.
    return (*metadata.items(),) if metadata else ()


def _job_row(job: JobData) -> JobRow:
    return (
        job.schedule_type,
        job.schedule_config,
        job.status.value,
        job.next_run,
        job.last_run,
        job.created_at,
        job.updated_at,
        _pairs(job.metadata),
    )


def _job(job_id: str, row: JobRow) -> JobData:
    return build_unchecked(
        JobData, (job_id, *row[:2], _JOB_STATUSES[row[2]], *row[3:7], dict(row[7]))
    )


def _record_row(record: ExecutionRecord) -> RecordRow:
    return (
        record.job_id,
        record.execution_id,
        record.start_time,
        record.end_time,
        record.duration,
        record.status.value,
        record.error,
        _pairs(record.metadata),
    )


def _record(row: RecordRow) -> ExecutionRecord:
    return build_unchecked(
        ExecutionRecord, (*row[:5], _RECORD_STATUSES[row[5]], row[6], dict(row[7]))
    )


class MemoryStore:
    """Keeps jobs and execution records in dictionaries.

    Data survives ``close()`` and a later ``initialize()`` (a scheduler that stops and
    starts again finds its jobs), but not the process. Records are indexed by job so
    listing one job's history never scans the others.

    It also implements the claims of :class:`~tickwork.abc.ClaimingStore`. With
    ``shared=True`` several schedulers in one process can share one instance and
    coordinate through it exactly as processes do through a shared database, which is
    how the coordination logic is tested without a server; it claims, releases and
    re-reads in batches (:class:`~tickwork.abc.BatchClaimingStore`) so those tests take
    the path a database store takes. It saves many jobs at once
    (:class:`~tickwork.abc.BulkStore`), lists due jobs
    (:class:`~tickwork.abc.DueJobsStore`) and writes a job on condition that nobody
    wrote it since it was read (:class:`~tickwork.abc.ConditionalUpdateStore`). It
    finishes runs (:class:`~tickwork.abc.FinishingStore`), one after the other, so that
    schedulers sharing it take the path they take on a database. It pages jobs and
    history itself (:class:`~tickwork.abc.QueryableStore`) over its stored rows, making
    objects of the page only. It is no
    :class:`~tickwork.abc.BatchRunStore`: its writes cost no round trip, so batching
    them would only add work.
    """

    #: Its data lives in this process (:class:`~tickwork.abc.InProcessStore`).
    in_process = True

    def __init__(self, *, shared: bool = False, create: bool = True) -> None:
        # ``create`` is accepted for the same call to work on every built-in store
        # (``create_store(url, create=False)``); memory has nothing to create.
        del create
        self.shared = shared
        self._claims: dict[str, tuple[datetime, str, datetime]] = {}
        self._workers: dict[str, datetime] = {}  # live schedulers (WorkerRegistryStore)
        self._initialized = False
        self._jobs: dict[str, JobRow] = {}  # id -> row (rows shared: see JobRow)
        self._last_row: JobRow | None = None
        self._executions: dict[str, RecordRow] = {}
        self._by_job: defaultdict[str, dict[str, RecordRow]] = defaultdict(dict)

    def __repr__(self) -> str:
        return f"MemoryStore(jobs={len(self._jobs)}, executions={len(self._executions)})"

    def _check(self) -> None:
        if not self._initialized:
            raise StorageNotInitializedError("MemoryStore")

    def _new_row(self, job: JobData) -> JobRow:
        """The row to keep for a new job: the row saved last when it is equal (jobs
        saved together share it), else a new one. (A change to a job, after a run
        say, makes a row of its own: its ``updated_at`` is the job's own.)"""
        row, last = _job_row(job), self._last_row
        if last is not None and row == last:
            return last
        self._last_row = row
        return row

    async def initialize(self) -> None:
        self._initialized = True

    async def close(self) -> None:
        self._initialized = False

    async def save_job(self, job: JobData) -> None:
        self._check()
        check_job(job)
        if job.id in self._jobs:
            raise JobDataAlreadyExistsError(job.id)
        self._jobs[job.id] = self._new_row(job)

    async def save_jobs(self, jobs: Iterable[JobData]) -> None:
        self._check()
        rows: dict[str, JobRow] = {}
        for job in jobs:
            check_job(job)
            if job.id in self._jobs or job.id in rows:
                raise JobDataAlreadyExistsError(job.id)
            rows[job.id] = self._new_row(job)
        self._jobs.update(rows)

    async def update_job(self, job: JobData) -> None:
        self._check()
        check_job(job)
        if job.id not in self._jobs:
            raise JobDataNotFoundError(job.id)
        self._jobs[job.id] = _job_row(job)

    async def update_job_if(self, job: JobData, updated_at: datetime) -> bool:
        self._check()
        check_job(job)
        row = self._jobs.get(job.id)
        if row is None:
            raise JobDataNotFoundError(job.id)
        if row[_UPDATED_AT] != as_utc(updated_at):
            return False
        self._jobs[job.id] = _job_row(job)
        return True

    async def finish_runs(self, finishes: Sequence[RunFinish]) -> list[FinishOutcome]:
        self._check()
        for finish in finishes:  # every finish is checked before anything is written
            if not isinstance(finish, RunFinish):
                raise InvalidJobDataError(f"expected a RunFinish, got {type(finish).__name__}")
            for record in finish.records:
                check_execution(record)
            if finish.job is not None:
                check_job(finish.job)
        return [self._finish(finish) for finish in finishes]

    def _finish(self, finish: RunFinish) -> FinishOutcome:
        for record in finish.records:
            self._save_record(record)
        job, owner = finish.job, finish.release_owner
        outcome = FinishOutcome.STORED
        if job is not None:
            row = self._jobs.get(job.id)
            if row is None:
                outcome = FinishOutcome.MISSING
            elif finish.seen is not None and row[_UPDATED_AT] != as_utc(finish.seen):
                return FinishOutcome.CHANGED
            else:
                self._jobs[job.id] = _job_row(job)
        if owner is not None:
            for job_id in {job.id} if job is not None else {r.job_id for r in finish.records}:
                self._release(job_id, owner)
        return outcome

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
            return _job(job_id, self._jobs[job_id])
        except KeyError:
            raise JobDataNotFoundError(job_id) from None

    async def list_jobs(self) -> list[JobData]:
        self._check()
        jobs = self._jobs
        return [_job(k, jobs[k]) for k in sorted(jobs)]

    async def list_due_jobs(self, until: datetime) -> list[JobData]:
        self._check()
        cutoff, jobs = as_utc(until), self._jobs
        due = [
            (row[_NEXT_RUN], job_id)
            for job_id, row in jobs.items()
            if row[_NEXT_RUN] is not None and row[_NEXT_RUN] <= cutoff
        ]
        due.sort()  # by next run, then id
        return [_job(job_id, jobs[job_id]) for _, job_id in due]

    async def list_jobs_by_status(self, status: JobStatus) -> list[JobData]:
        self._check()
        wanted = JobStatus(status).value
        jobs = self._jobs
        return [_job(k, jobs[k]) for k in sorted(jobs) if jobs[k][_STATUS] == wanted]

    async def save_execution(self, record: ExecutionRecord) -> None:
        self._check()
        self._save_record(check_execution(record))

    def _save_record(self, record: ExecutionRecord) -> None:
        stored = _record_row(record)
        previous = self._executions.get(record.execution_id)
        if previous is not None and previous[_RECORD_JOB_ID] != record.job_id:
            self._by_job[previous[_RECORD_JOB_ID]].pop(record.execution_id, None)
        self._executions[record.execution_id] = stored
        self._by_job[record.job_id][record.execution_id] = stored

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        self._check()
        try:
            return _record(self._executions[execution_id])
        except (KeyError, TypeError):
            raise ExecutionNotFoundError(execution_id) from None

    async def list_executions(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        opts = (options or QueryOptions()).validate()
        self._check()
        check_job_id(job_id)
        rows = self._by_job.get(job_id)
        if not rows:
            return []
        return [_record(row) for row in _select(rows.values(), opts)]

    async def delete_executions(self, job_id: str | None, before: datetime) -> None:
        self._check()
        cutoff = as_utc(before)
        job_ids = list(self._by_job) if job_id is None else [check_job_id(job_id)]
        for jid in job_ids:
            records = self._by_job.get(jid)
            if not records:
                continue
            for eid in [eid for eid, r in records.items() if r[_START_TIME] < cutoff]:
                del records[eid]
                del self._executions[eid]

    async def health_check(self) -> None:
        self._check()

    # -- browsing (QueryableStore) --------------------------------------------------------

    async def query_jobs(self, query: JobQuery) -> JobPage:
        """Filtered and sorted over the stored rows; only the page becomes JobData."""
        if not isinstance(query, JobQuery):
            raise InvalidQueryError("query", query, "must be a JobQuery")
        self._check()
        # Positions in two lists, not (id, row) pairs: a million new tuples would wake
        # the garbage collector, which would walk them all, and looking rows up by id
        # again costs more than the walk through a list.
        ids, rows = list(self._jobs), list(self._jobs.values())
        keep = _job_filter(query)
        selected: Sequence[int] = (
            range(len(ids))
            if keep is None
            else [i for i, job_id in enumerate(ids) if keep(job_id, rows[i])]
        )
        page = _page(selected, _job_order(query.sort_by, ids, rows), query)
        return JobPage(jobs=tuple(_job(ids[i], rows[i]) for i in page), total=len(selected))

    async def query_executions(self, query: ExecutionQuery) -> ExecutionPage:
        if not isinstance(query, ExecutionQuery):
            raise InvalidQueryError("query", query, "must be an ExecutionQuery")
        self._check()
        if query.job_id is None:
            rows: Iterable[RecordRow] = self._executions.values()
        else:
            rows = self._by_job.get(query.job_id, {}).values()
        opts = QueryOptions(
            start_time=query.start_time,
            end_time=query.end_time,
            status=query.status,
            sort_by=query.sort_by,
            sort_desc=query.sort_desc,
            limit=query.limit,
            offset=query.offset,
        )
        selected = _matching(rows, opts)
        page = _page(selected, _SORT_KEYS[query.sort_by], opts)
        return ExecutionPage(records=tuple(map(_record, page)), total=len(selected))

    async def latest_executions(
        self, job_ids: Sequence[str], per_job: int
    ) -> Mapping[str, Sequence[ExecutionRecord]]:
        check_per_job(per_job)
        self._check()
        out: dict[str, Sequence[ExecutionRecord]] = {}
        for job_id in dict.fromkeys(map(check_job_id, job_ids)):
            rows = self._by_job.get(job_id)
            if rows and per_job:
                newest = heapq.nlargest(per_job, rows.values(), key=_SORT_KEYS["start_time"])
                out[job_id] = [_record(row) for row in newest]
        return out

    async def count_executions_by_status(
        self, start_time: datetime, end_time: datetime | None = None
    ) -> Mapping[str, int]:
        start, end = check_count_window(start_time, end_time)
        self._check()
        counts: dict[str, int] = {}
        for row in self._executions.values():
            if row[_START_TIME] >= start and (end is None or row[_START_TIME] < end):
                counts[row[_RECORD_STATUS]] = counts.get(row[_RECORD_STATUS], 0) + 1
        return counts

    # -- claims (ClaimingStore) ---------------------------------------------------------

    async def claim_job(
        self, job_id: str, scheduled_at: datetime, owner: str, lease_until: datetime, now: datetime
    ) -> JobData | None:
        self._check()
        return self._claim(check_job_id(job_id), scheduled_at, owner, lease_until, now)

    def _claim(
        self, job_id: str, scheduled_at: datetime, owner: str, lease_until: datetime, now: datetime
    ) -> JobData | None:
        row = self._jobs.get(job_id)
        if (
            row is None
            or row[_STATUS] == JobStatus.DISABLED.value
            or row[_NEXT_RUN] != scheduled_at
        ):
            return None
        held = self._claims.get(job_id)
        if held is not None and held[1] != owner and held[2] > as_utc(now):
            return None
        next_run = row[_NEXT_RUN]
        assert next_run is not None
        self._claims[job_id] = (next_run, owner, as_utc(lease_until))
        return _job(job_id, row)

    async def renew_claim(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        self._check()
        held = self._claims.get(job_id)
        if held is None or held[1] != owner:
            return False
        self._claims[job_id] = (held[0], owner, as_utc(lease_until))
        return True

    async def release_claim(self, job_id: str, owner: str) -> None:
        self._check()
        self._release(job_id, owner)

    def _release(self, job_id: str, owner: str) -> None:
        held = self._claims.get(job_id)
        if held is not None and held[1] == owner:
            del self._claims[job_id]

    async def claim_jobs(
        self,
        runs: Sequence[tuple[str, datetime]],
        owner: str,
        lease_until: datetime,
        now: datetime,
    ) -> dict[str, JobData]:
        self._check()
        claimed: dict[str, JobData] = {}
        for job_id, scheduled_at in runs:
            job = self._claim(check_job_id(job_id), scheduled_at, owner, lease_until, now)
            if job is not None:
                claimed[job_id] = job
        return claimed

    async def release_claims(self, job_ids: Sequence[str], owner: str) -> None:
        self._check()
        for job_id in job_ids:
            self._release(job_id, owner)

    async def heartbeat(self, owner: str, expires_at: datetime, now: datetime) -> list[str]:
        self._check()
        cutoff = as_utc(now)
        self._workers[check_owner(owner)] = as_utc(expires_at)
        self._workers = {w: until for w, until in self._workers.items() if until >= cutoff}
        return sorted(self._workers)

    async def leave(self, owner: str) -> None:
        self._check()
        self._workers.pop(owner, None)

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobData]:
        self._check()
        jobs = self._jobs
        return {
            job_id: _job(job_id, jobs[job_id])
            for job_id in map(check_job_id, job_ids)
            if job_id in jobs
        }

    async def list_jobs_changed_since(self, since: datetime) -> list[JobData]:
        self._check()
        cutoff = as_utc(since)
        jobs = self._jobs
        return [_job(k, jobs[k]) for k in sorted(jobs) if jobs[k][_UPDATED_AT] >= cutoff]


def _select(rows: Iterable[RecordRow], opts: QueryOptions) -> Sequence[RecordRow]:
    """``QueryOptions.apply`` on stored rows: filter, sort (ties by execution id), page."""
    return _page(_matching(rows, opts), _SORT_KEYS[opts.sort_field], opts)


def _matching(rows: Iterable[RecordRow], opts: QueryOptions) -> list[RecordRow]:
    start, end, status = opts.start_time, opts.end_time, opts.status
    return [
        r
        for r in rows
        if (start is None or r[_START_TIME] >= start)
        and (end is None or r[_START_TIME] < end)
        and (status is None or r[_RECORD_STATUS] == status)
    ]


_Row = TypeVar("_Row", int, RecordRow)


def _page(
    selected: Sequence[_Row], key: Callable[[_Row], Any], opts: QueryOptions | JobQuery
) -> Sequence[_Row]:
    """``selected`` sorted by ``key`` (unique keys) and cut to the page of ``opts``."""
    stop = None if opts.limit is None else opts.offset + opts.limit
    if stop is not None and stop * 8 < len(selected):
        # A short page of a long list ("the last run"): no need to sort it all.
        # Keys are unique (ids are), so the order is the full sort's.
        pick = heapq.nlargest if opts.sort_desc else heapq.nsmallest
        return pick(stop, selected, key=key)[opts.offset :]
    return sorted(selected, key=key, reverse=opts.sort_desc)[opts.offset : stop]


def _job_filter(query: JobQuery) -> Callable[[str, JobRow], bool] | None:
    """``job_matches`` on stored rows (every one of which is readable); None when the
    query keeps every job."""
    status = None if query.status is None else query.status.value
    task, needle = query.task, None if query.search is None else fold_case(query.search)
    if status is None and task is None and needle is None:
        return None

    def keep(job_id: str, row: JobRow) -> bool:
        if status is not None and row[_STATUS] != status:
            return False
        if task is not None and dict(row[_METADATA]).get(TASK_METADATA_KEY) != task:
            return False
        return needle is None or needle in fold_case(job_id)

    return keep


def _job_order(field: str, ids: list[str], rows: list[JobRow]) -> Callable[[int], Any]:
    """The reference order of ``apply_job_query`` over positions in ``ids`` and
    ``rows`` (statuses are their string values already)."""
    if field == "id":
        return ids.__getitem__
    index = _JOB_FIELDS[field]

    def nullable(i: int) -> tuple[bool, Any, str]:
        value = rows[i][index]
        return (value is None, value or _EPOCH, ids[i])

    def plain(i: int) -> tuple[Any, str]:
        return (rows[i][index], ids[i])

    return nullable if field in ("next_run", "last_run") else plain
