"""``Scheduler``: the blocking facade for programs that are not written with asyncio.

It runs an :class:`AsyncScheduler` on an event loop in a background thread and hands
every call over to that loop, so both share one implementation. Handlers behave the
same: plain functions run in the worker thread pool, coroutine functions on the loop.
Each method takes the async method's parameters and carries its docstring, so the two
classes are documented in one place (a test compares them member by member).

Why the end of a program needs care here. The loop runs in a daemon thread, so nothing
would stop it when the program ends or is interrupted:

- A ``Scheduler`` still running when the interpreter exits is stopped then, before the
  interpreter waits for its threads (as :mod:`concurrent.futures` ends its pools): runs
  in progress finish and leave their records, claims are released, the store is closed.
- ``stop()`` interrupted while it waits for runs (a second Ctrl-C: ``KeyboardInterrupt``
  in the waiting thread) tells the stop to hurry (``AsyncScheduler.stop(0)`` on the
  loop) and re-raises at once. The stop goes on in the background, its loop is never
  closed under it (which would destroy pending tasks), and the program's exit waits for
  it; a further interrupt at exit gives up waiting.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - registers its exit hook before ours (below)
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from . import _invoke  # noqa: F401 - registers its exit hook before ours (below)
from ._backfill import DEFAULT_BACKFILL_LIMIT, BackfillReport
from ._coordination import DEFAULT_LEASE, DEFAULT_SYNC_INTERVAL
from ._errors import SchedulerNotStartedError
from ._event_bus import DEFAULT_QUEUE_SIZE, BlockingEventStream, Subscription
from ._events import Event
from ._job import Job
from ._loop_thread import Background, LoopThread
from ._models import ExecutionRecord, QueryOptions
from ._policy import JobOptions
from ._scheduler import DEFAULT_MAX_WORKERS, AsyncScheduler, Handler, JobSpec
from ._tasks import TaskChoice, TaskRegistry, TaskSpec
from .abc import Instrument, Schedule, ScheduleCodec, Store, Trigger

__all__ = ["Scheduler"]

logger = logging.getLogger("tickwork.scheduler")

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _mirrors(member: Any, note: str = "") -> Callable[[F], F]:
    """Give a facade member the docstring of the :class:`AsyncScheduler` member it
    blocks on (a method or a property), with an optional note on what differs."""
    doc = member.__doc__ or ""

    def apply(func: F) -> F:
        func.__doc__ = f"{doc.rstrip()}\n\n{note}" if note else doc
        return func

    return apply


# The facades that are running, or stopping in the background: ended at exit.
_active: set[Scheduler] = set()
_active_lock = threading.Lock()


def _stop_all_at_exit() -> None:
    with _active_lock:
        schedulers = list(_active)
    for scheduler in schedulers:
        scheduler._end_at_exit()


# Before the interpreter joins its non-daemon threads (the handler threads are: they are
# let finish their run). Hooks run last registered first, so this one runs before the
# handler pools are told to end (``_invoke``) and before ``concurrent.futures`` refuses
# new work in every pool (stores run their I/O in one): both modules registered theirs
# when they were imported, above. The stop can still hand out runs and write to stores.
_register_atexit = getattr(threading, "_register_atexit", None)
if _register_atexit is not None:
    _register_atexit(_stop_all_at_exit)
else:  # pragma: no cover - CPython has it since 3.9
    atexit.register(_stop_all_at_exit)


class Scheduler:
    """Runs jobs on their schedules from synchronous code.

    Takes the same arguments as :class:`AsyncScheduler` and offers the same methods,
    blocking instead of awaitable. Use it as a context manager (``with Scheduler(...)
    as s:``) to start and stop it. One still running when the interpreter exits is
    stopped then: its runs in progress finish and are recorded, the store is closed.
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
        tasks: TaskRegistry | None = None,
        instruments: Iterable[Instrument | str] | None = None,
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
            tasks=tasks,
            instruments=instruments,
        )
        self._lock = threading.Lock()
        self._thread: LoopThread | None = None
        # A stop whose wait was interrupted, going on in the background.
        self._stopping: Background | None = None

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncScheduler", "Scheduler", 1)

    @property
    def tasks(self) -> TaskRegistry:
        """The tasks this scheduler can run (those of :attr:`async_scheduler`)."""
        return self._async.tasks

    @property
    def async_scheduler(self) -> AsyncScheduler:
        """The asyncio scheduler this facade drives."""
        return self._async

    @property
    @_mirrors(AsyncScheduler.is_running)
    def is_running(self) -> bool:
        return self._async.is_running

    @property
    @_mirrors(AsyncScheduler.store)
    def store(self) -> Store:
        return self._async.store

    @property
    @_mirrors(AsyncScheduler.trigger)
    def trigger(self) -> Trigger:
        return self._async.trigger

    @property
    @_mirrors(AsyncScheduler.codec)
    def codec(self) -> ScheduleCodec:
        return self._async.codec

    @property
    @_mirrors(AsyncScheduler.handler)
    def handler(self) -> Handler | None:
        return self._async.handler

    @property
    @_mirrors(AsyncScheduler.coordinated)
    def coordinated(self) -> bool:
        return self._async.coordinated

    @property
    def worker_id(self) -> str:
        """This scheduler's name in execution records and claims."""
        return self._async.worker_id

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._thread is None:
                self._thread = LoopThread()
            thread = self._thread
        if threading.current_thread() is thread.thread:
            coro.close()
            raise _called_from_loop()
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

    @_mirrors(AsyncScheduler.start)
    def start(self) -> None:
        self._await_stop(quiet=True)  # a stop left going by an interrupt ends first
        self._call(self._async.start())
        with _active_lock:
            _active.add(self)

    @_mirrors(
        AsyncScheduler.stop,
        "The background loop ends with it. A ``KeyboardInterrupt`` (a second Ctrl-C) "
        "while it waits for runs tells the stop to hurry and is re-raised at once; the "
        "stop goes on in the background, and the interpreter's exit waits for it.",
    )
    def stop(self, timeout: float | None = None) -> None:
        with self._lock:
            thread = self._thread
            if thread is not None and threading.current_thread() is thread.thread:
                raise _called_from_loop()
            # A stop in progress (another thread's, or one an interrupt left going) is
            # waited for, not started again.
            if self._stopping is None:
                if thread is None:
                    raise SchedulerNotStartedError()
                # Calls made while it stops (from handlers, say) still go to its loop.
                self._stopping = thread.end_with(
                    self._async.stop(timeout), lambda: self._loop_ended(thread)
                )
        self._await_stop()

    def _loop_ended(self, thread: LoopThread) -> None:
        with self._lock:
            if self._thread is thread:
                self._thread = None  # the next call starts a new loop

    def _await_stop(self, *, quiet: bool = False) -> None:
        """Wait for a stop in progress (if any); on an interrupt, tell it to hurry."""
        stopping = self._stopping
        if stopping is None:
            return
        try:
            stopping.wait()
        except KeyboardInterrupt:
            stopping.interrupts += 1
            if stopping.interrupts == 1:
                self._hurry(stopping)
            raise KeyboardInterrupt from None  # not a traceback into threading's locks
        except Exception:
            if not quiet:
                raise
            logger.exception("stopping the scheduler failed")
        finally:
            if stopping.done:
                with self._lock:
                    if self._stopping is stopping:
                        self._stopping = None
                with _active_lock:
                    _active.discard(self)
                stopping.thread.join()

    def _hurry(self, stopping: Background) -> None:
        """Ask the stop in progress to stop waiting for runs (``stop(0)`` on its loop):
        runs still going are cut short, and recorded, by ``AsyncScheduler.stop``."""

        async def hurry() -> None:
            try:
                await self._async.stop(0)
            except SchedulerNotStartedError:
                pass  # an AsyncScheduler that cannot shorten a stop in progress
            except Exception:
                logger.exception("hurrying the scheduler's stop failed")

        coro = hurry()
        try:
            stopping.loop.call_soon_threadsafe(stopping.loop.create_task, coro)
        except RuntimeError:  # the loop is closed: the stop is over
            coro.close()

    def _end_at_exit(self) -> None:
        """Stop this scheduler as the interpreter exits, or wait for its stop to end.

        One interrupt while it waits tells the stop to hurry; after that, the next one
        gives up waiting (the loop is left to the interpreter's end, never closed under
        its tasks).
        """
        while True:
            try:
                if self._stopping is not None:
                    self._await_stop(quiet=True)
                elif self.is_running:
                    self.stop()
                return
            except KeyboardInterrupt:
                stopping = self._stopping
                if stopping is None or stopping.interrupts > 1:
                    return
            except Exception:
                logger.exception("stopping %r at exit failed", self)
                return
            finally:
                with _active_lock:
                    if self._stopping is None and not self.is_running:
                        _active.discard(self)

    @_mirrors(AsyncScheduler.wait_until_running)
    def wait_until_running(self, timeout: float | None = None) -> None:
        self._call(self._async.wait_until_running(timeout))

    @_mirrors(AsyncScheduler.add_job)
    def add_job(
        self,
        job_id: str,
        schedule: Schedule,
        metadata: Mapping[str, str] | None = None,
        *,
        task: TaskSpec | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Job:
        # A store in this process: checked and queued here, written by the loop (see
        # tickwork._thread_adds); the loop's answer is awaited only where it decides.
        choice = TaskChoice(task, args, kwargs)
        added = self._async._thread_adds.add(
            job_id, schedule, metadata, choice, options, option_fields
        )
        if added is not None:
            return added.snapshot()
        return self._call(
            self._async.add_job(
                job_id,
                schedule,
                metadata,
                task=task,
                args=args,
                kwargs=kwargs,
                options=options,
                **option_fields,
            )
        )

    @_mirrors(AsyncScheduler.add_jobs, "The jobs go to the loop in one hand-over.")
    def add_jobs(
        self,
        jobs: Iterable[JobSpec],
        *,
        task: TaskSpec | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> list[Job]:
        return self._call(
            self._async.add_jobs(
                list(jobs), task=task, args=args, kwargs=kwargs, options=options, **option_fields
            )
        )

    @_mirrors(AsyncScheduler.update_job_task)
    def update_job_task(
        self,
        job_id: str,
        task: TaskSpec | None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Job:
        return self._call(self._async.update_job_task(job_id, task, args, kwargs))

    @_mirrors(AsyncScheduler.subscribe, "Plain callbacks suit a program without asyncio.")
    def subscribe(
        self,
        callback: Callable[[Any], Any],
        *event_types: type[Event],
        job_id: str | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> Subscription:
        return self._async.subscribe(callback, *event_types, job_id=job_id, queue_size=queue_size)

    @_mirrors(
        AsyncScheduler.events,
        "Here a blocking iterator: ``for event in scheduler.events(): ...`` in a thread of "
        "your own; ``get(timeout)`` takes one, ``close()`` (or ``with``) ends it.",
    )
    def events(
        self,
        *event_types: type[Event],
        job_id: str | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> BlockingEventStream:
        return self._async._events.blocking_events(
            *event_types, job_id=job_id, queue_size=queue_size
        )

    @_mirrors(AsyncScheduler.task)
    def task(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        executor: str | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Any:
        return self._async.task(
            function, name=name, executor=executor, options=options, **option_fields
        )

    @_mirrors(AsyncScheduler.update_job_options)
    def update_job_options(
        self, job_id: str, options: JobOptions | None = None, **changes: Any
    ) -> Job:
        return self._call(self._async.update_job_options(job_id, options, **changes))

    @_mirrors(AsyncScheduler.run_job_now)
    def run_job_now(self, job_id: str) -> str:
        return self._call(self._async.run_job_now(job_id))

    @_mirrors(AsyncScheduler.backfill)
    def backfill(
        self,
        job_id: str,
        start: datetime,
        end: datetime,
        *,
        limit: int = DEFAULT_BACKFILL_LIMIT,
        progress: Callable[[int, int], None] | None = None,
    ) -> BackfillReport:
        # (progress is called on the scheduler's loop thread)
        return self._call(self._async.backfill(job_id, start, end, limit=limit, progress=progress))

    @_mirrors(AsyncScheduler.update_job_schedule)
    def update_job_schedule(self, job_id: str, schedule: Schedule) -> Job:
        return self._call(self._async.update_job_schedule(job_id, schedule))

    @_mirrors(AsyncScheduler.remove_job)
    def remove_job(self, job_id: str) -> None:
        self._call(self._async.remove_job(job_id))

    @_mirrors(AsyncScheduler.get_job)
    def get_job(self, job_id: str) -> Job:
        return self._call(self._async.get_job(job_id))

    @_mirrors(AsyncScheduler.list_jobs)
    def list_jobs(self) -> list[Job]:
        return self._call(self._async.list_jobs())

    @_mirrors(AsyncScheduler.pause_job)
    def pause_job(self, job_id: str) -> Job:
        return self._call(self._async.pause_job(job_id))

    @_mirrors(AsyncScheduler.resume_job)
    def resume_job(self, job_id: str) -> Job:
        return self._call(self._async.resume_job(job_id))

    @_mirrors(AsyncScheduler.run_history)
    def run_history(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        return self._call(self._async.run_history(job_id, options))

    def run_on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this scheduler's event loop and return its result.

        The facade's own: :class:`AsyncScheduler` needs no such method, its caller is
        on the loop already. Here the store (and anything else the scheduler opened)
        belongs to a loop in another thread, and a database connection must not move
        between loops, so a blocking program that uses :attr:`store` directly (a
        dashboard paging through jobs) hands the coroutine to this method.

        :raises RuntimeError: called from that loop (a coroutine handler), where it
            would wait for itself; await the coroutine there instead.
        """
        return self._call(coro)


def _called_from_loop() -> RuntimeError:
    return RuntimeError(
        "a blocking Scheduler method was called from its own event loop (from a "
        "coroutine handler?); use scheduler.async_scheduler and await it there"
    )
