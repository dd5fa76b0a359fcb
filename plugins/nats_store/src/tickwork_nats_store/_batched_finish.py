"""``finish_runs`` in a few round trips whatever it holds: records and job writes go to
the server together (NATS Server 2.12+; see :mod:`._write_many`).

Written key by key, a finish costs a round trip per write, and a job write two (its
revision is read first). Here the finishes of one call cost one round trip on the
execution bucket (each record with its index entry) and one on the job bucket (each
job on condition of the revision the scheduler read it at, from
:mod:`._known_revisions`; jobs not known there are read first, in parallel), both
sent at once: an atomic batch each when there are many writes, separate publishes
sent together when there are few.

What was not stored is written again key by key, the way the store writes without
batches: an index entry that exists already (a record saved again, or moved to another
job) or a job written by someone else since it was read both take that path (in an
atomic batch, every write of the batch does, since the server does not say which
condition failed). Nothing is lost or written twice by falling back: records replace
records with the same id, and job writes are compare-and-sets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from nats.aio.client import Client

from tickwork import ExecutionRecord, FinishOutcome, JobData, RunFinish

from . import _keys as keys
from ._atomic_batch import MAX_BATCH_MESSAGES, Write
from ._bucket import Bucket, gather_in_batches
from ._checks import apply_in_order, existing_key
from ._documents import encode_execution, encode_index, encode_job
from ._errors import translate_errors
from ._job_revision import job_from
from ._known_revisions import KnownRevisions
from ._write_many import write_many

__all__ = ["BatchedFinish", "FinishOne", "SaveOne"]

logger = logging.getLogger("tickwork.nats")

SaveOne = Callable[[ExecutionRecord], Awaitable[None]]
FinishOne = Callable[[str, list[RunFinish]], Awaitable[list[FinishOutcome]]]


@dataclass(frozen=True, slots=True)
class _JobWrite:
    job_id: str
    key: str
    indexes: list[int]
    outcomes: list[FinishOutcome]
    last: JobData | None
    revision: int


class BatchedFinish:
    """Applies finishes with atomic batches; falls back on ``save_one`` / ``finish_one``
    (the key-by-key writes) for what a rejected batch held."""

    def __init__(
        self,
        *,
        nc: Client,
        jobs: Bucket,
        execs: Bucket,
        revisions: KnownRevisions,
        timeout: float,
        save_one: SaveOne,
        finish_one: FinishOne,
    ) -> None:
        self._nc = nc
        self._jobs = jobs
        self._execs = execs
        self._revisions = revisions
        self._timeout = timeout
        self._save_one = save_one
        self._finish_one = finish_one

    async def apply(
        self,
        finishes: Sequence[RunFinish],
        records: Sequence[ExecutionRecord],
        by_job: Mapping[str, list[int]],
    ) -> list[FinishOutcome]:
        """Save ``records`` and write each job of ``by_job`` (indexes into
        ``finishes``, in order); one outcome per finish."""
        outcomes = [FinishOutcome.STORED] * len(finishes)
        results = await asyncio.gather(
            self._save_records(records),
            self._write_jobs(finishes, by_job, outcomes),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return outcomes

    # -- records --------------------------------------------------------------------------

    async def _save_records(self, records: Sequence[ExecutionRecord]) -> None:
        per_batch = MAX_BATCH_MESSAGES // 2
        for start in range(0, len(records), per_batch):
            chunk = records[start : start + per_batch]
            writes: list[Write] = []
            for record in chunk:
                index = keys.index_key(record.execution_id)
                # Index first (a listed record can be found by id); on condition that
                # the id is new: a known id may have moved to another job.
                writes.append(Write(self._execs.prefix + index, encode_index(record.job_id), 0))
                record_key = keys.record_key(record.job_id, record.execution_id)
                writes.append(Write(self._execs.prefix + record_key, encode_execution(record)))
            stored = await self._publish(writes, "save execution records")
            again = [
                record
                for number, record in enumerate(chunk)
                if stored[2 * number] is None or stored[2 * number + 1] is None
            ]
            if again:
                await gather_in_batches(self._save_one, again)

    # -- jobs -----------------------------------------------------------------------------

    async def _write_jobs(
        self,
        finishes: Sequence[RunFinish],
        by_job: Mapping[str, list[int]],
        outcomes: list[FinishOutcome],
    ) -> None:
        # Most jobs are known from their run's start: planned at once, without a task
        # each; the others are read first, in parallel.
        planned: list[_JobWrite | tuple[list[int], FinishOutcome]] = []
        unknown: list[tuple[str, list[int]]] = []
        for job_id, idx in by_job.items():
            known = self._revisions.get(job_id)
            key = existing_key(keys.job_key, job_id)
            if known is None or key is None:
                unknown.append((job_id, idx))
            else:
                mine = [finishes[i] for i in idx]
                planned.append(self._plan_known(job_id, key, mine, idx, known))
        if unknown:
            planned += await asyncio.gather(
                *(self._plan(job_id, [finishes[i] for i in idx], idx) for job_id, idx in unknown)
            )
        writes: list[_JobWrite] = []
        for plan in planned:
            if isinstance(plan, _JobWrite):
                for index, outcome in zip(plan.indexes, plan.outcomes, strict=True):
                    outcomes[index] = outcome
                if plan.last is not None:
                    writes.append(plan)
            else:
                job_indexes, missing = plan
                for index in job_indexes:
                    outcomes[index] = missing
        for start in range(0, len(writes), MAX_BATCH_MESSAGES):
            chunk = writes[start : start + MAX_BATCH_MESSAGES]
            await self._write_chunk(finishes, by_job, chunk, outcomes)

    async def _plan(
        self, job_id: str, finishes: list[RunFinish], indexes: list[int]
    ) -> _JobWrite | tuple[list[int], FinishOutcome]:
        """What to write for one job, from its known (or freshly read) version."""
        key = existing_key(keys.job_key, job_id)
        if key is None:
            return indexes, FinishOutcome.MISSING
        known = self._revisions.get(job_id)
        if known is None:
            with translate_errors(f"finish a run of job {job_id!r}"):
                entry = await self._jobs.get(key)
            if entry is None:
                return indexes, FinishOutcome.MISSING
            known = (entry.revision, job_from(self._jobs, entry, job_id).updated_at)
        return self._plan_known(job_id, key, finishes, indexes, known)

    @staticmethod
    def _plan_known(
        job_id: str,
        key: str,
        finishes: list[RunFinish],
        indexes: list[int],
        known: tuple[int, datetime],
    ) -> _JobWrite:
        """What to write for one job whose revision and version are ``known``."""
        revision, stored = known
        decided, last = apply_in_order(stored, finishes)
        return _JobWrite(job_id, key, indexes, decided, last, revision)

    async def _write_chunk(
        self,
        finishes: Sequence[RunFinish],
        by_job: Mapping[str, list[int]],
        chunk: list[_JobWrite],
        outcomes: list[FinishOutcome],
    ) -> None:
        writes = [
            Write(self._jobs.prefix + plan.key, encode_job(plan.last), plan.revision)
            for plan in chunk
            if plan.last is not None
        ]
        revisions = await self._publish(writes, "finish runs of jobs")
        again: list[_JobWrite] = []
        for plan, revision in zip(chunk, revisions, strict=True):
            assert plan.last is not None
            if revision is None:
                again.append(plan)
            else:
                self._revisions.note(plan.job_id, revision, plan.last.updated_at)
        # Someone wrote one of them meanwhile (or it was removed): job by job, each read
        # afresh, deciding again.
        for plan in again:
            self._revisions.forget(plan.job_id)
            indexes = by_job[plan.job_id]
            decided = await self._finish_one(plan.job_id, [finishes[i] for i in indexes])
            for index, outcome in zip(indexes, decided, strict=True):
                outcomes[index] = outcome

    async def _publish(self, writes: list[Write], action: str) -> list[int | None]:
        """Each write's revision, None for one not stored (written again key by key)."""
        with translate_errors(action):
            stored = await write_many(self._nc, writes, self._timeout)
        if None in stored:
            logger.debug(
                "%s: %d of %d write(s) not stored; key by key",
                action,
                stored.count(None),
                len(stored),
            )
        return stored
