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
batches of one, with no delay.
"""

from __future__ import annotations

from typing import Protocol

from ._batching import Batcher
from ._errors import JobDataNotFoundError
from ._models import ExecutionRecord, JobData
from .abc import BatchRunStore, Store

__all__ = ["GroupCommit", "RunWrites", "drain_writes", "run_writes"]

_Write = tuple[ExecutionRecord | None, JobData | None]


class RunWrites(Protocol):
    """The two writes the scheduler makes after each run."""

    async def save_execution(self, record: ExecutionRecord) -> None: ...

    async def update_job(self, job: JobData) -> None: ...


class GroupCommit:
    """Batches run writes for a :class:`~tickwork.abc.BatchRunStore`."""

    def __init__(self, store: BatchRunStore) -> None:
        self._store = store
        self._writes: Batcher[_Write, bool] = Batcher(self._save)

    def __repr__(self) -> str:
        return f"GroupCommit({self._store!r})"

    async def save_execution(self, record: ExecutionRecord) -> None:
        await self._writes.submit((record, None))

    async def update_job(self, job: JobData) -> None:
        if not await self._writes.submit((None, job)):
            raise JobDataNotFoundError(job.id)

    async def _save(self, batch: list[_Write]) -> list[bool]:
        """One ``save_runs`` call; per write, whether its job (if any) still exists."""
        records = [record for record, _ in batch if record is not None]
        jobs = {job.id: job for _, job in batch if job is not None}  # the last one wins
        missing = await self._store.save_runs(records, list(jobs.values()))
        return [job is None or job.id not in missing for _, job in batch]

    async def drain(self) -> None:
        """Return once every queued write is stored (or has failed)."""
        await self._writes.drain()


def run_writes(store: Store) -> RunWrites:
    """Group commit for stores that can take batches; the store itself otherwise."""
    return GroupCommit(store) if isinstance(store, BatchRunStore) else store


async def drain_writes(writes: RunWrites) -> None:
    if isinstance(writes, GroupCommit):
        await writes.drain()
