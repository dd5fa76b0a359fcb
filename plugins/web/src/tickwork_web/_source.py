"""What the dashboard looks at and acts on: a scheduler, or a store alone.

With a scheduler (:class:`~tickwork.AsyncScheduler`, or the blocking
:class:`~tickwork.Scheduler`) the actions go through its public methods, so its
events, locks and conditional writes apply, and the pages can follow its events live.
With a store (an object, or a URL the app opens itself) the actions are those of
``tickwork jobs``: :class:`tickwork.StoredJobActions`, and the
workers sharing the store pick the change up.

Every store call goes through :meth:`JobSource.call`, which runs it on the loop that
owns the store: the blocking scheduler keeps its store on a loop of its own thread,
and a database connection must not move between loops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tickwork import (
    AsyncScheduler,
    JobOptions,
    JobStatus,
    Schedule,
    Scheduler,
    StorageConnectionError,
    Store,
    StoredJobActions,
    StoreQueries,
)
from tickwork.cli import open_store

from ._errors import STORE_DOWN

__all__ = ["RETRY_AFTER", "ActionOutcome", "JobSource"]

#: Seconds during which a store that failed to answer is not asked again.
RETRY_AFTER = 2.0

T = TypeVar("T")

ActionOutcome = dict[str, Any]
"""What an action did, for the API's answer: ``{"job_id", "status", ...}``."""


