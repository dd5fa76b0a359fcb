"""The executor contract: where a task's function runs."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .._task_call import TaskCall

__all__ = ["TaskExecutor"]


@runtime_checkable
class TaskExecutor(Protocol):
    """Where a task's function runs: the event loop, a thread, a child process, or
    anything a plugin provides (``register_executors``).

    The scheduler picks the executor a task was registered with and awaits
    :meth:`call` once per attempt. Contract (``tickwork.testing.TaskExecutorContract``):

    - :meth:`call` runs ``call.function(*call.args, **call.kwargs)`` (or, away from
      this process, the function named ``call.import_path``) with ``call.context`` as
      the current run (``tickwork.current_run()``), and returns what it returned
      (awaited, when it is a coroutine);
    - an exception from the task is raised from :meth:`call` unchanged when it ran in
      this process, or as :class:`~tickwork.TaskFailedError` carrying its type and
      message when it did not;
    - when ``timeout`` (seconds) passes first, :meth:`call` raises :class:`TimeoutError`
      and ends the work where it can (a coroutine is cancelled, a child process is
      killed; a thread cannot be stopped and is left to finish, its result ignored);
    - a task whose process died raises :class:`~tickwork.TaskFailedError` saying how
      (exit code or signal);
    - cancelling the awaiting task (the scheduler stopping) ends the work as a timeout
      would, and :class:`asyncio.CancelledError` propagates;
    - :meth:`aclose` ends the executor's threads or processes; with ``wait`` it first
      lets calls under way finish. The scheduler calls it once, at stop.
    """

    async def call(self, call: TaskCall, timeout: float | None) -> object: ...

    async def aclose(self, *, wait: bool) -> None: ...
