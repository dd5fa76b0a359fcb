"""The changes a user makes to a job, as functions on its entry.

Each public change (a new schedule, new options, pause, resume) is a function that
changes a :class:`~tickwork._entry.JobEntry` in place and says whether there is
anything to save. Being plain functions, they can be made again on a fresh copy of the
job when a conditional write lost to another process, and replayed at the next start
when they were made while the scheduler was stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ._entry import JobEntry, first_run
from ._models import JobStatus
from ._policy import JobOptions, user_metadata
from ._task_ref import TaskRef
from ._timeutil import utcnow
from .abc import Schedule

__all__ = [
    "Change",
    "PausedTicks",
    "new_options",
    "new_schedule",
    "new_task",
    "pause",
    "resume",
]

Change = Callable[[JobEntry], bool]
"""Changes the entry in place; False when there is nothing to save."""


def new_schedule(schedule: Schedule, schedule_type: str, config: str) -> Change:
    """Give the job ``schedule`` (stored as ``schedule_type``/``config``); its next run
    is computed from it at once, and a quarantined job becomes a normal one."""

    def change(entry: JobEntry) -> bool:
        now = utcnow()
        if entry.quarantine_reason:
            entry.metadata = user_metadata(entry.metadata)
        entry.schedule, entry.schedule_type, entry.schedule_config = schedule, schedule_type, config
        entry.next_run = first_run(schedule, now)
        entry.updated_at = now
        if entry.status not in (JobStatus.DISABLED, JobStatus.RUNNING):
            entry.status = JobStatus.PENDING
        return True

    return change


def new_options(options: JobOptions | None, changes: dict[str, Any]) -> Change:
    """Replace the job's run policies (``options``) or change single fields."""

    def change(entry: JobEntry) -> bool:
        entry.options = (options or entry.options).replace(**changes)
        entry.updated_at = utcnow()
        return True

    return change


def new_task(task: TaskRef | None) -> Change:
    """Make the job run ``task`` (with its arguments), or the handler (``None``)."""

    def change(entry: JobEntry) -> bool:
        entry.task, entry.task_missing = task, None
        entry.updated_at = utcnow()
        return True

    return change


def pause(entry: JobEntry) -> bool:
    """Stop the job from running (status ``disabled``)."""
    entry.status = JobStatus.DISABLED
    entry.updated_at = utcnow()
    return True


class PausedTicks:
    """A resume that remembers which ticks passed while the job was paused.

    ``span`` is ``(first, until)`` after the change, or None; it is set anew each time
    the change is made, so a change redone after a conflict records them once.
    """

    def __init__(self, record_ticks: bool) -> None:
        self.record_ticks = record_ticks
        self.span: tuple[datetime, datetime] | None = None

    def __call__(self, entry: JobEntry) -> bool:
        self.span = None
        if entry.status != JobStatus.DISABLED:
            return False
        now = utcnow()
        if entry.next_run is not None and entry.next_run <= now:
            upcoming = entry.schedule.next(now)
            if upcoming is None and entry.last_run is None:
                # A one-off that never ran still runs once: pausing must not lose it.
                upcoming = first_run(entry.schedule, now)
            elif self.record_ticks:
                self.span = (entry.next_run, now)
            entry.next_run = upcoming
        elif entry.next_run is None and entry.last_run is None:
            entry.next_run = first_run(entry.schedule, now)
        if entry.running:
            entry.status = JobStatus.RUNNING
        elif entry.next_run is None and entry.last_run is not None:
            entry.status = JobStatus.COMPLETED
        else:
            entry.status = JobStatus.PENDING
        entry.updated_at = now
        return True


def resume(record_ticks: bool) -> PausedTicks:
    """Let a paused job run again from its next fire time after now; the ticks missed
    meanwhile are not made up (recorded as ``paused`` when ``record_ticks``)."""
    return PausedTicks(record_ticks)
