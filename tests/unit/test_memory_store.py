"""MemoryStore runs the reusable store contract, claims and bulk capabilities included."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tickwork import ClaimingStore, FinishingStore, MemoryStore
from tickwork.abc import Store
from tickwork.testing import (
    BatchClaimingStoreContract,
    BulkStoreContract,
    ConditionalUpdateStoreContract,
    DueJobsStoreContract,
    FinishingClaimingStoreContract,
    InProcessStoreContract,
)


class TestMemoryStore(
    BatchClaimingStoreContract,
    BulkStoreContract,
    DueJobsStoreContract,
    ConditionalUpdateStoreContract,
    FinishingClaimingStoreContract,
    InProcessStoreContract,
):
    persistent = False

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return MemoryStore


def test_memory_store_is_a_claiming_store() -> None:
    assert isinstance(MemoryStore(), Store)
    assert isinstance(MemoryStore(), ClaimingStore)
    assert isinstance(MemoryStore(), FinishingStore)
    assert MemoryStore().shared is False
    assert MemoryStore(shared=True).shared is True


async def test_jobs_in_the_same_state_share_one_row_and_change_alone() -> None:
    """Rows leave out the id, so jobs saved alike share one (issue 19: a million idle
    jobs); a change to one job, or to a JobData after saving it, reaches no other."""
    from datetime import UTC, datetime, timedelta

    from tickwork import JobData, JobStatus

    store = MemoryStore()
    await store.initialize()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    saved = [
        JobData(
            id=job_id,
            schedule_type="interval",
            schedule_config="1h0m0s",
            next_run=now,
            created_at=now,
            updated_at=now,
        )
        for job_id in ("a", "b", "c")
    ]
    await store.save_jobs(saved)
    rows = store._jobs
    assert rows["a"] is rows["b"] is rows["c"]
    saved[0].metadata["leak"] = "yes"
    saved[0].next_run = now + timedelta(hours=5)
    assert [j.id for j in await store.list_jobs()] == ["a", "b", "c"]
    assert (await store.get_job("a")).metadata == {}
    changed = await store.get_job("b")
    changed.status, changed.next_run = JobStatus.DISABLED, now + timedelta(hours=1)
    await store.update_job(changed)
    assert rows["a"] is rows["c"]
    assert rows["b"] is not rows["a"]
    got = {j.id: j for j in await store.list_jobs()}
    assert got["b"].status == JobStatus.DISABLED
    assert got["a"].status == JobStatus.PENDING
    assert got["c"].next_run == now
    assert got["b"].next_run == now + timedelta(hours=1)
    assert [j.id for j in await store.list_due_jobs(now + timedelta(hours=2))] == ["a", "c", "b"]
