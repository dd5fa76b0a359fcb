"""Browsing any store: the store's own queries where it has them, Python otherwise.

Callers (the CLI, the web dashboard) ask :class:`StoreQueries` and never check the
store's type themselves. A store that declares :class:`~tickwork.abc.QueryableStore`
answers in one query per call; any other store is read whole and paged here, which is
correct but costs a full read per page (fine for small stores). A plain store lists
history by job only, so the fallback sees the records of jobs that still exist: the
history of a removed job shows in a store's own queries, not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from ._errors import InvalidQueryError
from ._models import ExecutionRecord, QueryOptions
from ._query_values import (
    ExecutionPage,
    ExecutionQuery,
    JobPage,
    JobQuery,
    apply_execution_query,
    apply_job_query,
    check_count_window,
    check_per_job,
    count_by_status,
    latest_by_job,
)
from .abc import QueryableStore, Store

__all__ = ["StoreQueries"]


class StoreQueries:
    """The four browsing questions, asked of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._native: QueryableStore | None = store if isinstance(store, QueryableStore) else None

    @property
    def native(self) -> bool:
        """Whether the store answers the queries itself (paged in the store)."""
        return self._native is not None

    async def query_jobs(self, query: JobQuery) -> JobPage:
        if not isinstance(query, JobQuery):
            raise InvalidQueryError("query", query, "must be a JobQuery")
        if self._native is not None:
            return await self._native.query_jobs(query)
        return apply_job_query(await self._store.list_jobs(), query)

    async def query_executions(self, query: ExecutionQuery) -> ExecutionPage:
        if not isinstance(query, ExecutionQuery):
            raise InvalidQueryError("query", query, "must be an ExecutionQuery")
        if self._native is not None:
            return await self._native.query_executions(query)
        return apply_execution_query(await self._records(query.job_id), query)

    async def latest_executions(
        self, job_ids: Sequence[str], per_job: int
    ) -> Mapping[str, Sequence[ExecutionRecord]]:
        check_per_job(per_job)
        if self._native is not None:
            return await self._native.latest_executions(job_ids, per_job)
        out: dict[str, Sequence[ExecutionRecord]] = {}
        for job_id in dict.fromkeys(job_ids) if per_job else ():
            options = QueryOptions(limit=per_job, sort_desc=True)
            found = await self._store.list_executions(job_id, options)
            if found:
                out[job_id] = latest_by_job(found, [job_id], per_job)[job_id]
        return out

    async def count_executions_by_status(
        self, start_time: datetime, end_time: datetime | None = None
    ) -> Mapping[str, int]:
        start_time, end_time = check_count_window(start_time, end_time)
        if self._native is not None:
            return await self._native.count_executions_by_status(start_time, end_time)
        options = QueryOptions(start_time=start_time, end_time=end_time)
        records: list[ExecutionRecord] = []
        for job in await self._store.list_jobs():
            records.extend(await self._store.list_executions(job.id, options))
        return count_by_status(records, start_time, end_time)

    async def _records(self, job_id: str | None) -> list[ExecutionRecord]:
        if job_id is not None:
            return await self._store.list_executions(job_id)
        out: list[ExecutionRecord] = []
        for job in await self._store.list_jobs():
            out.extend(await self._store.list_executions(job.id))
        return out
