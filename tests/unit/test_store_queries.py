"""Browsing queries on the memory store, and through StoreQueries on a store without
them: both run the query contract against the reference functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest

from tickwork import (
    ExecutionPage,
    ExecutionQuery,
    ExecutionRecord,
    JobData,
    JobPage,
    JobQuery,
    JobStatus,
    MemoryStore,
    QueryOptions,
    StoreQueries,
)
from tickwork.abc import QueryableStore, Store
from tickwork.testing import QueryContract, make_job, make_record


class TestMemoryStoreQueries(QueryContract):
    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return MemoryStore


class PlainStore:
    """The Store methods of a memory store and nothing else (no capability)."""

    def __init__(self) -> None:
        self._inner = MemoryStore()
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name not in _STORE_METHODS:
            raise AttributeError(name)
        self.calls.append(name)
        return getattr(self._inner, name)


_STORE_METHODS = frozenset(
    {
        "initialize",
        "close",
        "save_job",
        "update_job",
        "delete_job",
        "get_job",
        "list_jobs",
        "list_jobs_by_status",
        "save_execution",
        "get_execution",
        "list_executions",
        "delete_executions",
        "health_check",
    }
)


class FallbackStore:
    """A plain store with StoreQueries' answers (in Python) as its queries."""

    def __init__(self) -> None:
        self.plain = PlainStore()
        self.queries = StoreQueries(self.plain)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.plain, name)

    async def query_jobs(self, query: JobQuery) -> JobPage:
        return await self.queries.query_jobs(query)

    async def query_executions(self, query: ExecutionQuery) -> ExecutionPage:
        return await self.queries.query_executions(query)

    async def latest_executions(
        self, job_ids: Sequence[str], per_job: int
    ) -> Mapping[str, Sequence[ExecutionRecord]]:
        return await self.queries.latest_executions(job_ids, per_job)

    async def count_executions_by_status(
        self, start_time: datetime, end_time: datetime | None = None
    ) -> Mapping[str, int]:
        return await self.queries.count_executions_by_status(start_time, end_time)


class TestStoreQueriesFallback(QueryContract):
    """StoreQueries over a store without the capability answers as the reference does
    (over the history of the jobs that exist: a plain store lists history by job)."""

    lists_history_of_removed_jobs = False

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return FallbackStore


def test_the_memory_store_is_queryable() -> None:
    assert isinstance(MemoryStore(), QueryableStore)
    assert StoreQueries(MemoryStore()).native


async def test_store_queries_use_the_plain_methods_of_a_store_without_them() -> None:
    store = PlainStore()
    assert not isinstance(store, QueryableStore)
    queries = StoreQueries(store)
    assert not queries.native
    await store.initialize()
    await store.save_job(make_job("a", status=JobStatus.FAILED))
    await store.save_job(make_job("b"))
    await store.save_execution(make_record("a", "a-1"))
    store.calls.clear()
    page = await queries.query_jobs(JobQuery(status=JobStatus.FAILED))
    assert [j.id for j in page.jobs] == ["a"]
    assert page.total == 1
    assert store.calls == ["list_jobs"]
    latest = await queries.latest_executions(["a", "b"], 1)
    assert {k: [r.execution_id for r in v] for k, v in latest.items()} == {"a": ["a-1"]}


async def test_store_queries_answer_from_the_store_that_has_them() -> None:
    store = MemoryStore()
    await store.initialize()
    job = make_job("only")
    await store.save_job(job)
    queries = StoreQueries(store)
    assert await queries.query_jobs(JobQuery(search="ONL")) == JobPage(jobs=(job,), total=1)
    assert await store.list_executions("only", QueryOptions()) == []


def test_job_data_is_copied_out_of_a_page() -> None:
    page = JobPage(jobs=(make_job(),), total=1)
    assert isinstance(page.jobs[0], JobData)
