"""The run a task is doing, for a task that asks (``tickwork.current_run()``).

A task is a plain function with its own arguments; most never need to know which run
they are part of. The few that do (to log the execution id, to look at the scheduled
time rather than the clock) ask for it, instead of every task having to accept a
``JobEvent``. The context travels in a :class:`contextvars.ContextVar`, so it is right
in coroutines, in the scheduler's threads and, set again by the executor, in a child
process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime

import attrs

from ._errors import TickworkError

__all__ = ["NotInRunError", "RunContext", "current_run", "running"]


class NotInRunError(TickworkError, LookupError):
    """``current_run()`` was called outside a task that the scheduler is running."""


@attrs.frozen(kw_only=True)
class RunContext:
    """What a task may want to know about the run it is doing."""

    job_id: str
    execution_id: str
    #: The time the run was due (the schedule's tick), not when it started.
    scheduled_at: datetime
    started_at: datetime
    #: 1 for the first try of a run, 2 for the first retry, and so on.
    attempt: int
    worker_id: str
    #: The task's registered name.
    task: str
    #: True for a run started with ``run_job_now`` rather than by the schedule.
    manual: bool = False
    #: True for a run of a past tick asked for with ``backfill``.
    backfill: bool = False


_CURRENT: ContextVar[RunContext] = ContextVar("tickwork_current_run")


def current_run() -> RunContext:
    """The run the calling task is doing.

    :raises NotInRunError: not called from a task the scheduler runs.
    """
    try:
        return _CURRENT.get()
    except LookupError:
        raise NotInRunError(
            "current_run() is only available inside a task run by a tickwork scheduler"
        ) from None


@contextlib.contextmanager
def running(context: RunContext) -> Iterator[None]:
    """Make ``context`` the current run for the code inside (executors use this)."""
    token = _CURRENT.set(context)
    try:
        yield
    finally:
        _CURRENT.reset(token)
