"""The claim contract: every rule of ``tickwork.abc.ClaimingStore`` as a test."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from .._models import JobStatus
from ..abc import BatchClaimingStore, ClaimingStore, Store
from ._store_contract import T0, StoreContract, make_job

__all__ = ["BatchClaimingStoreContract", "ClaimingStoreContract"]

LEASE = timedelta(seconds=30)


class ClaimingStoreContract(StoreContract):
    """The store contract plus the claims that let several schedulers share a store."""

    def _claiming(self, store: Store) -> ClaimingStore:
        assert isinstance(store, ClaimingStore), f"{type(store).__name__} cannot claim runs"
        return store

    async def test_claim_returns_the_job_once(self, store: Store) -> None:
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        got = await s.claim_job("job-1", due, "a", T0 + LEASE, T0)
        assert got is not None
        assert got == make_job(next_run=due)
        assert await s.claim_job("job-1", due, "b", T0 + LEASE, T0) is None
        # The holder may claim again (a retry after a lost answer) and extends the lease.
        assert await s.claim_job("job-1", due, "a", T0 + 2 * LEASE, T0) is not None

    async def test_claim_needs_the_matching_next_run(self, store: Store) -> None:
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        assert (
            await s.claim_job("job-1", due - timedelta(microseconds=1), "a", T0 + LEASE, T0) is None
        )
        assert await s.claim_job("missing", due, "a", T0 + LEASE, T0) is None
        await s.save_job(make_job("off", next_run=due, status=JobStatus.DISABLED))
        assert await s.claim_job("off", due, "a", T0 + LEASE, T0) is None
        await s.save_job(make_job("never", next_run=None))
        assert await s.claim_job("never", due, "a", T0 + LEASE, T0) is None

    async def test_expired_claim_can_be_taken_over(self, store: Store) -> None:
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        assert await s.claim_job("job-1", due, "a", T0 + LEASE, T0) is not None
        assert await s.claim_job("job-1", due, "b", T0 + 2 * LEASE, T0 + LEASE / 2) is None
        later = T0 + LEASE + timedelta(seconds=1)
        assert await s.claim_job("job-1", due, "b", later + LEASE, later) is not None
        assert not await s.renew_claim("job-1", "a", later + LEASE)
        assert await s.renew_claim("job-1", "b", later + 2 * LEASE)

    async def test_a_claim_expires_exactly_at_its_lease_until(self, store: Store) -> None:
        """A claim blocks others while ``lease_until`` is after ``now``: one microsecond
        before it the claim holds, at it the run is free."""
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        lease_end = T0 + LEASE
        assert await s.claim_job("job-1", due, "a", lease_end, T0) is not None
        just_before = lease_end - timedelta(microseconds=1)
        assert await s.claim_job("job-1", due, "b", lease_end + LEASE, just_before) is None
        assert await s.claim_job("job-1", due, "b", lease_end + LEASE, lease_end) is not None

    async def test_a_deleted_jobs_claim_does_not_outlive_it(self, store: Store) -> None:
        """Deleting a job drops its claim: a job added again with the same id can be
        claimed at once, not only after the old lease has run out."""
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        assert await s.claim_job("job-1", due, "a", T0 + LEASE, T0) is not None
        await s.delete_job("job-1")
        await s.save_job(make_job(next_run=due))
        assert await s.claim_job("job-1", due, "b", T0 + LEASE, T0) is not None
        assert not await s.renew_claim("job-1", "a", T0 + 2 * LEASE)

    async def test_renewed_claim_is_not_taken_over(self, store: Store) -> None:
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        assert await s.claim_job("job-1", due, "a", T0 + LEASE, T0) is not None
        assert await s.renew_claim("job-1", "a", T0 + 3 * LEASE)
        at = T0 + 2 * LEASE
        assert await s.claim_job("job-1", due, "b", at + LEASE, at) is None

    async def test_release_frees_the_job(self, store: Store) -> None:
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        assert await s.claim_job("job-1", due, "a", T0 + LEASE, T0) is not None
        await s.release_claim("job-1", "b")  # not the holder: nothing happens
        assert await s.claim_job("job-1", due, "b", T0 + LEASE, T0) is None
        await s.release_claim("job-1", "a")
        await s.release_claim("job-1", "a")  # twice is harmless
        assert not await s.renew_claim("job-1", "a", T0 + LEASE)
        assert await s.claim_job("job-1", due, "b", T0 + LEASE, T0) is not None

    async def test_a_held_claim_blocks_a_rescheduled_run(self, store: Store) -> None:
        # One job never runs twice at once: while "a" runs the old time, a new next_run
        # (set by another process) cannot be claimed until "a" releases or expires.
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        assert await s.claim_job("job-1", due, "a", T0 + LEASE, T0) is not None
        moved = due + timedelta(hours=1)
        await s.update_job(make_job(next_run=moved))
        assert await s.claim_job("job-1", moved, "b", T0 + LEASE, T0) is None
        await s.release_claim("job-1", "a")
        assert await s.claim_job("job-1", moved, "b", T0 + LEASE, T0) is not None

    async def test_concurrent_claims_have_one_winner(self, store: Store) -> None:
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        for i in range(10):
            await s.save_job(make_job(f"j{i}", next_run=due))
        results = await asyncio.gather(
            *(
                s.claim_job(f"j{i}", due, owner, T0 + LEASE, T0)
                for i in range(10)
                for owner in ("a", "b", "c")
            )
        )
        winners = [r for r in results if r is not None]
        assert len(winners) == 10
        assert sorted(w.id for w in winners) == [f"j{i}" for i in range(10)]

    async def test_deleted_job_cannot_be_claimed(self, store: Store) -> None:
        s = self._claiming(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job(next_run=due))
        assert await s.claim_job("job-1", due, "a", T0 + LEASE, T0) is not None
        await s.delete_job("job-1")
        assert await s.claim_job("job-1", due, "b", T0 + 2 * LEASE, T0 + 2 * LEASE) is None
        await s.save_job(make_job(next_run=due))
        later = T0 + 2 * LEASE
        assert await s.claim_job("job-1", due, "b", later + LEASE, later) is not None

    async def test_list_jobs_changed_since(self, store: Store) -> None:
        s = self._claiming(store)
        await s.save_job(make_job("old", updated_at=T0 - timedelta(hours=1)))
        await s.save_job(make_job("edge", updated_at=T0))
        await s.save_job(make_job("new", updated_at=T0 + timedelta(seconds=1)))
        assert [j.id for j in await s.list_jobs_changed_since(T0)] == ["edge", "new"]
        assert await s.list_jobs_changed_since(T0 + timedelta(days=1)) == []

    async def test_shared_flag(self, store: Store) -> None:
        assert isinstance(self._claiming(store).shared, bool)


class BatchClaimingStoreContract(ClaimingStoreContract):
    """The claim contract plus ``claim_jobs``, ``release_claims`` and ``get_jobs``:
    each run of a batch follows the single-run rules on its own."""

    def _batch(self, store: Store) -> BatchClaimingStore:
        assert isinstance(store, BatchClaimingStore), (
            f"{type(store).__name__} cannot claim runs in batches"
        )
        return store

    async def test_claim_jobs_claims_each_run_on_its_own(self, store: Store) -> None:
        s = self._batch(store)
        due = T0 + timedelta(minutes=5)
        await s.save_job(make_job("free", next_run=due))
        await s.save_job(make_job("held", next_run=due))
        await s.save_job(make_job("moved", next_run=due + timedelta(hours=1)))
        await s.save_job(make_job("off", next_run=due, status=JobStatus.DISABLED))
        await s.save_job(make_job("mine", next_run=due))
        assert await s.claim_job("held", due, "b", T0 + LEASE, T0) is not None
        assert await s.claim_job("mine", due, "a", T0 + LEASE, T0) is not None
        runs = [(job_id, due) for job_id in ("free", "held", "moved", "off", "gone", "mine")]
        claimed = await s.claim_jobs(runs, "a", T0 + 2 * LEASE, T0)
        assert sorted(claimed) == ["free", "mine"]
        assert claimed["free"] == make_job("free", next_run=due)
        # What was claimed is held: another owner cannot take it, the holder renews it.
        assert await s.claim_job("free", due, "b", T0 + LEASE, T0) is None
        assert await s.renew_claim("mine", "a", T0 + 3 * LEASE)
        assert not await s.renew_claim("held", "a", T0 + 3 * LEASE)

    async def test_claim_jobs_takes_over_expired_claims(self, store: Store) -> None:
        s = self._batch(store)
        due = T0 + timedelta(minutes=5)
        for job_id in ("x", "y"):
            await s.save_job(make_job(job_id, next_run=due))
        assert await s.claim_job("x", due, "a", T0 + LEASE, T0) is not None
        assert await s.claim_job("y", due, "a", T0 + 3 * LEASE, T0) is not None
        later = T0 + 2 * LEASE
        claimed = await s.claim_jobs([("x", due), ("y", due)], "b", later + LEASE, later)
        assert list(claimed) == ["x"]

    async def test_claim_jobs_honours_the_lease_boundary(self, store: Store) -> None:
        s = self._batch(store)
        due = T0 + timedelta(minutes=5)
        for job_id in ("x", "y"):
            await s.save_job(make_job(job_id, next_run=due))
        lease_end = T0 + LEASE
        await s.claim_jobs([("x", due), ("y", due)], "a", lease_end, T0)
        just_before = lease_end - timedelta(microseconds=1)
        runs = [("x", due), ("y", due)]
        assert await s.claim_jobs(runs, "b", lease_end + LEASE, just_before) == {}
        claimed = await s.claim_jobs(runs, "b", lease_end + LEASE, lease_end)
        assert sorted(claimed) == ["x", "y"]

    async def test_claim_jobs_of_many_and_of_none(self, store: Store) -> None:
        s = self._batch(store)
        due = T0 + timedelta(minutes=5)
        ids = [f"job-{i:04d}" for i in range(300)]
        for job_id in ids:
            await s.save_job(make_job(job_id, next_run=due))
        claimed = await s.claim_jobs([(job_id, due) for job_id in ids], "a", T0 + LEASE, T0)
        assert sorted(claimed) == ids
        assert await s.claim_jobs([], "a", T0 + LEASE, T0) == {}
        await s.release_claims([], "a")
        assert await s.get_jobs([]) == {}

    async def test_release_claims_frees_only_the_owners_claims(self, store: Store) -> None:
        s = self._batch(store)
        due = T0 + timedelta(minutes=5)
        for job_id in ("p", "q", "r"):
            await s.save_job(make_job(job_id, next_run=due))
        await s.claim_jobs([("p", due), ("q", due)], "a", T0 + LEASE, T0)
        assert await s.claim_job("r", due, "b", T0 + LEASE, T0) is not None
        await s.release_claims(["p", "q", "r", "gone"], "a")
        assert not await s.renew_claim("p", "a", T0 + LEASE)
        assert await s.renew_claim("r", "b", T0 + LEASE)  # b's claim stays
        claimed = await s.claim_jobs([("p", due), ("q", due), ("r", due)], "c", T0 + LEASE, T0)
        assert sorted(claimed) == ["p", "q"]

    async def test_concurrent_batches_have_one_winner_per_run(self, store: Store) -> None:
        s = self._batch(store)
        due = T0 + timedelta(minutes=5)
        ids = [f"j{i}" for i in range(20)]
        for job_id in ids:
            await s.save_job(make_job(job_id, next_run=due))
        results = await asyncio.gather(
            *(
                s.claim_jobs([(job_id, due) for job_id in ids], owner, T0 + LEASE, T0)
                for owner in ("a", "b", "c")
            )
        )
        won = [job_id for claimed in results for job_id in claimed]
        assert sorted(won) == sorted(ids)

    async def test_get_jobs_returns_the_stored_ones(self, store: Store) -> None:
        s = self._batch(store)
        await s.save_job(make_job("a", next_run=T0))
        await s.save_job(make_job("b", status=JobStatus.DISABLED))
        found = await s.get_jobs(["b", "missing", "a"])
        assert found == {
            "a": make_job("a", next_run=T0),
            "b": make_job("b", status=JobStatus.DISABLED),
        }
        found["a"].metadata["changed"] = "after reading"
        assert await s.get_job("a") == make_job("a", next_run=T0)
