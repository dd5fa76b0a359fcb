"""The in-process task executors: on the event loop, and in threads.

Both make ``call.context`` the current run the same way: they enter
:func:`~tickwork._run_context.running` only long enough to copy the context
(:func:`contextvars.copy_context`), and run the task in that copy. The copy, not the
caller's context, is what the task sees, so a task that sets context variables of its
own cannot leak them into the scheduler, and the thread a task runs in (which has a
context of its own) sees the run too.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from typing import Any

from ._errors import TaskFailedError
from ._invoke import HandlerThreads
from ._run_context import running
from ._task_call import TaskCall

__all__ = ["LoopExecutor", "ThreadExecutor"]

logger = logging.getLogger("tickwork.executors")


def context_of(call: TaskCall) -> contextvars.Context:
    """A copy of the caller's context in which ``call.context`` is the current run."""
    with running(call.context):
        return contextvars.copy_context()


def _closed_error(executor: object) -> RuntimeError:
    return RuntimeError(f"{type(executor).__name__} is closed: it takes no more calls")


class LoopExecutor:
    """Runs tasks on the scheduler's event loop: the executor for coroutine functions.

    Each call runs inline in the caller's task (the scheduler gives every run a task of
    its own, with its own copy of the context), with ``call.context`` made the current
    run for its duration: a task of its own per call would cost a loop iteration and a
    context copy, about seventy times what calling a coroutine costs. A timeout or a
    cancellation of the caller cancels the task's coroutine with it; :meth:`aclose`
    cancels the callers under way and turns that into :class:`TaskFailedError` for
    them. A plain function is called too, on the loop, and what it returns is awaited
    when it is awaitable; it blocks the loop while it runs and no timeout can interrupt
    it, which is why plain functions belong on a :class:`ThreadExecutor`.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[Any]] = set()
        self._drained: asyncio.Event | None = None  # set when the last call under way ends
        self._closed = False

    def __repr__(self) -> str:
        return f"LoopExecutor(running={len(self._tasks)})"

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (then no call is taken)."""
        return self._closed

    async def call(self, call: TaskCall, timeout: float | None) -> object:
        """Run the task; cancel it when ``timeout`` (seconds) passes first.

        :raises TimeoutError: the timeout passed (the task was cancelled).
        :raises TaskFailedError: :meth:`aclose` cancelled the call under way.
        """
        if self._closed:
            raise _closed_error(self)
        current = asyncio.current_task()
        assert current is not None
        self._tasks.add(current)
        try:
            with running(call.context):
                if timeout is None:
                    return await _call_on_loop(call)
                async with asyncio.timeout(timeout):
                    return await _call_on_loop(call)
        except asyncio.CancelledError:
            if current in self._closing:  # aclose(wait=False) cancelled it, not its caller
                self._closing.discard(current)
                current.uncancel()
                raise TaskFailedError(
                    f"task {call.task!r} was cancelled: the executor closed"
                ) from None
            raise
        finally:
            self._tasks.discard(current)
            if self._drained is not None and not self._tasks:
                self._drained.set()

    async def aclose(self, *, wait: bool) -> None:
        """Take no more calls; let the calls under way finish (``wait``) or cancel them."""
        self._closed = True
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        if not wait:
            for task in tasks:
                self._closing.add(task)
                task.cancel()
        if tasks:
            self._drained = asyncio.Event()
            if self._tasks - {asyncio.current_task()}:
                await self._drained.wait()  # the calls, not the callers' tasks, have ended


async def _call_on_loop(call: TaskCall) -> object:
    result = call.function(*call.args, **call.kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


def _call_in_context(work: tuple[contextvars.Context, TaskCall]) -> object:
    """What a worker thread runs: the task's function, in the copied context."""
    context, call = work
    return context.run(call.function, *call.args, **call.kwargs)


class ThreadExecutor:
    """Runs plain functions in worker threads (the scheduler's :class:`HandlerThreads`).

    The threads start on demand, up to ``max_workers``, and run each call in the
    copied context (``current_run()`` answers in the thread). A function that returns
    an awaitable has it awaited on the loop, in that context too, within what is left
    of the timeout. A thread cannot be stopped: at the timeout (or when the caller is
    cancelled) the call returns and the thread is left to finish, its result dropped.
    """

    def __init__(self, max_workers: int = 8) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
        self._max_workers = max_workers
        self._threads: HandlerThreads | None = None
        self._waiting: set[asyncio.Future[Any]] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"ThreadExecutor(max_workers={self._max_workers})"

    def _pool(self) -> HandlerThreads:
        # Built at the first call, on the loop that awaits the outcomes.
        if self._threads is None:
            self._threads = HandlerThreads(self._max_workers, asyncio.get_running_loop())
        return self._threads

    async def call(self, call: TaskCall, timeout: float | None) -> object:
        """Run the task in a thread, giving up on it when ``timeout`` passes first.

        :raises TimeoutError: the timeout passed (the thread goes on in the background).
        """
        if self._closed:
            raise _closed_error(self)
        context = context_of(call)
        try:
            async with asyncio.timeout(timeout):
                future = self._pool().call(_call_in_context, (context, call))
                self._waiting.add(future)
                future.add_done_callback(self._waiting.discard)
                result = await future
                if inspect.isawaitable(result):
                    result = await _await_in(context, result)
        except TimeoutError:
            logger.warning(
                "task %r passed its timeout of %s s; its thread goes on in the background "
                "and its result will be ignored",
                call.task,
                timeout,
            )
            raise
        return result

    async def aclose(self, *, wait: bool) -> None:
        """Take no more calls and end the threads, after the calls under way (``wait``).

        Without ``wait``, every call still waiting fails at once with
        :class:`TaskFailedError`: the calls no thread took are dropped, and the threads
        under way are left to finish (a thread cannot be stopped), their results
        ignored.
        """
        self._closed = True
        threads, self._threads = self._threads, None
        if threads is None:
            return
        if wait:
            # Joining blocks: in a thread of its own, so the loop delivers the outcomes.
            await asyncio.to_thread(threads.shutdown, True)
            return
        for future in list(self._waiting):
            if not future.done():
                future.set_exception(TaskFailedError("the executor closed; the task was left"))
        threads.shutdown(False, cancel_futures=True)


async def _await_in(context: contextvars.Context, awaitable: Any) -> object:
    """Await what a threaded function returned, with the run current in it too."""
    if inspect.iscoroutine(awaitable):
        return await asyncio.create_task(awaitable, context=context)
    return await awaitable  # a Future or the like: it runs where it was made
