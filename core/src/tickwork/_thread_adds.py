"""Jobs added from another thread without waiting for the loop (the blocking facade).

The blocking :class:`~tickwork.Scheduler` hands each call to its loop thread and waits
for the answer: two thread wake-ups per call, about a hundred microseconds, which caps
``add_job`` at about ten thousand a second. When the store keeps its data in this
process and no other process shares it (:class:`~tickwork.abc.InProcessStore`), the job
table alone says whether an id is taken, and the write cannot fail for want of a
backend. Then the caller's thread checks and reserves the id under a lock, builds the
job, and only queues it: the loop writes every queued job in one ``add_jobs`` batch,
woken once per batch. A duplicate id is still refused in the call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from ._entry import JobEntry
from ._errors import JobAlreadyExistsError
from ._job_table import JobTable

__all__ = ["ThreadAdds"]

logger = logging.getLogger("tickwork.scheduler")

AddMany = Callable[[dict[str, JobEntry]], Awaitable[None]]
NewJob = Callable[..., JobEntry]
"""``JobEditor.new_job``: a checked new job from ``add_job``'s arguments."""
LoopIfReady = Callable[[], "asyncio.AbstractEventLoop | None"]
"""The scheduler's loop when it runs on an in-process store, else None."""


class ThreadAdds:
    """New jobs offered from other threads, written by the loop in batches."""

    def __init__(
        self, table: JobTable, add_many: AddMany, new_job: NewJob, loop_if_ready: LoopIfReady
    ) -> None:
        self._table = table
        self._add_many = add_many
        self._new_job = new_job
        self._loop_if_ready = loop_if_ready
        self._lock = threading.Lock()
        # Reserved ids: offered, and not in the table yet.
        self._reserved: dict[str, JobEntry] = {}
        self._queued: list[JobEntry] = []
        self._wake_pending = False
        self._writes: set[asyncio.Task[None]] = set()

    def taken(self, job_id: str) -> bool:
        """Whether ``job_id`` was offered from a thread and is not written yet."""
        return job_id in self._reserved

    def add(self, *job: Any) -> JobEntry | None:
        """``add_job(*job)`` from the caller's thread, without waiting for the loop;
        None when this store needs the loop's answer (then the caller asks the loop).

        :raises JobAlreadyExistsError: the id is taken (and every ``add_job`` error).
        """
        loop = self._loop_if_ready()
        if loop is None:
            return None
        return self.offer(self._new_job(*job), loop)

    def offer(self, entry: JobEntry, loop: asyncio.AbstractEventLoop) -> JobEntry:
        """Reserve the job's id and queue it for the loop (from any thread); the entry.

        :raises JobAlreadyExistsError: the id is taken.
        """
        with self._lock:
            known = self._table.entries.get(entry.id)
            if entry.id in self._reserved or (known is not None and not known.removed):
                raise JobAlreadyExistsError(entry.id)
            self._reserved[entry.id] = entry
            self._queued.append(entry)
            wake, self._wake_pending = not self._wake_pending, True
        if wake:
            loop.call_soon_threadsafe(self._drain)
        return entry

    def _drain(self) -> None:
        """On the loop: take what is queued and write it as one batch."""
        with self._lock:
            batch, self._queued = self._queued, []
            self._wake_pending = False
        if batch:
            task = asyncio.get_running_loop().create_task(self._write(batch))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write(self, batch: list[JobEntry]) -> None:
        try:
            await self._add_many({entry.id: entry for entry in batch})
        except Exception as exc:  # an in-process store: a bug, not an outage
            logger.error(
                "adding %d job(s) handed over by another thread failed: %s", len(batch), exc
            )
        finally:
            with self._lock:
                for entry in batch:
                    self._reserved.pop(entry.id, None)

    async def settle(self) -> None:
        """Return once every job offered so far is written (before a stop)."""
        self._drain()
        while self._writes:
            await asyncio.wait(set(self._writes))
