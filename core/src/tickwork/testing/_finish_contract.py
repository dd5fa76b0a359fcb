"""The contract of ``FinishingStore.finish_runs``: a run's record, its job's new state
(on condition of the version its claim handed back) and the release of its claim, many
runs in one call.

:class:`FinishingStoreContract` holds what every finishing store keeps;
:class:`FinishingClaimingStoreContract` adds the claim releases, for a store that is
also a :class:`~tickwork.abc.ClaimingStore` (a store without claims has none to drop,
and ignores ``release_owner``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta, timezone

import pytest

from .._errors import InvalidJobDataError
from .._models import ExecutionStatus, FinishOutcome, JobData, JobStatus, RunFinish
from ..abc import FinishingStore, Store
from ._claim_contract import LEASE, ClaimingStoreContract
from ._store_contract import T0, StoreContract, make_job, make_record

__all__ = ["FinishingClaimingStoreContract", "FinishingStoreContract"]

STORED, CHANGED, MISSING = FinishOutcome.STORED, FinishOutcome.CHANGED, FinishOutcome.MISSING
T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)


def _ran(job_id: str = "job-1", at: timedelta = timedelta(seconds=1), **changes: object) -> JobData:
    """``job_id`` as a finished run leaves it: moved on, with a new version."""
    fields: dict[str, object] = {
        "status": JobStatus.COMPLETED,
        "last_run": T0 + timedelta(minutes=5),
        "next_run": T0 + timedelta(minutes=10),
        "updated_at": T0 + at,
    }
    fields.update(changes)
    return make_job(job_id, **fields)


class FinishingStoreContract(StoreContract):
    """The store contract plus ``finish_runs``: records always, jobs (on condition),
    one outcome per finish, applied in order."""

    def _finishing(self, store: Store) -> FinishingStore:
        assert isinstance(store, FinishingStore), f"{type(store).__name__} has no finish_runs()"
        return store

    async def test_finish_runs_of_nothing(self, store: Store) -> None:
        assert await self._finishing(store).finish_runs([]) == []

    async def test_finish_runs_writes_records_and_jobs(self, store: Store) -> None:
        await store.save_job(make_job("a"))
        await store.save_job(make_job("b"))
        records = (make_record("a", "a-1"), make_record("a", "a-2", minutes=1))
        ran_a, ran_b = _ran("a"), _ran("b", metadata={"x": "y"})
        outcomes = await self._finishing(store).finish_runs(
            [RunFinish(records=records, job=ran_a), RunFinish(job=ran_b)]
        )
        assert outcomes == [STORED, STORED]
        assert await store.list_jobs() == [ran_a, ran_b]
        assert await store.list_executions("a") == list(records)

    async def test_finish_runs_writes_a_job_nobody_changed(self, store: Store) -> None:
        await store.save_job(make_job())
        ran = _ran()
        assert await self._finishing(store).finish_runs([RunFinish(job=ran, seen=T0)]) == [STORED]
        assert await store.get_job("job-1") == ran

    async def test_finish_runs_compares_instants_not_zones(self, store: Store) -> None:
        await store.save_job(make_job())
        seen = T0.astimezone(timezone(timedelta(hours=5, minutes=30)))
        ran = _ran()
        assert await self._finishing(store).finish_runs([RunFinish(job=ran, seen=seen)]) == [STORED]
        assert await store.get_job("job-1") == ran

    async def test_finish_runs_leaves_a_job_changed_since(self, store: Store) -> None:
        await store.save_job(make_job())
        paused = make_job(status=JobStatus.DISABLED, updated_at=T1)
        await store.update_job(paused)  # another process, during the run
        record = make_record()
        outcome = await self._finishing(store).finish_runs(
            [RunFinish(records=(record,), job=_ran(at=timedelta(seconds=2)), seen=T0)]
        )
        assert outcome == [CHANGED]
        assert await store.get_job("job-1") == paused
        assert await store.list_executions("job-1") == [record]  # records always

    async def test_finish_runs_writes_unconditionally_without_seen(self, store: Store) -> None:
        await store.save_job(make_job())
        await store.update_job(make_job(status=JobStatus.DISABLED, updated_at=T1))
        ran = _ran(at=timedelta(seconds=2))
        assert await self._finishing(store).finish_runs([RunFinish(job=ran)]) == [STORED]
        assert await store.get_job("job-1") == ran

    async def test_finish_runs_reports_missing_jobs_and_writes_no_job(self, store: Store) -> None:
        await store.save_job(make_job("kept"))
        records = (make_record("gone", "gone-1"),)
        outcomes = await self._finishing(store).finish_runs(
            [
                RunFinish(records=records, job=_ran("gone"), seen=T0),
                RunFinish(job=_ran("gone-plain")),
                RunFinish(job=_ran("kept"), seen=T0),
            ]
        )
        assert outcomes == [MISSING, MISSING, STORED]
        assert await store.list_jobs() == [_ran("kept")]
        assert await store.list_executions("gone") == list(records)  # history outlives it

    async def test_a_finish_with_records_only(self, store: Store) -> None:
        await store.save_job(make_job())
        records = (make_record(status=ExecutionStatus.MISSED), make_record("job-1", "exec-2", 1))
        outcomes = await self._finishing(store).finish_runs(
            [RunFinish(records=records), RunFinish(records=(make_record("nojob", "n-1"),))]
        )
        assert outcomes == [STORED, STORED]
        assert await store.list_executions("job-1") == list(records)
        assert len(await store.list_executions("nojob")) == 1
        assert await store.list_jobs() == [make_job()]  # untouched

    async def test_finish_runs_replaces_a_record_saved_before(self, store: Store) -> None:
        await store.save_execution(make_record(status=JobStatus.RUNNING))
        final = make_record(status=JobStatus.FAILED, error="boom")
        await self._finishing(store).finish_runs([RunFinish(records=(final,))])
        assert await store.list_executions("job-1") == [final]

    async def test_finishes_of_one_job_apply_in_order(self, store: Store) -> None:
        """Each finish sees the writes of those before it in the same call."""
        await store.save_job(make_job())
        first, second = _ran(at=timedelta(seconds=1)), _ran(at=timedelta(seconds=2))
        stale = _ran(at=timedelta(seconds=3), status=JobStatus.FAILED)
        running = make_record(status=JobStatus.RUNNING)
        done = make_record(status=JobStatus.COMPLETED)
        outcomes = await self._finishing(store).finish_runs(
            [
                RunFinish(records=(running,), job=first, seen=T0),
                RunFinish(records=(done,), job=second, seen=T1),  # sees the first
                RunFinish(job=stale, seen=T0),  # read before the first: lost
            ]
        )
        assert outcomes == [STORED, STORED, CHANGED]
        assert await store.get_job("job-1") == second
        assert await store.list_executions("job-1") == [done]  # the later one replaced it

    async def test_an_unconditional_finish_moves_the_version_for_those_after_it(
        self, store: Store
    ) -> None:
        await store.save_job(make_job())
        plain = _ran(at=timedelta(seconds=1))
        after = _ran(at=timedelta(seconds=2), status=JobStatus.FAILED)
        outcomes = await self._finishing(store).finish_runs(
            [RunFinish(job=plain), RunFinish(job=after, seen=T0), RunFinish(job=after, seen=T1)]
        )
        assert outcomes == [STORED, CHANGED, STORED]
        assert await store.get_job("job-1") == after

    async def test_finish_runs_of_many_jobs(self, store: Store) -> None:
        """More finishes than one statement or one request takes; every third job is
        missing and every third conditional write loses."""
        ids = [f"job-{i:04d}" for i in range(600)]
        for i, job_id in enumerate(ids):
            if i % 3 != 1:
                await store.save_job(make_job(job_id, updated_at=T1 if i % 3 == 2 else T0))
        finishes = [
            RunFinish(records=(make_record(job_id, f"run-{job_id}"),), job=_ran(job_id), seen=T0)
            for job_id in ids
        ]
        outcomes = await self._finishing(store).finish_runs(finishes)
        expected = [(STORED, MISSING, CHANGED)[i % 3] for i in range(len(ids))]
        assert outcomes == expected
        stored = {job.id: job for job in await store.list_jobs()}
        assert stored[ids[0]] == _ran(ids[0])
        assert stored[ids[2]] == make_job(ids[2], updated_at=T1)
        assert ids[1] not in stored
        assert len(await store.list_executions(ids[1])) == 1

    async def test_finish_runs_keeps_copies(self, store: Store) -> None:
        await store.save_job(make_job())
        ran = _ran()
        await self._finishing(store).finish_runs([RunFinish(job=ran, seen=T0)])
        ran.metadata["changed"] = "after finishing"
        assert await store.get_job("job-1") == _ran()

    async def test_finish_runs_checks_every_finish_before_writing(self, store: Store) -> None:
        """A job no store can write (here the stand-in for a row that could not be
        read) fails the call before anything of it is written."""
        await store.save_job(make_job())
        bad = JobData.unreadable_row("job-1", "status: 'paused?' is not a job status")
        with pytest.raises(InvalidJobDataError):
            await self._finishing(store).finish_runs(
                [
                    RunFinish(records=(make_record(),), job=_ran(), seen=T0),
                    RunFinish(job=bad),
                ]
            )
        assert await store.get_job("job-1") == make_job()
        assert await store.list_executions("job-1") == []

    async def test_of_two_calls_that_saw_the_same_version_one_wins(
        self, make_store: Callable[[], Store]
    ) -> None:
        """Two finishers (two stores over one backend when it is persistent) race with
        the same ``seen``: exactly one write is kept, whole; both records are."""
        first = make_store()
        second = make_store() if self.persistent else first
        await first.initialize()
        await second.initialize()
        try:
            await first.save_job(make_job())
            for round_ in range(1, 6):
                seen = T0 + timedelta(seconds=round_ - 1)
                at = timedelta(seconds=round_)
                a = _ran(metadata={"by": "a"}, at=at)
                b = _ran(metadata={"by": "b"}, at=at)
                record_a = make_record(execution_id=f"a-{round_}")
                record_b = make_record(execution_id=f"b-{round_}")
                (won_a,), (won_b,) = await asyncio.gather(
                    self._finishing(first).finish_runs(
                        [RunFinish(records=(record_a,), job=a, seen=seen)]
                    ),
                    self._finishing(second).finish_runs(
                        [RunFinish(records=(record_b,), job=b, seen=seen)]
                    ),
                )
                assert sorted([won_a, won_b]) == sorted([STORED, CHANGED]), (won_a, won_b)
                assert await first.get_job("job-1") == (a if won_a is STORED else b)
            assert len(await first.list_executions("job-1")) == 10  # every record
        finally:
            await first.close()
            if second is not first:
                await second.close()


class FinishingClaimingStoreContract(FinishingStoreContract, ClaimingStoreContract):
    """``finish_runs`` on a store with claims: ``release_owner``'s claim on the job is
    dropped once the job is written or found missing, and kept when the write lost."""

    DUE = T0 + timedelta(minutes=5)

    async def _claimed(self, store: Store, job_id: str = "job-1", owner: str = "a") -> None:
        s = self._claiming(store)
        await s.save_job(make_job(job_id, next_run=self.DUE))
        assert await s.claim_job(job_id, self.DUE, owner, T0 + LEASE, T0) is not None

    async def _holds(self, store: Store, job_id: str, owner: str) -> bool:
        return await self._claiming(store).renew_claim(job_id, owner, T0 + 2 * LEASE)

    async def test_a_stored_finish_releases_the_claim(self, store: Store) -> None:
        await self._claimed(store)
        next_due = self.DUE + timedelta(minutes=5)
        ran = _ran(next_run=next_due)
        outcome = await self._finishing(store).finish_runs(
            [RunFinish(records=(make_record(),), job=ran, seen=T0, release_owner="a")]
        )
        assert outcome == [STORED]
        assert not await self._holds(store, "job-1", "a")
        # The next run is free for anyone.
        claimed = await self._claiming(store).claim_job("job-1", next_due, "b", T0 + LEASE, T0)
        assert claimed == ran

    async def test_a_changed_finish_keeps_the_claim(self, store: Store) -> None:
        await self._claimed(store)
        paused = make_job(next_run=self.DUE, status=JobStatus.DISABLED, updated_at=T1)
        await store.update_job(paused)
        outcome = await self._finishing(store).finish_runs(
            [RunFinish(job=_ran(at=timedelta(seconds=2)), seen=T0, release_owner="a")]
        )
        assert outcome == [CHANGED]
        assert await store.get_job("job-1") == paused
        assert await self._holds(store, "job-1", "a")

    async def test_a_missing_job_releases_the_claim(self, store: Store) -> None:
        await self._claimed(store)
        await self._claimed(store, "other")
        await store.delete_job("job-1")
        outcome = await self._finishing(store).finish_runs(
            [
                RunFinish(job=_ran(), seen=T0, release_owner="a"),
                RunFinish(job=_ran("never-stored"), release_owner="a"),
            ]
        )
        assert outcome == [MISSING, MISSING]
        assert not await self._holds(store, "job-1", "a")
        assert await self._holds(store, "other", "a")  # other jobs' claims stay

    async def test_only_the_given_owners_claim_is_released(self, store: Store) -> None:
        await self._claimed(store, owner="b")
        outcome = await self._finishing(store).finish_runs(
            [RunFinish(job=_ran(next_run=self.DUE), seen=T0, release_owner="a")]
        )
        assert outcome == [STORED]
        assert await self._holds(store, "job-1", "b")  # b's claim stays

    async def test_no_release_owner_keeps_the_claim(self, store: Store) -> None:
        await self._claimed(store)
        outcome = await self._finishing(store).finish_runs([RunFinish(job=_ran(), seen=T0)])
        assert outcome == [STORED]
        assert await self._holds(store, "job-1", "a")

    async def test_a_finish_without_a_job_releases_the_claim_on_its_records_job(
        self, store: Store
    ) -> None:
        """A run decided against (the job was paused meanwhile, say) leaves a record and
        gives its claim back: the job is the one its records name."""
        await self._claimed(store)
        record = make_record(status=ExecutionStatus.SKIPPED_OVERLAP)
        outcome = await self._finishing(store).finish_runs(
            [RunFinish(records=(record,), release_owner="a")]
        )
        assert outcome == [STORED]
        assert not await self._holds(store, "job-1", "a")
        assert await store.get_job("job-1") == make_job(next_run=self.DUE)
        assert await store.list_executions("job-1") == [record]

    async def test_a_later_finish_releases_a_claim_an_earlier_one_kept(self, store: Store) -> None:
        """The scheduler's retry after CHANGED can travel in the same call as the
        finish that lost; the claim goes with the write that wins."""
        await self._claimed(store)
        await store.update_job(make_job(next_run=self.DUE, updated_at=T1))
        ran = _ran(at=timedelta(seconds=2))
        outcome = await self._finishing(store).finish_runs(
            [
                RunFinish(job=ran, seen=T0, release_owner="a"),
                RunFinish(job=ran, seen=T1, release_owner="a"),
            ]
        )
        assert outcome == [CHANGED, STORED]
        assert not await self._holds(store, "job-1", "a")
        assert await store.get_job("job-1") == ran

    async def test_finish_runs_releases_many_claims(self, store: Store) -> None:
        s = self._claiming(store)
        ids = [f"job-{i:03d}" for i in range(300)]
        for job_id in ids:
            await s.save_job(make_job(job_id, next_run=self.DUE))
        for job_id in ids:
            assert await s.claim_job(job_id, self.DUE, "a", T0 + LEASE, T0) is not None
        outcomes = await self._finishing(store).finish_runs(
            [RunFinish(job=_ran(job_id), seen=T0, release_owner="a") for job_id in ids]
        )
        assert outcomes == [STORED] * len(ids)
        assert not any([await self._holds(store, job_id, "a") for job_id in ids[::50]])
