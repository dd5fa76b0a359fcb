"""Finishing runs key by key (:meth:`NATSStore.finish_runs` without atomic batches).

Every record is saved as ``save_execution`` saves it and every job written by one
compare-and-set that applies its finishes in order, all at once (at most
:data:`PARALLEL_WRITES` in flight): about three round trips a call. The atomic-batch
path (:mod:`._batched_finish`) falls back on :func:`finish_job` for a job whose batched
write lost its revision. Both start from :func:`sort_finishes`, which checks the whole
call before anything is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tickwork import (
    ExecutionRecord,
    FinishOutcome,
    InvalidJobDataError,
    JobDataNotFoundError,
    RunFinish,
)

from . import _keys as keys
from ._batched_finish import FinishOne, SaveOne
from ._bucket import Bucket, Entry
from ._checks import apply_in_order, check_execution, check_job, existing_key, key_for_write
from ._documents import encode_job
from ._job_revision import compare_and_set, job_from

__all__ = ["PARALLEL_WRITES", "finish_job", "finish_key_by_key", "sort_finishes"]

PARALLEL_WRITES = 64
"""Record saves and job writes of one ``finish_runs`` call in flight at once."""


def sort_finishes(
    finishes: Sequence[RunFinish],
) -> tuple[list[ExecutionRecord], dict[str, list[int]]]:
    """The call's records (the last of each execution id wins) and the positions of
    each job's finishes, every one checked first.

    :raises InvalidJobDataError: a finish no bucket can hold; nothing is written.
    """
    records: dict[str, ExecutionRecord] = {}
    by_job: dict[str, list[int]] = {}
    for index, finish in enumerate(finishes):
        if not isinstance(finish, RunFinish):
            raise InvalidJobDataError(f"expected a RunFinish, got {type(finish).__name__}")
        for record in finish.records:
            check_execution(record)
            key_for_write(keys.index_key, record.execution_id)
            key_for_write(keys.record_key, record.job_id, record.execution_id)
            records[record.execution_id] = record
        if finish.job is not None:
            by_job.setdefault(check_job(finish.job).id, []).append(index)
    return list(records.values()), by_job


async def finish_key_by_key(
    finishes: Sequence[RunFinish],
    records: Sequence[ExecutionRecord],
    by_job: dict[str, list[int]],
    *,
    save: SaveOne,
    finish_one: FinishOne,
) -> list[FinishOutcome]:
    """Save the records and write each job's finishes, all at once; one outcome per
    finish."""
    outcomes = [FinishOutcome.STORED] * len(finishes)
    slots = asyncio.Semaphore(PARALLEL_WRITES)

    async def save_record(record: ExecutionRecord) -> None:
        async with slots:
            await save(record)

    async def finish_one_job(job_id: str, indexes: list[int]) -> None:
        async with slots:
            decided = await finish_one(job_id, [finishes[i] for i in indexes])
        for index, outcome in zip(indexes, decided, strict=True):
            outcomes[index] = outcome

    results = await asyncio.gather(
        *map(save_record, records),
        *(finish_one_job(job_id, indexes) for job_id, indexes in by_job.items()),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return outcomes


async def finish_job(
    jobs: Bucket, job_id: str, finishes: list[RunFinish], attempts: int
) -> list[FinishOutcome]:
    """Apply the finishes of one job in order with one compare-and-set (``attempts``
    rounds at most)."""
    key = existing_key(keys.job_key, job_id)
    if key is None:  # too long to have been stored
        return [FinishOutcome.MISSING] * len(finishes)
    decided: list[FinishOutcome] = []
    conditional = any(finish.seen is not None for finish in finishes)

    async def write(entry: Entry) -> None:
        nonlocal decided
        stored = job_from(jobs, entry, job_id).updated_at if conditional else None
        decided, last = apply_in_order(stored, finishes)
        if last is not None:
            await jobs.update(key, encode_job(last), entry.revision)

    try:
        await compare_and_set(jobs, key, job_id, write, "finish a run of", attempts=attempts)
    except JobDataNotFoundError:
        return [FinishOutcome.MISSING] * len(finishes)
    return decided
