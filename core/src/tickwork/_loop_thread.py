"""The event loop a blocking :class:`~tickwork.Scheduler` runs its
:class:`~tickwork.AsyncScheduler` on: a loop in a daemon thread, and the calls handed
to it that a caller may stop waiting for (a stop interrupted by a second Ctrl-C goes on
in the background, and the program's exit waits for it).

Kept apart from :mod:`~tickwork._sync`, which is the facade's API: this module is only
about running coroutines on a loop that lives in another thread, and ending it without
ever closing the loop under a pending task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError
from typing import Any, TypeVar

__all__ = ["Background", "LoopThread"]

logger = logging.getLogger("tickwork.scheduler")

T = TypeVar("T")

#: How long the end of a loop thread waits for tasks left over after its last call
#: (cancelled first), so that closing the loop never destroys a pending task.
_LEFTOVER_GRACE = 2.0


class Background:
    """A coroutine running on a loop thread, that its caller may stop waiting for."""

    def __init__(self, thread: LoopThread) -> None:
        self.thread = thread
        self.loop = thread.loop
        self.interrupts = 0  # KeyboardInterrupts that came while someone waited for it
        self._done = threading.Event()
        self._error: BaseException | None = None

    def finished(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._error = CancelledError()
        else:
            self._error = task.exception()
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self) -> None:
        """Block until it is done (a signal interrupts the wait); raise its error."""
        self._done.wait()
        if self._error is not None:
            raise self._error


class LoopThread:
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
            self._end_leftovers()
        finally:
            self.loop.close()

    def _end_leftovers(self) -> None:
        """Cancel and await the tasks still pending once the loop is told to end, as
        ``asyncio.run`` does, so closing the loop destroys none of them."""
        for _ in range(3):  # a call handed over as the loop ended may start one more
            leftovers = asyncio.all_tasks(self.loop)
            if not leftovers:
                break
            for task in leftovers:
                task.cancel()
            ended = asyncio.wait(leftovers, timeout=_LEFTOVER_GRACE)
            self.loop.run_until_complete(ended)
            for task in leftovers:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    logger.error(
                        "a task left at the end of the loop failed", exc_info=task.exception()
                    )
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())

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

    def end_with(
        self, coro: Coroutine[Any, Any, None], before_end: Callable[[], None]
    ) -> Background:
        """Run ``coro`` as the loop's last call: once it is done, ``before_end()`` is
        called on the loop, then the loop ends (tasks left over are cancelled and
        awaited) and the thread with it. Calls handed over meanwhile still run."""
        background = Background(self)

        def last(task: asyncio.Task[None]) -> None:
            before_end()
            self.loop.stop()
            background.finished(task)

        def begin() -> None:
            self.loop.create_task(coro).add_done_callback(last)

        self.loop.call_soon_threadsafe(begin)
        return background

    def join(self) -> None:
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout=_LEFTOVER_GRACE + 3)