class JobSource:
    """A scheduler or a store, as the dashboard uses it."""

    def __init__(self, source: AsyncScheduler | Scheduler | Store | str, **store_options: Any):
        self.scheduler: AsyncScheduler | None = None
        self.blocking: Scheduler | None = None
        self._url: str | None = None
        self._store_options = store_options
        self._store: Store | None = None
        self._owned = False
        self._lock = asyncio.Lock()
        self._down_until = 0.0
        if isinstance(source, Scheduler):
            self.blocking = source
            self._store = source.store
        elif isinstance(source, AsyncScheduler):
            self.scheduler = source
            self._store = source.store
        elif isinstance(source, str):
            self._url = source
        elif isinstance(source, Store):
            self._store = source
        else:
            raise TypeError(
                "create_app() takes an AsyncScheduler, a Scheduler, a Store or a store URL, "
                f"got {type(source).__name__}"
            )

    @property
    def has_scheduler(self) -> bool:
        return self.scheduler is not None or self.blocking is not None

    @property
    def live(self) -> bool:
        """Whether events can be followed (a scheduler, started or not)."""
        return self.has_scheduler

    def subscribe(self, callback: Callable[[Any], Any]) -> Any:
        """Subscribe ``callback`` (a plain function, called in a thread) to every event."""
        target: Any = self.scheduler if self.scheduler is not None else self.blocking
        return target.subscribe(callback)

    # -- the store ---------------------------------------------------------------------

    async def store(self) -> Store:
        """The store, opened on first use when the app was given a URL (``create=False``:
        the dashboard never creates a store); a failed opening is tried again next time."""
        if self._store is not None:
            return self._store
        async with self._lock:
            if self._store is None:
                assert self._url is not None
                # As the read-only commands open a store: never created, so a mistyped
                # URL is an error, not a new empty store.
                store = await open_store(self._url, create=False, options=self._store_options)
                self._store, self._owned = store, True
        return self._store

    async def close(self) -> None:
        """Close the store if the app opened it."""
        if self._owned and self._store is not None:
            store, self._store, self._owned = self._store, None, False
            await store.close()

    async def call(self, work: Callable[[Store], Awaitable[T]]) -> T:
        """``await work(store)`` on the loop that owns the store.

        Once the store failed to answer, the calls of the next :data:`RETRY_AFTER`
        seconds fail at once instead of each waiting for the store's own timeout (a
        page while the store is down answers 503 at once); the first call after that
        tries the store again.
        """
        if time.monotonic() < self._down_until:
            raise StorageConnectionError("the store did not answer a moment ago")
        try:
            result = await self._call(work)
        except STORE_DOWN:
            self._down_until = time.monotonic() + RETRY_AFTER
            raise
        self._down_until = 0.0
        return result

    async def _call(self, work: Callable[[Store], Awaitable[T]]) -> T:
        if self.blocking is not None:
            blocking, store = self.blocking, self.blocking.store

            async def on_its_loop() -> T:
                return await work(store)

            # The blocking scheduler's loop runs in its own thread; its store lives there.
            return await asyncio.to_thread(blocking.run_on_loop, on_its_loop())
        return await work(await self.store())

    async def query(self, work: Callable[[StoreQueries], Awaitable[T]]) -> T:
        """``await work(StoreQueries(store))`` on the store's loop."""
        return await self.call(lambda store: work(StoreQueries(store)))

    # -- actions -----------------------------------------------------------------------

    async def pause(self, job_id: str) -> ActionOutcome:
        if self.scheduler is not None:
            return _job_outcome(await self.scheduler.pause_job(job_id))
        if self.blocking is not None:
            return _job_outcome(await asyncio.to_thread(self.blocking.pause_job, job_id))
        change = await (await self._actions()).pause(job_id)
        return {"job_id": job_id, "status": change.job.status.value, "changed": change.changed}

    async def resume(self, job_id: str) -> ActionOutcome:
        if self.scheduler is not None:
            return _job_outcome(await self.scheduler.resume_job(job_id))
        if self.blocking is not None:
            return _job_outcome(await asyncio.to_thread(self.blocking.resume_job, job_id))
        change = await (await self._actions()).resume(job_id)
        return {"job_id": job_id, "status": change.job.status.value, "changed": change.changed}

    async def run_now(self, job_id: str) -> ActionOutcome:
        """Start a run now (a scheduler), or make the job due now (a store alone)."""
        if self.scheduler is not None:
            execution_id = await self.scheduler.run_job_now(job_id)
            return {"job_id": job_id, "execution_id": execution_id, "started": True}
        if self.blocking is not None:
            execution_id = await asyncio.to_thread(self.blocking.run_job_now, job_id)
            return {"job_id": job_id, "execution_id": execution_id, "started": True}
        change = await (await self._actions()).run_now(job_id)
        return {"job_id": job_id, "execution_id": None, "started": False, "due": _iso(change)}

    async def change_schedule(self, job_id: str, schedule: Schedule) -> ActionOutcome:
        if self.scheduler is not None:
            return _job_outcome(await self.scheduler.update_job_schedule(job_id, schedule))
        if self.blocking is not None:
            job = await asyncio.to_thread(self.blocking.update_job_schedule, job_id, schedule)
            return _job_outcome(job)
        change = await (await self._actions()).change_schedule(job_id, schedule)
        return {"job_id": job_id, "status": change.job.status.value, "changed": True}

    async def change_options(self, job_id: str, options: JobOptions) -> ActionOutcome:
        if self.scheduler is not None:
            return _job_outcome(await self.scheduler.update_job_options(job_id, options))
        if self.blocking is not None:
            job = await asyncio.to_thread(self.blocking.update_job_options, job_id, options)
            return _job_outcome(job)
        change = await (await self._actions()).change_options(job_id, options)
        return {"job_id": job_id, "status": change.job.status.value, "changed": True}

    async def remove(self, job_id: str) -> ActionOutcome:
        if self.scheduler is not None:
            await self.scheduler.remove_job(job_id)
        elif self.blocking is not None:
            await asyncio.to_thread(self.blocking.remove_job, job_id)
        else:
            await (await self._actions()).remove(job_id)
        return {"job_id": job_id, "removed": True}

    async def _actions(self) -> StoredJobActions:
        return StoredJobActions(await self.store())


def _job_outcome(job: Any) -> ActionOutcome:
    status = job.status
    return {
        "job_id": job.id,
        "status": status.value if isinstance(status, JobStatus) else str(status),
        "changed": True,
    }


def _iso(change: Any) -> str | None:
    next_run = change.job.next_run
    return None if next_run is None else next_run.isoformat()
