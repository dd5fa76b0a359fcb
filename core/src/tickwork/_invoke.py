"""Calling the user's handler: on the loop or in a thread, with an optional timeout."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from ._job import JobEvent
from ._models import ExecutionStatus, JobStatus

__all__ = ["HandlerThreads", "Outcome", "call_handler", "is_async_callable"]

logger = logging.getLogger("tickwork.scheduler")

Outcome = tuple[JobStatus | ExecutionStatus, str | None]


def is_async_callable(obj: Any) -> bool:
    """Whether calling ``obj`` gives a coroutine (a coroutine function, or an object
    whose ``__call__`` is one), so it can be awaited on the loop without a thread."""
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class HandlerThreads(ThreadPoolExecutor):
    """The thread pool that runs plain-function handlers, with a cheaper way back.

    ``loop.run_in_executor`` chains a ``concurrent.futures.Future`` to an asyncio
    future and wakes the loop once per call. :meth:`call` instead resolves the asyncio
    future itself: the worker thread queues the outcome and wakes the loop only when
    no wake-up is pending, so a burst of short handlers costs one wake-up per batch,
    not one per run. Threads are the executor's own (same names, same shutdown).
    """

    def __init__(self, max_workers: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="tickwork-handler")
        self._loop = loop
        self._outcomes: deque[tuple[asyncio.Future[Any], BaseException | None, Any]] = deque()
        self._wake_pending = False
        self._waiting: set[asyncio.Future[Any]] = set()

    def call(self, fn: Callable[[Any], Any], arg: Any) -> asyncio.Future[Any]:
        """Run ``fn(arg)`` in a worker thread; the future is resolved on the loop.

        Cancelling the future does not stop the thread; its outcome is then dropped.
        """
        future = self._loop.create_future()
        self._waiting.add(future)
        self.submit(self._work, future, fn, arg)
        return future

    def _work(self, future: asyncio.Future[Any], fn: Callable[[Any], Any], arg: Any) -> None:
        # In a worker thread. deque.append is atomic; a stale read of _wake_pending can
        # only cause one wake-up too many, never a missed one: the loop clears the flag
        # before it takes outcomes out of the queue.
        try:
            self._outcomes.append((future, None, fn(arg)))
        except BaseException as exc:
            self._outcomes.append((future, exc, None))
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
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if cancel_futures:
            # Calls that never reached a thread will never report back.
            waiting, self._waiting = self._waiting, set()
            for future in waiting:
                if not future.done():
                    self._loop.call_soon_threadsafe(future.cancel)


async def call_handler(
    handler: Any,
    is_async: bool,
    event: JobEvent,
    executor: Executor | None,
    timeout: timedelta | None,
) -> Outcome:
    """Run the handler once and say how it ended.

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
            if isinstance(executor, HandlerThreads):
                future = executor.call(handler, event)
                # A cancelled wait leaves the thread to finish either way, as shield does.
                result = await (future if limit is None else asyncio.wait_for(future, limit))
            else:
                loop = asyncio.get_running_loop()
                future = loop.run_in_executor(executor, handler, event)
                result = await asyncio.wait_for(asyncio.shield(future), limit)
            if inspect.isawaitable(result):
                async with asyncio.timeout(limit):
                    await result
    except TimeoutError:
        if not is_async:
            logger.warning(
                "job %r passed its timeout of %s; its thread goes on in the background "
                "and its result will be ignored",
                event.id,
                timeout,
            )
        return ExecutionStatus.TIMED_OUT, f"timed out after {timeout}"
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        logger.warning("job %r failed: %s", event.id, error, exc_info=True)
        return JobStatus.FAILED, error
    return JobStatus.COMPLETED, None
