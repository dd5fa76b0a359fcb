"""The contract kits catch the bugs a hand-written store once slipped past them.

Each mutant below is the in-memory store with one such bug. Every kit test named
beside it must fail against the mutant and pass against the real store, so a kit that
loses the check fails here instead of passing a broken third-party store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest

from tickwork import MemoryStore
from tickwork.abc import Store
from tickwork.testing import BatchClaimingStoreContract, StoreContract

_TICK = timedelta(microseconds=1)


class SortsOnlyShortLists(MemoryStore):
    """Lists jobs in the order they were saved once there are more than three."""

    async def list_jobs(self) -> list[Any]:
        jobs = await super().list_jobs()
        return jobs if len(jobs) <= 3 else self._in_saved_order(jobs)

    async def list_jobs_by_status(self, status: Any) -> list[Any]:
        jobs = await super().list_jobs_by_status(status)
        return jobs if len(jobs) <= 3 else self._in_saved_order(jobs)

    def _in_saved_order(self, jobs: list[Any]) -> list[Any]:
        saved = {job_id: n for n, job_id in enumerate(self._jobs)}
        return sorted(jobs, key=lambda j: saved[j.id])


class DescendingTiesAscending(MemoryStore):
    """Sorts descending by the field but breaks ties by ascending execution id."""

    async def list_executions(self, job_id: str, options: Any = None) -> list[Any]:
        if options is None or not options.sort_desc:
            return await super().list_executions(job_id, options)
        whole = attrs.evolve(options, sort_desc=False, limit=None, offset=0)
        records = await super().list_executions(job_id, whole)  # filtered, every page
        field = options.sort_field
        records.sort(key=lambda r: r.execution_id)
        records.sort(key=lambda r: getattr(r, field), reverse=True)
        end = None if options.limit is None else options.offset + options.limit
        return records[options.offset : end]


class LeaseOffByOne(MemoryStore):
    """Treats a claim as still held at the very instant its lease ends."""

    async def claim_job(
        self, job_id: str, scheduled_at: datetime, owner: str, lease_until: datetime, now: datetime
    ) -> Any:
        return await super().claim_job(job_id, scheduled_at, owner, lease_until, now - _TICK)

    async def claim_jobs(
        self,
        runs: Sequence[tuple[str, datetime]],
        owner: str,
        lease_until: datetime,
        now: datetime,
    ) -> Any:
        return await super().claim_jobs(runs, owner, lease_until, now - _TICK)


class KeepsDeletedClaims(MemoryStore):
    """Deletes a job but keeps its claim, blocking a job re-added with the same id."""

    async def delete_job(self, job_id: str) -> None:
        held = self._claims.get(job_id)
        await super().delete_job(job_id)
        if held is not None:
            self._claims[job_id] = held


MUTANTS = [
    pytest.param(
        SortsOnlyShortLists,
        StoreContract,
        "test_list_jobs_sorted_by_id_at_any_count",
        {},
        id="unsorted-past-three-jobs",
    ),
    *(
        pytest.param(
            DescendingTiesAscending,
            StoreContract,
            "test_ties_are_broken_by_execution_id_in_the_sort_direction",
            {"sort_by": field},
            id=f"descending-ties-ascending-{field}",
        )
        for field in ("start_time", "end_time", "duration")
    ),
    pytest.param(
        LeaseOffByOne,
        BatchClaimingStoreContract,
        "test_a_claim_expires_exactly_at_its_lease_until",
        {},
        id="lease-off-by-one",
    ),
    pytest.param(
        LeaseOffByOne,
        BatchClaimingStoreContract,
        "test_claim_jobs_honours_the_lease_boundary",
        {},
        id="batch-lease-off-by-one",
    ),
    pytest.param(
        KeepsDeletedClaims,
        BatchClaimingStoreContract,
        "test_a_deleted_jobs_claim_does_not_outlive_it",
        {},
        id="deleted-job-keeps-claim",
    ),
]


async def run_kit_test(
    store_class: type[Store], kit: type[StoreContract], name: str, params: dict[str, Any]
) -> None:
    """Run one kit test against a fresh, initialized store, as pytest would."""
    store = store_class()
    await store.initialize()
    try:
        await getattr(kit(), name)(store, **params)
    finally:
        await store.close()


@pytest.mark.parametrize(("mutant", "kit", "name", "params"), MUTANTS)
async def test_the_kit_test_fails_against_the_bug(
    mutant: type[Store], kit: type[StoreContract], name: str, params: dict[str, Any]
) -> None:
    with pytest.raises(AssertionError):
        await run_kit_test(mutant, kit, name, params)


@pytest.mark.parametrize(("mutant", "kit", "name", "params"), MUTANTS)
async def test_the_kit_test_passes_against_the_real_store(
    mutant: type[Store], kit: type[StoreContract], name: str, params: dict[str, Any]
) -> None:
    del mutant
    await run_kit_test(MemoryStore, kit, name, params)


async def test_the_mutants_differ_only_where_their_bug_is() -> None:
    """Each mutant still passes the kit's older, weaker checks, so the new tests are
    what catches it (a mutant broken everywhere would prove nothing)."""
    weaker = [
        (SortsOnlyShortLists, StoreContract, "test_list_jobs_sorted_by_id"),
        (LeaseOffByOne, BatchClaimingStoreContract, "test_expired_claim_can_be_taken_over"),
        (KeepsDeletedClaims, BatchClaimingStoreContract, "test_deleted_job_cannot_be_claimed"),
        (DescendingTiesAscending, StoreContract, "test_list_executions_paging"),
    ]
    for store_class, kit, name in weaker:
        await run_kit_test(store_class, kit, name, {})
    for field in ("start_time", "end_time", "duration"):
        for desc in (False, True):
            params = {"sort_by": field, "sort_desc": desc}
            await run_kit_test(
                DescendingTiesAscending, StoreContract, "test_list_executions_sorting", params
            )
