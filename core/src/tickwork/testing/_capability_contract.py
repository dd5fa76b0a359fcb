"""Contracts of the optional store capabilities that make a store fast at scale:
``BulkStore`` (save many jobs at once), ``DueJobsStore`` (find due jobs without reading
every job) and ``BatchRunStore`` (write the outcome of many runs at once)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .._errors import JobDataAlreadyExistsError
from .._models import JobStatus
from ..abc import BatchRunStore, BulkStore, DueJobsStore, Store
from ._store_contract import T0, StoreContract, make_job, make_record

__all__ = ["BatchRunStoreContract", "BulkStoreContract", "DueJobsStoreContract"]


class BulkStoreContract(StoreContract):
    """The store contract plus ``save_jobs``: all of the jobs, or none."""

    def _bulk(self, store: Store) -> BulkStore:
        assert isinstance(store, BulkStore), f"{type(store).__name__} has no save_jobs()"
        return store

    async def test_save_jobs_saves_every_job(self, store: Store) -> None:
        jobs = [make_job(f"job-{i:03d}", next_run=T0 + timedelta(seconds=i)) for i in range(50)]
        await self._bulk(store).save_jobs(jobs[::-1])
        assert await store.list_jobs() == jobs

    async def test_save_jobs_of_nothing(self, store: Store) -> None:
        await self._bulk(store).save_jobs([])
        assert await store.list_jobs() == []

    async def test_save_jobs_is_all_or_none_when_an_id_exists(self, store: Store) -> None:
        await store.save_job(make_job("taken"))
        with pytest.raises(JobDataAlreadyExistsError):
            await self._bulk(store).save_jobs([make_job("new"), make_job("taken")])
        assert [job.id for job in await store.list_jobs()] == ["taken"]

    async def test_save_jobs_rejects_an_id_given_twice(self, store: Store) -> None:
        with pytest.raises(JobDataAlreadyExistsError):
            await self._bulk(store).save_jobs([make_job("twice"), make_job("twice")])
        assert await store.list_jobs() == []

    async def test_save_jobs_keeps_copies(self, store: Store) -> None:
        job = make_job()
        await self._bulk(store).save_jobs([job])
        job.metadata["changed"] = "after saving"
        job.status = JobStatus.FAILED
        assert await store.get_job(job.id) == make_job()


class DueJobsStoreContract(StoreContract):
    """The store contract plus ``list_due_jobs``."""

    def _due(self, store: Store) -> DueJobsStore:
        assert isinstance(store, DueJobsStore), f"{type(store).__name__} has no list_due_jobs()"
        return store

    async def test_list_due_jobs(self, store: Store) -> None:
        now = T0 + timedelta(hours=1)
        await store.save_job(make_job("late-b", next_run=now - timedelta(minutes=5)))
        await store.save_job(make_job("late-a", next_run=now - timedelta(minutes=5)))
        await store.save_job(make_job("oldest", next_run=now - timedelta(days=3)))
        await store.save_job(make_job("exactly-now", next_run=now))
        await store.save_job(
            make_job("paused", next_run=now - timedelta(minutes=1), status=JobStatus.DISABLED)
        )
        await store.save_job(make_job("later", next_run=now + timedelta(microseconds=1)))
        await store.save_job(make_job("never", next_run=None))
        due = await self._due(store).list_due_jobs(now)
        assert [job.id for job in due] == ["oldest", "late-a", "late-b", "paused", "exactly-now"]
        assert due[0] == await store.get_job("oldest")

    async def test_list_due_jobs_of_an_empty_store(self, store: Store) -> None:
        assert await self._due(store).list_due_jobs(T0) == []


class BatchRunStoreContract(StoreContract):
    """The store contract plus ``save_runs``."""

    def _batch(self, store: Store) -> BatchRunStore:
        assert isinstance(store, BatchRunStore), f"{type(store).__name__} has no save_runs()"
        return store

    async def test_save_runs_writes_records_and_jobs(self, store: Store) -> None:
        await store.save_job(make_job("a"))
        await store.save_job(make_job("b"))
        records = [make_record("a", "a-1"), make_record("b", "b-1", minutes=1)]
        jobs = [
            make_job("a", status=JobStatus.COMPLETED),
            make_job("b", last_run=T0 + timedelta(days=1)),
        ]
        assert await self._batch(store).save_runs(records, jobs) == set()
        assert await store.list_executions("a") == [records[0]]
        assert await store.list_executions("b") == [records[1]]
        assert await store.list_jobs() == jobs

    async def test_save_runs_reports_missing_jobs_and_writes_the_rest(self, store: Store) -> None:
        await store.save_job(make_job("kept"))
        updated = make_job("kept", status=JobStatus.FAILED)
        missing = await self._batch(store).save_runs(
            [make_record("gone", "gone-1")], [make_job("gone"), updated]
        )
        assert missing == {"gone"}
        assert await store.list_jobs() == [updated]
        assert len(await store.list_executions("gone")) == 1  # history outlives its job

    async def test_save_runs_replaces_a_record_saved_before(self, store: Store) -> None:
        await store.save_execution(make_record(status=JobStatus.RUNNING))
        final = make_record(status=JobStatus.FAILED, error="boom")
        await self._batch(store).save_runs([final], [])
        assert await store.list_executions("job-1") == [final]

    async def test_save_runs_of_nothing(self, store: Store) -> None:
        assert await self._batch(store).save_runs([], []) == set()
