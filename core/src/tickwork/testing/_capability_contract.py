"""Contracts of the optional store capabilities: those that make a store fast at scale,
``BulkStore`` (save many jobs at once), ``DueJobsStore`` (find due jobs without reading
every job), ``LastRecordStore`` (a job's last record without reading its history) and
``BatchRunStore`` (write the outcome of many runs at once), and the one
that keeps changes made by several processes from undoing each other,
``ConditionalUpdateStore`` (write a job only if nobody wrote it since it was read)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta, timezone

import pytest

from .._errors import JobDataAlreadyExistsError, JobDataNotFoundError
from .._models import JobStatus
from ..abc import (
    BatchRunStore,
    BulkStore,
    ConditionalBatchRunStore,
    ConditionalUpdateStore,
    DueJobsStore,
    LastRecordStore,
    Store,
)
from ._store_contract import T0, StoreContract, make_job, make_record

__all__ = [
    "BatchRunStoreContract",
    "BulkStoreContract",
    "ConditionalBatchRunStoreContract",
    "ConditionalUpdateStoreContract",
    "DueJobsStoreContract",
    "LastRecordStoreContract",
]


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


class LastRecordStoreContract(StoreContract):
    """The store contract plus ``last_saved_execution``: the record saved last."""

    def _last(self, store: Store) -> LastRecordStore:
        assert isinstance(store, LastRecordStore), (
            f"{type(store).__name__} has no last_saved_execution()"
        )
        return store

    async def test_a_job_without_records_has_none(self, store: Store) -> None:
        await store.save_job(make_job("never-ran"))
        await store.save_execution(make_record("other", "other-1"))
        assert await self._last(store).last_saved_execution("never-ran") is None
        assert await self._last(store).last_saved_execution("unknown") is None

    async def test_the_record_saved_last(self, store: Store) -> None:
        records = [make_record("job-1", f"run-{i}", minutes=i) for i in range(5)]
        for record in records:
            await store.save_execution(record)
        await store.save_execution(make_record("job-2", "later-of-another-job", minutes=9))
        assert await self._last(store).last_saved_execution("job-1") == records[-1]

    async def test_ids_that_share_a_prefix_or_look_like_patterns(self, store: Store) -> None:
        mine = make_record("a", "a-1")
        await store.save_execution(mine)
        for job_id in ("a.b", "a*", "a>", "ab", "a b"):
            await store.save_execution(make_record(job_id, f"{job_id}-1", minutes=1))
        assert await self._last(store).last_saved_execution("a") == mine
        assert await self._last(store).last_saved_execution("a*") == make_record(
            "a*", "a*-1", minutes=1
        )

    async def test_a_record_saved_again_counts_from_then(self, store: Store) -> None:
        first, second = make_record(execution_id="first"), make_record(execution_id="second")
        await store.save_execution(first)
        await store.save_execution(second)
        final = make_record(execution_id="first", status=JobStatus.FAILED, error="boom")
        await store.save_execution(final)
        assert await self._last(store).last_saved_execution("job-1") == final

    async def test_after_the_last_record_is_deleted_the_one_before(self, store: Store) -> None:
        kept = make_record(execution_id="kept", minutes=10)
        await store.save_execution(kept)
        oldest_saved_last = make_record(execution_id="imported", minutes=-60)
        await store.save_execution(oldest_saved_last)
        assert await self._last(store).last_saved_execution("job-1") == oldest_saved_last
        await store.delete_executions("job-1", T0)
        assert await self._last(store).last_saved_execution("job-1") == kept
        await store.delete_executions("job-1", T0 + timedelta(days=1))
        assert await self._last(store).last_saved_execution("job-1") is None

    async def test_records_outlive_their_job(self, store: Store) -> None:
        await store.save_job(make_job("gone"))
        record = make_record("gone", "gone-1")
        await store.save_execution(record)
        await store.delete_job("gone")
        assert await self._last(store).last_saved_execution("gone") == record

    async def test_a_copy_each_time(self, store: Store) -> None:
        await store.save_execution(make_record())
        found = await self._last(store).last_saved_execution("job-1")
        assert found is not None
        found.metadata["changed"] = "by the caller"
        assert await self._last(store).last_saved_execution("job-1") == make_record()


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


class ConditionalUpdateStoreContract(StoreContract):
    """The store contract plus ``update_job_if``: a write that loses to any write made
    since the job was read."""

    def _conditional(self, store: Store) -> ConditionalUpdateStore:
        assert isinstance(store, ConditionalUpdateStore), (
            f"{type(store).__name__} has no update_job_if()"
        )
        return store

    async def test_update_job_if_writes_a_job_nobody_changed(self, store: Store) -> None:
        await store.save_job(make_job())
        changed = make_job(status=JobStatus.DISABLED, updated_at=T0 + timedelta(seconds=1))
        assert await self._conditional(store).update_job_if(changed, T0) is True
        assert await store.get_job("job-1") == changed

    async def test_update_job_if_compares_instants_not_zones(self, store: Store) -> None:
        await store.save_job(make_job())
        changed = make_job(next_run=None, updated_at=T0 + timedelta(seconds=1))
        seen = T0.astimezone(timezone(timedelta(hours=-7)))
        assert await self._conditional(store).update_job_if(changed, seen) is True
        assert await store.get_job("job-1") == changed

    async def test_update_job_if_loses_to_a_write_made_since(self, store: Store) -> None:
        await store.save_job(make_job())
        later = T0 + timedelta(seconds=1)
        ran = make_job(next_run=None, status=JobStatus.COMPLETED, updated_at=later)
        await store.update_job(ran)  # another process finished the run meanwhile
        stale = make_job(status=JobStatus.DISABLED, updated_at=T0 + timedelta(seconds=2))
        assert await self._conditional(store).update_job_if(stale, T0) is False
        assert await store.get_job("job-1") == ran

    async def test_update_job_if_of_a_missing_job_raises(self, store: Store) -> None:
        with pytest.raises(JobDataNotFoundError):
            await self._conditional(store).update_job_if(make_job("missing"), T0)
        assert await store.list_jobs() == []

    async def test_update_job_if_keeps_other_jobs(self, store: Store) -> None:
        await store.save_job(make_job("a"))
        await store.save_job(make_job("b"))
        changed = make_job("a", status=JobStatus.FAILED, updated_at=T0 + timedelta(seconds=1))
        assert await self._conditional(store).update_job_if(changed, T0)
        assert await store.list_jobs() == [changed, make_job("b")]

    async def test_of_two_writers_that_read_the_same_version_one_wins(
        self, make_store: Callable[[], Store]
    ) -> None:
        """Two writers (two stores over one backend when it is persistent) race with the
        same ``updated_at``: exactly one write is kept, whole."""
        first = make_store()
        second = make_store() if self.persistent else first
        await first.initialize()
        await second.initialize()
        try:
            await first.save_job(make_job())
            for round_ in range(1, 6):
                seen = T0 + timedelta(seconds=round_ - 1)
                a = make_job(metadata={"by": "a"}, updated_at=T0 + timedelta(seconds=round_))
                b = make_job(metadata={"by": "b"}, updated_at=T0 + timedelta(seconds=round_))
                won = await asyncio.gather(
                    self._conditional(first).update_job_if(a, seen),
                    self._conditional(second).update_job_if(b, seen),
                )
                assert sorted(won) == [False, True], won
                assert await first.get_job("job-1") == (a if won[0] else b)
        finally:
            await first.close()
            if second is not first:
                await second.close()


class ConditionalBatchRunStoreContract(BatchRunStoreContract, ConditionalUpdateStoreContract):
    """Both contracts plus ``save_runs_if``: run writes in one go, jobs on condition."""

    def _runs_if(self, store: Store) -> ConditionalBatchRunStore:
        assert isinstance(store, ConditionalBatchRunStore), (
            f"{type(store).__name__} has no save_runs_if()"
        )
        return store

    async def test_save_runs_if_writes_jobs_nobody_changed(self, store: Store) -> None:
        await store.save_job(make_job("a"))
        await store.save_job(make_job("b"))
        later = T0 + timedelta(seconds=1)
        jobs = [make_job("a", status=JobStatus.COMPLETED, updated_at=later), make_job("b")]
        records = [make_record("a", "a-1")]
        outcome = await self._runs_if(store).save_runs_if(records, jobs, {"a": T0})
        assert outcome == (set(), set())
        assert await store.list_jobs() == jobs
        assert await store.list_executions("a") == records

    async def test_save_runs_if_leaves_a_changed_job_and_writes_the_rest(
        self, store: Store
    ) -> None:
        for job_id in ("changed", "kept", "plain"):
            await store.save_job(make_job(job_id))
        paused = make_job(
            "changed", status=JobStatus.DISABLED, updated_at=T0 + timedelta(seconds=1)
        )
        await store.update_job(paused)  # another process, meanwhile
        later = T0 + timedelta(seconds=5)
        outcome_jobs = [
            make_job(job_id, status=JobStatus.COMPLETED, next_run=None, updated_at=later)
            for job_id in ("changed", "kept", "plain")
        ]
        records = [make_record("changed", "c-1"), make_record("kept", "k-1", minutes=1)]
        missing, changed = await self._runs_if(store).save_runs_if(
            records, outcome_jobs, {"changed": T0, "kept": T0}
        )
        assert (missing, changed) == (set(), {"changed"})
        assert await store.list_jobs() == [paused, outcome_jobs[1], outcome_jobs[2]]
        assert await store.list_executions("changed") == [records[0]]  # records always

    async def test_save_runs_if_reports_missing_jobs(self, store: Store) -> None:
        await store.save_job(make_job("kept"))
        jobs = [make_job("gone-checked"), make_job("gone-plain"), make_job("kept")]
        missing, changed = await self._runs_if(store).save_runs_if(
            [], jobs, {"gone-checked": T0, "kept": T0}
        )
        assert (missing, changed) == ({"gone-checked", "gone-plain"}, set())
        assert await store.list_jobs() == [make_job("kept")]

    async def test_save_runs_if_of_nothing(self, store: Store) -> None:
        assert await self._runs_if(store).save_runs_if([], [], {}) == (set(), set())

    async def test_of_two_batches_that_read_the_same_version_one_wins(
        self, make_store: Callable[[], Store]
    ) -> None:
        first = make_store()
        second = make_store() if self.persistent else first
        await first.initialize()
        await second.initialize()
        try:
            ids = [f"job-{i}" for i in range(5)]
            for job_id in ids:
                await first.save_job(make_job(job_id))
            later = T0 + timedelta(seconds=1)
            a = [make_job(job_id, metadata={"by": "a"}, updated_at=later) for job_id in ids]
            b = [make_job(job_id, metadata={"by": "b"}, updated_at=later) for job_id in ids]
            seen = dict.fromkeys(ids, T0)
            (_, lost_a), (_, lost_b) = await asyncio.gather(
                self._runs_if(first).save_runs_if([], a, seen),
                self._runs_if(second).save_runs_if([], b[::-1], seen),
            )
            assert lost_a.isdisjoint(lost_b), (lost_a, lost_b)
            assert lost_a | lost_b == set(ids), (lost_a, lost_b)
            for job in await first.list_jobs():
                assert job.metadata["by"] == ("b" if job.id in lost_a else "a")
        finally:
            await first.close()
            if second is not first:
                await second.close()
