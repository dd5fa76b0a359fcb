"""The scheduler's live, mutable state of one job."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from ._job import Job
from ._models import JobData, JobStatus, build_unchecked
from ._policy import DEFAULT_OPTIONS, JobOptions, options_to_metadata
from ._task_ref import TaskRef, task_to_metadata
from ._timeutil import as_utc, as_utc_or_none
from .abc import FirstRunSchedule, Schedule

__all__ = ["JobEntry", "UndecodableSchedule", "first_run"]


def first_run(schedule: Schedule, now: datetime) -> datetime | None:
    """The first fire time of a new (or newly rescheduled) job.

    ``next(now)`` for most schedules; a :class:`~tickwork.abc.FirstRunSchedule` decides
    for itself (a one-off time that already passed still runs once, immediately).
    """
    if isinstance(schedule, FirstRunSchedule):
        return schedule.first_run(now)
    return schedule.next(now)


@attrs.frozen
class UndecodableSchedule:
    """Stands in for a stored schedule no installed codec can read.

    The job it belongs to is quarantined: listed with the reason, never run, and never
    written back, so its row stays exactly as it is until the plugin that can read it
    is installed (the job then loads and runs normally).
    """

    schedule_type: str
    config: str
    reason: str

    def next(self, after: datetime) -> datetime | None:
        return None


_NO_RUNS: Mapping[asyncio.Task[None], datetime] = MappingProxyType({})


@attrs.define(eq=False)
class JobEntry:
    """Everything the scheduler knows about one job while it runs it."""

    id: str
    schedule: Schedule
    schedule_type: str
    schedule_config: str
    metadata: dict[str, str]
    status: JobStatus
    next_run: datetime | None
    last_run: datetime | None
    created_at: datetime
    updated_at: datetime
    options: JobOptions = DEFAULT_OPTIONS
    last_completed_at: datetime | None = None
    completion_known: bool = False
    #: Tasks running the handler right now, with the tick each one runs (several
    #: only with overlap="allow"). Read-only here; :meth:`running_tasks` changes it.
    #: An idle job shares one empty mapping (a dict of its own is 64 bytes).
    running: Mapping[asyncio.Task[None], datetime] = _NO_RUNS
    #: A run due while the job was running, kept for later (overlap="queue_one").
    queued: datetime | None = None
    #: The tasks of ``running`` that have ended and are writing what they leave (which
    #: can take a while: the store may be away). Shared, like ``running``, with the
    #: entry that replaces this one when the job is read again. None until a run
    #: finishes: an empty set costs 216 bytes, a fifth of an idle job.
    finishing: set[asyncio.Task[None]] | None = None
    removed: bool = False
    #: The store could not read the row (``JobData.unreadable``): only removal touches it.
    unreadable: bool = False
    #: The task the job runs (None: the scheduler's handler).
    task: TaskRef | None = None
    #: Why this process cannot run the job's task (not registered here), or None. Such
    #: a job is never claimed, run or rewritten here; another process may run it.
    task_missing: str | None = None
    #: The due run for which the missing task was last recorded (once per stored tick).
    task_missing_noted: datetime | None = None

    def running_tasks(self) -> dict[asyncio.Task[None], datetime]:
        """:attr:`running` as a dict of this entry's own (then shared with a
        replacement), made on first use."""
        running = self.running
        if type(running) is not dict:
            running = self.running = {}
        return running

    def finishing_tasks(self) -> set[asyncio.Task[None]]:
        """:attr:`finishing`, made on first use (and then shared with a replacement)."""
        if self.finishing is None:
            self.finishing = set()
        return self.finishing

    @property
    def quarantine_reason(self) -> str | None:
        schedule = self.schedule
        return schedule.reason if isinstance(schedule, UndecodableSchedule) else None

    def to_data(self) -> JobData:
        # After every run: built without JobData's converters, which would only check
        # again what the entry keeps canonical (times are normalised here, cheaply).
        return build_unchecked(
            JobData,
            (
                self.id,
                self.schedule_type,
                self.schedule_config,
                JobStatus(self.status),
                as_utc_or_none(self.next_run),
                as_utc_or_none(self.last_run),
                as_utc(self.created_at),
                as_utc(self.updated_at),
                task_to_metadata(self.task, options_to_metadata(self.options, self.metadata)),
            ),
        )

    def snapshot(self) -> Job:
        return Job(
            id=self.id,
            schedule=self.schedule,
            metadata=self.metadata,
            status=self.status,
            next_run=self.next_run,
            last_run=self.last_run,
            created_at=self.created_at,
            is_running=bool(self.running),
            options=self.options,
            quarantined=self.quarantine_reason or self.task_missing,
            task=self.task.name if self.task is not None else None,
        )

    @property
    def wants_to_run(self) -> bool:
        return (
            not self.removed
            and self.status != JobStatus.DISABLED
            and self.next_run is not None
            and not isinstance(self.schedule, UndecodableSchedule)
        )
