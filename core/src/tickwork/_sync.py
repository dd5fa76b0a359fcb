"""``Scheduler``: the blocking facade for programs that are not written with asyncio.

It runs an :class:`AsyncScheduler` on an event loop in a background thread and hands
every call over to that loop, so both share one implementation. Handlers behave the
same: plain functions run in the worker thread pool, coroutine functions on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping
from concurrent.futures import CancelledError
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from ._coordination import DEFAULT_LEASE, DEFAULT_SYNC_INTERVAL
from ._job import Job
from ._models import ExecutionRecord, QueryOptions
from ._policy import JobOptions
from ._scheduler import DEFAULT_MAX_WORKERS, AsyncScheduler, Handler, JobSpec
from .abc import Schedule, ScheduleCodec, Store, Trigger

__all__ = ["Scheduler"]

T = TypeVar("T")


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="tickwork-scheduler", daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and block until it is done; its result or error.

        ``asyncio.run_coroutine_threadsafe`` would do, but it builds a
        ``concurrent.futures.Future`` (a lock and a condition) and chains two futures
        per call. A call from another thread costs two thread wake-ups at best (the
        loop's, then the caller's), and the blocking facade makes one per method call,
        so the rest is kept to one plain lock the loop releases when the task ends.
        """
        done = threading.Lock()
        done.acquire()
        outcome: list[asyncio.Task[T] | BaseException] = []

        def finished(task: asyncio.Task[T]) -> None:
            outcome.append(task)
            done.release()

        def begin() -> None:
            try:
                task = self.loop.create_task(coro)
            except BaseException as exc:  # the caller must not wait forever
                coro.close()
                outcome.append(exc)
                done.release()
                return
            task.add_done_callback(finished)

        try:
            self.loop.call_soon_threadsafe(begin)
        except RuntimeError:  # the loop is closed
            coro.close()
            raise
        done.acquire()
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        if result.cancelled():
            raise CancelledError()
        return result.result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout=5)


class Scheduler:
    """Runs jobs on their schedules from synchronous code.

    Takes the same arguments as :class:`AsyncScheduler` and offers the same methods,
    blocking instead of awaitable. Use it as a context manager (``with Scheduler(...)
    as s:``) to start and stop it.
    """

    def __init__(
        self,
        store: Store | str | None = None,
        handler: Handler | None = None,
        codec: ScheduleCodec | None = None,
        *,
        trigger: Trigger | str = "local",
        store_options: Mapping[str, Any] | None = None,
        trigger_options: Mapping[str, Any] | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        worker_id: str | None = None,
        coordinate: bool | None = None,
        claim_lease: timedelta = DEFAULT_LEASE,
        sync_interval: float = DEFAULT_SYNC_INTERVAL,
    ) -> None:
        self._async = AsyncScheduler(
            store,
            handler,
            codec,
            trigger=trigger,
            store_options=store_options,
            trigger_options=trigger_options,
            max_workers=max_workers,
            worker_id=worker_id,
            coordinate=coordinate,
            claim_lease=claim_lease,
            sync_interval=sync_interval,
        )
        self._lock = threading.Lock()
        self._thread: _LoopThread | None = None

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncScheduler", "Scheduler", 1)

    @property
    def async_scheduler(self) -> AsyncScheduler:
        """The asyncio scheduler this facade drives."""
        return self._async

    @property
    def is_running(self) -> bool:
        """Whether the scheduler has started and not stopped."""
        return self._async.is_running

    @property
    def store(self) -> Store:
        """The store jobs and history are persisted in."""
        return self._async.store

    @property
    def trigger(self) -> Trigger:
        """The trigger that decides when runs are due."""
        return self._async.trigger

    @property
    def codec(self) -> ScheduleCodec:
        """The codec that turns schedules into stored strings."""
        return self._async.codec

    @property
    def handler(self) -> Handler | None:
        """The job handler."""
        return self._async.handler

    @property
    def coordinated(self) -> bool:
        """Whether runs are claimed in the store (several schedulers share it)."""
        return self._async.coordinated

    @property
    def worker_id(self) -> str:
        """This scheduler's name in execution records and claims."""
        return self._async.worker_id

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._thread is None:
                self._thread = _LoopThread()
            thread = self._thread
        if threading.current_thread() is thread.thread:
            coro.close()
            raise RuntimeError(
                "a blocking Scheduler method was called from its own event loop (from a "
                "coroutine handler?); use scheduler.async_scheduler and await it there"
            )
        return thread.call(coro)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.is_running:
            self.stop()

    def start(self) -> None:
        """Blocking :meth:`AsyncScheduler.start`."""
        self._call(self._async.start())

    def stop(self, timeout: float | None = None) -> None:
        """Blocking :meth:`AsyncScheduler.stop`; the background loop ends with it."""
        try:
            self._call(self._async.stop(timeout))
        finally:
            with self._lock:
                thread, self._thread = self._thread, None
            if thread is not None:
                thread.close()

    def wait_until_running(self, timeout: float | None = None) -> None:
        """Blocking :meth:`AsyncScheduler.wait_until_running`."""
        self._call(self._async.wait_until_running(timeout))

    def add_job(
        self,
        job_id: str,
        schedule: Schedule,
        metadata: Mapping[str, str] | None = None,
        *,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Job:
        """Blocking :meth:`AsyncScheduler.add_job`."""
        return self._call(
            self._async.add_job(job_id, schedule, metadata, options=options, **option_fields)
        )

    def add_jobs(
        self,
        jobs: Iterable[JobSpec],
        *,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> list[Job]:
        """Blocking :meth:`AsyncScheduler.add_jobs` (one hand-over to the loop for all)."""
        return self._call(self._async.add_jobs(list(jobs), options=options, **option_fields))

    def update_job_options(
        self, job_id: str, options: JobOptions | None = None, **changes: Any
    ) -> Job:
        """Blocking :meth:`AsyncScheduler.update_job_options`."""
        return self._call(self._async.update_job_options(job_id, options, **changes))

    def run_job_now(self, job_id: str) -> str:
        """Blocking :meth:`AsyncScheduler.run_job_now`."""
        return self._call(self._async.run_job_now(job_id))

    def update_job_schedule(self, job_id: str, schedule: Schedule) -> Job:
        """Blocking :meth:`AsyncScheduler.update_job_schedule`."""
        return self._call(self._async.update_job_schedule(job_id, schedule))

    def remove_job(self, job_id: str) -> None:
        """Blocking :meth:`AsyncScheduler.remove_job`."""
        self._call(self._async.remove_job(job_id))

    def get_job(self, job_id: str) -> Job:
        """Blocking :meth:`AsyncScheduler.get_job`."""
        return self._call(self._async.get_job(job_id))

    def list_jobs(self) -> list[Job]:
        """Blocking :meth:`AsyncScheduler.list_jobs`."""
        return self._call(self._async.list_jobs())

    def pause_job(self, job_id: str) -> Job:
        """Blocking :meth:`AsyncScheduler.pause_job`."""
        return self._call(self._async.pause_job(job_id))

    def resume_job(self, job_id: str) -> Job:
        """Blocking :meth:`AsyncScheduler.resume_job`."""
        return self._call(self._async.resume_job(job_id))

    def run_history(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        """Blocking :meth:`AsyncScheduler.run_history`."""
        return self._call(self._async.run_history(job_id, options))
