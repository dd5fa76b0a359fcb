"""Calling the user's handler: on the loop or in a thread, with an optional timeout."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any

from ._job import JobEvent
from ._models import ExecutionStatus, JobStatus

__all__ = ["HandlerThreads", "Outcome", "call_handler", "is_async_callable"]

logger = logging.getLogger("tickwork.scheduler")
runs_logger = logging.getLogger("tickwork.runs")

Outcome = tuple[JobStatus | ExecutionStatus, str | None]

_Work = tuple["asyncio.Future[Any]", Callable[[Any], Any], Any]

# Pools whose threads must be told to end when the interpreter exits, before it joins
# its non-daemon threads (as concurrent.futures does for its own pools).
_live_pools: weakref.WeakSet[HandlerThreads] = weakref.WeakSet()


def _end_pools_at_exit() -> None:
    for pool in list(_live_pools):
        pool.shutdown(wait=False)


_register_atexit = getattr(threading, "_register_atexit", None)
if _register_atexit is not None:
    _register_atexit(_end_pools_at_exit)


def is_async_callable(obj: Any) -> bool:
    """Whether calling ``obj`` gives a coroutine (a coroutine function, or an object
    whose ``__call__`` is one), so it can be awaited on the loop without a thread."""
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class HandlerThreads:
    """The threads that run plain-function handlers, built for a cheap round trip.

    A run handed to a thread costs two wake-ups at least (the thread's, then the
    loop's when the outcome comes back), and on a small machine each wake-up costs
    tens of microseconds, so everything around them is kept lean:

    - Work goes through one :class:`queue.SimpleQueue` (a C queue) as a plain tuple.
      ``ThreadPoolExecutor.submit`` builds a ``concurrent.futures.Future`` (with its
      own lock and condition) and a work item per call, and ``run_in_executor`` then
      chains that future to an asyncio one: three objects and a callback per run,
      none of which the scheduler needs.
    - The asyncio future is resolved on the loop by :meth:`_deliver`. A worker queues
      the outcome and wakes the loop only when no wake-up is pending, so a burst of
      short handlers costs one wake-up per batch, not one per run.
    - Threads start on demand, when no thread is idle, up to ``max_workers``, and live
      until :meth:`shutdown`. Idle threads are counted with tokens in a deque (whose
      ``append`` and ``pop`` are atomic) instead of a ``threading.Semaphore``, which
      is written in Python and takes a lock per call.
    """

    def __init__(self, max_workers: int, loop: asyncio.AbstractEventLoop) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
        self._max_workers = max_workers
        self._loop = loop
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle: deque[None] = deque()
        self._outcomes: deque[tuple[asyncio.Future[Any], BaseException | None, Any]] = deque()
        self._wake_pending = False
        self._waiting: set[asyncio.Future[Any]] = set()
        self._shut_down = False
        _live_pools.add(self)

    def __repr__(self) -> str:
        return f"HandlerThreads(threads={len(self._threads)}, max_workers={self._max_workers})"

    @property
    def thread_count(self) -> int:
        """How many threads have been started (they are kept until shutdown)."""
        return len(self._threads)

    def call(self, fn: Callable[[Any], Any], arg: Any) -> asyncio.Future[Any]:
        """Run ``fn(arg)`` in a worker thread; the future is resolved on the loop.

        Cancelling the future does not stop the thread; its outcome is then dropped.

        :raises RuntimeError: after :meth:`shutdown`.
        """
        if self._shut_down:
            raise RuntimeError("cannot run a handler after the handler threads shut down")
        future = self._loop.create_future()
        self._waiting.add(future)
        self._work.put((future, fn, arg))
        try:
            self._idle.pop()  # an idle thread will take it
        except IndexError:
            if len(self._threads) < self._max_workers:
                self._start_thread()
            # else every thread is busy: the first one free takes it
        return future

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._serve,
            name=f"tickwork-handler_{len(self._threads)}",
            # A daemon: a run that a stop gave up waiting for (stop(timeout), a second
            # Ctrl-C) must not keep the process alive. Runs are let finish by stopping
            # the scheduler, which waits for them (the blocking Scheduler stops itself
            # at exit); a program that exits without stopping cuts them off.
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)

    def _serve(self) -> None:
        """A worker thread's life: take work until the shutdown sentinel."""
        work, outcomes = self._work, self._outcomes
        while True:
            item = work.get()
            if item is None:
                work.put(None)  # let the next thread see it too
                return
            future, fn, arg = item
            try:
                outcomes.append((future, None, fn(arg)))
            except BaseException as exc:
                outcomes.append((future, exc, None))
            del item, future, fn, arg  # do not keep the last event alive while idle
            # Idle before the loop hears of the outcome, so the run that follows it
            # finds this thread instead of starting another one.
            self._idle.append(None)
            # A stale read of _wake_pending can only cause one wake-up too many, never
            # a missed one: the loop clears the flag before it takes outcomes out.
            if not self._wake_pending:
                self._wake_pending = True
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        self._wake_pending = False
        outcomes, waiting = self._outcomes, self._waiting
        while outcomes:
            future, exc, result = outcomes.popleft()
            waiting.discard(future)
            if future.done():  # its run was cancelled meanwhile
                continue
            if exc is None:
                future.set_result(result)
            elif isinstance(exc, StopIteration):  # futures refuse it
                future.set_exception(RuntimeError(f"handler raised {exc!r}"))
            else:
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Let the threads end once they are done with their current handler.

        ``cancel_futures`` drops the calls no thread has taken yet (their futures are
        cancelled); ``wait`` blocks until every thread has ended.
        """
        self._shut_down = True
        if cancel_futures:
            while True:
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._waiting.discard(item[0])
                    self._loop.call_soon_threadsafe(item[0].cancel)
        self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


async def call_handler(
    handler: Any,
    is_async: bool,
    event: JobEvent,
    executor: HandlerThreads | Executor | None,
    timeout: timedelta | None,
    context: contextvars.Context | None = None,
) -> Outcome:
    """Run the handler once and say how it ended.

    ``context`` is what a plain-function handler's thread runs it in: the scheduler
    passes a copy of the run's context only when an instrument may have set something
    in it (a current span). Without one the thread runs the handler in its own
    context, which saves a copy and a ``Context.run`` per run.

    A coroutine handler that passes its timeout is cancelled. A thread cannot be
    interrupted: after the timeout the run is recorded as timed out and the thread is
    left to finish with its result ignored, so the job's next run is not held up.

    :raises asyncio.CancelledError: the run itself was cancelled (scheduler stopping,
        or superseded with ``overlap="cancel_running"``).
    """
    limit = None if timeout is None else timeout.total_seconds()
    try:
        if is_async:
            if limit is None:  # the usual case: no timeout context to enter and leave
                await handler(event)
            else:
                async with asyncio.timeout(limit):
                    await handler(event)
        else:
            if context is not None:
                handler = functools.partial(context.run, handler)
            await _in_thread(handler, event, executor, limit)
    except TimeoutError:
        return _timed_out(event, timeout, is_async)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return _failed(event, exc)
    return JobStatus.COMPLETED, None


def _timed_out(event: JobEvent, timeout: timedelta | None, is_async: bool) -> Outcome:
    if not is_async:
        logger.warning(
            "job %r passed its timeout of %s; its thread goes on in the background "
            "and its result will be ignored",
            event.id,
            timeout,
        )
    return ExecutionStatus.TIMED_OUT, f"timed out after {timeout}"


def _failed(event: JobEvent, exc: Exception) -> Outcome:
    """Log a handler's exception with its traceback and the run's ids."""
    error = str(exc) or type(exc).__name__
    runs_logger.error(
        "job %r failed (attempt %d, execution %s): %s",
        event.id,
        event.attempt,
        event.execution_id,
        error,
        exc_info=exc,
        extra={
            "job_id": event.id,
            "execution_id": event.execution_id,
            "attempt": event.attempt,
            "scheduled_at": event.scheduled_at.isoformat(),
        },
    )
    return JobStatus.FAILED, error


async def _in_thread(
    handler: Any, event: JobEvent, executor: HandlerThreads | Executor | None, limit: float | None
) -> None:
    """Run a plain-function handler in a worker thread, and await what it returns if
    that is awaitable (a function that hands back a coroutine)."""
    if isinstance(executor, HandlerThreads):
        future = executor.call(handler, event)
        # A cancelled wait leaves the thread to finish either way, as shield does.
        result = await (future if limit is None else asyncio.wait_for(future, limit))
    else:
        loop = asyncio.get_running_loop()
        pending = loop.run_in_executor(executor, handler, event)
        result = await asyncio.wait_for(asyncio.shield(pending), limit)
    if inspect.isawaitable(result):
        async with asyncio.timeout(limit):
            await result
