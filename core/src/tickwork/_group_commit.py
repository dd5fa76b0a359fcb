"""Group commit: the writes of runs that finish together go to the store together.

After each run the scheduler saves an execution record and the job's new state. On a
store with a round trip per write (SQL, network) that is two transactions per run, and
at a thousand runs a second the store, not the scheduler, sets the pace. When the store
can write many at once (:class:`~tickwork.abc.BatchRunStore`), :class:`GroupCommit`
hands each write to a :class:`~tickwork._batching.Batcher`, which gives everything
queued to one ``save_runs`` call; writes that arrive while a batch is in flight make
up the next batch. Nothing is written later than it would have been: each run still
waits until its own write is stored, and sees the same errors it would have seen
(``JobDataNotFoundError`` for a job deleted meanwhile). An idle scheduler writes
batches of one, with no delay. A job written on condition (``update_job_if``) goes in
the same batch when the store is a :class:`~tickwork.abc.ConditionalBatchRunStore`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ._batching import Batcher
from ._errors import JobDataNotFoundError
from ._models import ExecutionRecord, JobData
from .abc import BatchRunStore, ConditionalBatchRunStore, ConditionalUpdateStore, Store

__all__ = [
    "ConditionalRunWrites",
    "GroupCommit",
    "RunWrites",
    "conditional_writes",
    "drain_writes",
    "run_writes",
]

# A record, or a job with the updated_at it must still have (None: written whatever).
_Write = tuple[ExecutionRecord | None, JobData | None, datetime | None]

# What became of a job write: stored, the job is gone, or it changed since it was read.
_STORED, _MISSING, _CHANGED = "stored", "missing", "changed"


class RunWrites(Protocol):
    """The writes the scheduler makes after each run."""

    async def save_execution(self, record: ExecutionRecord) -> None: ...

    async def update_job(self, job: JobData) -> None: ...


class ConditionalRunWrites(RunWrites, Protocol):
    """Run writes that can also write a job on condition (see ``update_job_if``)."""

    async def update_job_if(self, job: JobData, updated_at: datetime) -> bool: ...


class GroupCommit:
    """Batches run writes for a :class:`~tickwork.abc.BatchRunStore`."""

    def __init__(self, store: BatchRunStore) -> None:
        self._store = store
        # Checked once: isinstance against a runtime protocol costs tens of microseconds.
        self._conditional: ConditionalBatchRunStore | None = (
            store if isinstance(store, ConditionalBatchRunStore) else None
        )
        self._writes: Batcher[_Write, str] = Batcher(self._save)

    @property
    def writes_on_condition(self) -> bool:
        """Whether :meth:`update_job_if` can be used (the store can write on condition)."""
        return self._conditional is not None

    def __repr__(self) -> str:
        return f"GroupCommit({self._store!r})"

    async def save_execution(self, record: ExecutionRecord) -> None:
        await self._writes.submit((record, None, None))

    async def update_job(self, job: JobData) -> None:
        if await self._writes.submit((None, job, None)) == _MISSING:
            raise JobDataNotFoundError(job.id)

    async def update_job_if(self, job: JobData, updated_at: datetime) -> bool:
        """As :meth:`~tickwork.abc.ConditionalUpdateStore.update_job_if`, batched (the
        store must be a :class:`~tickwork.abc.ConditionalBatchRunStore`)."""
        outcome = await self._writes.submit((None, job, updated_at))
        if outcome == _MISSING:
            raise JobDataNotFoundError(job.id)
        return outcome == _STORED

    async def _save(self, batch: list[_Write]) -> list[str]:
        """One ``save_runs`` (or ``save_runs_if``) call; per write, what became of it."""
        records = [record for record, _, _ in batch if record is not None]
        jobs: dict[str, JobData] = {}
        seen: dict[str, datetime] = {}
        for _, job, updated_at in batch:  # the last write of a job wins
            if job is not None:
                jobs[job.id] = job
                if updated_at is None:
                    seen.pop(job.id, None)
                else:
                    seen[job.id] = updated_at
        changed: set[str] = set()
        if seen:
            assert self._conditional is not None, "update_job_if needs save_runs_if"
            missing, changed = await self._conditional.save_runs_if(
                records, list(jobs.values()), seen
            )
        else:
            missing = await self._store.save_runs(records, list(jobs.values()))
        return [_outcome(job, missing, changed) for _, job, _ in batch]

    async def drain(self) -> None:
        """Return once every queued write is stored (or has failed)."""
        await self._writes.drain()


def _outcome(job: JobData | None, missing: set[str], changed: set[str]) -> str:
    if job is not None and job.id in missing:
        return _MISSING
    if job is not None and job.id in changed:
        return _CHANGED
    return _STORED


def run_writes(store: Store) -> RunWrites:
    """Group commit for stores that can take batches; the store itself otherwise."""
    return GroupCommit(store) if isinstance(store, BatchRunStore) else store


def conditional_writes(writes: RunWrites) -> ConditionalRunWrites | None:
    """``writes``, when it can write a run's job on condition; None otherwise."""
    if isinstance(writes, GroupCommit):
        return writes if writes.writes_on_condition else None
    return writes if isinstance(writes, ConditionalUpdateStore) else None


async def drain_writes(writes: RunWrites) -> None:
    if isinstance(writes, GroupCommit):
        await writes.drain()
