"""Group commit: the writes of runs that finish together go to the store together.

After each run the scheduler saves an execution record and the job's new state. On a
store with a round trip per write (SQL, network) that is two transactions per run, and
at a thousand runs a second the store, not the scheduler, sets the pace. When the store
can write many at once (:class:`~tickwork.abc.BatchRunStore`), :class:`GroupCommit`
queues each write and one flusher task hands everything queued to ``save_runs``;
writes that arrive while a batch is in flight make up the next batch. Nothing is
written later than it would have been: each run still waits until its own write is
stored, and sees the same errors it would have seen (``JobDataNotFoundError`` for a job
deleted meanwhile). An idle scheduler writes batches of one, with no delay.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ._errors import JobDataNotFoundError
from ._models import ExecutionRecord, JobData
from .abc import BatchRunStore, Store

__all__ = ["GroupCommit", "RunWrites", "drain_writes", "run_writes"]

logger = logging.getLogger("tickwork.scheduler")

_Write = tuple[ExecutionRecord | None, JobData | None, "asyncio.Future[bool]"]


class RunWrites(Protocol):
    """The two writes the scheduler makes after each run."""

    async def save_execution(self, record: ExecutionRecord) -> None: ...

    async def update_job(self, job: JobData) -> None: ...


class GroupCommit:
    """Batches run writes for a :class:`~tickwork.abc.BatchRunStore`."""

    def __init__(self, store: BatchRunStore) -> None:
        self._store = store
        self._queue: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"GroupCommit({self._store!r}, queued={len(self._queue)})"

    async def save_execution(self, record: ExecutionRecord) -> None:
        await self._enqueue(record, None)

    async def update_job(self, job: JobData) -> None:
        if not await self._enqueue(None, job):
            raise JobDataNotFoundError(job.id)

    def _enqueue(self, record: ExecutionRecord | None, job: JobData | None) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[bool] = loop.create_future()
        self._queue.append((record, job, stored))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return stored

    async def _flush(self) -> None:
        batch: list[_Write] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                records = [record for record, _, _ in batch if record is not None]
                jobs = {job.id: job for _, job, _ in batch if job is not None}  # last wins
                try:
                    missing = await self._store.save_runs(records, list(jobs.values()))
                except Exception as exc:
                    for _, _, stored in batch:
                        if not stored.done():
                            stored.set_exception(exc)
                    continue
                for _, job, stored in batch:
                    if not stored.done():
                        stored.set_result(job is None or job.id not in missing)
                batch = []
        except BaseException:
            # Cancelled (the loop is going away): nobody must wait forever.
            for _, _, stored in [*batch, *self._queue]:
                if not stored.done():
                    stored.cancel()
            self._queue = []
            raise
        finally:
            self._flusher = None

    async def drain(self) -> None:
        """Return once every queued write is stored (or has failed)."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)


def run_writes(store: Store) -> RunWrites:
    """Group commit for stores that can take batches; the store itself otherwise."""
    return GroupCommit(store) if isinstance(store, BatchRunStore) else store


async def drain_writes(writes: RunWrites) -> None:
    if isinstance(writes, GroupCommit):
        await writes.drain()
