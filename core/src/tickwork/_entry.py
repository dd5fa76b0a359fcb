"""The scheduler's live, mutable state of one job."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar, overload

import attrs

from ._job import Job
from ._models import JobData, JobStatus, build_unchecked
from ._policy import DEFAULT_OPTIONS, JobOptions, options_to_metadata
from ._task_ref import TaskRef, task_to_metadata
from ._timeutil import as_utc, as_utc_or_none
from .abc import FirstRunSchedule, Schedule

__all__ = ["NO_METADATA", "JobEntry", "UndecodableSchedule", "entry_metadata", "first_run"]


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

#: The metadata of every job that has none: one read-only mapping shared by all of
#: them (an empty dict of each job's own is 64 bytes). Nothing changes an entry's
#: metadata in place; a change replaces the mapping.
NO_METADATA: Mapping[str, str] = MappingProxyType({})


def entry_metadata(metadata: Mapping[str, str]) -> Mapping[str, str]:
    """``metadata`` as an entry keeps it: :data:`NO_METADATA` when it is empty."""
    return metadata if metadata else NO_METADATA


_T = TypeVar("_T")


@attrs.define(eq=False, weakref_slot=False)
class _Extras:
    """The attributes of a :class:`JobEntry` that an idle job never sets (see
    :class:`_Seldom`)."""

    last_completed_at: datetime | None = None
    completion_known: bool = False
    queued: datetime | None = None
    finishing: set[asyncio.Task[None]] | None = None
    unreadable: bool = False
    task_missing_noted: datetime | None = None


class _Seldom(Generic[_T]):
    """An attribute of :class:`JobEntry` kept in its :class:`_Extras`, which is made on
    the first assignment of anything but the default: a job that never runs (or is
    never quarantined) has no slot for it. Six slots are 48 bytes a job, and reading
    through this costs a function call, which only a run pays."""

    def __init__(self, default: _T) -> None:
        self._default = default
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, entry: None, owner: type) -> _Seldom[_T]: ...
    @overload
    def __get__(self, entry: JobEntry, owner: type) -> _T: ...
    def __get__(self, entry: JobEntry | None, owner: type) -> Any:
        if entry is None:
            return self
        extras = entry.extras
        return self._default if extras is None else getattr(extras, self._name)

    def __set__(self, entry: JobEntry, value: _T) -> None:
        extras = entry.extras
        if extras is None:
            if value is self._default:
                return
            extras = entry.extras = _Extras()
        setattr(extras, self._name, value)


@attrs.define(eq=False, weakref_slot=False)
class JobEntry:
    """Everything the scheduler knows about one job while it runs it.

    A million idle jobs are a million of these, so it keeps no weak-reference slot
    and shares what it can: :data:`NO_METADATA`, the empty run state, and (for jobs
    added together) the schedule, its encoded text and the first run time.
    """

    id: str
    schedule: Schedule
    schedule_type: str
    schedule_config: str
    #: Read-only here: a change assigns a new mapping (it may be :data:`NO_METADATA`).
    metadata: Mapping[str, str]
    status: JobStatus
    next_run: datetime | None
    last_run: datetime | None
    created_at: datetime
    updated_at: datetime
    options: JobOptions = DEFAULT_OPTIONS
    #: Tasks running the handler right now, with the tick each one runs (several
    #: only with overlap="allow"). Read-only here; :meth:`running_tasks` changes it.
    #: An idle job shares one empty mapping (a dict of its own is 64 bytes).
    running: Mapping[asyncio.Task[None], datetime] = _NO_RUNS
    removed: bool = False
    #: The task the job runs (None: the scheduler's handler).
    task: TaskRef | None = None
    #: Why this process cannot run the job's task (not registered here), or None. Such
    #: a job is never claimed, run or rewritten here; another process may run it.
    task_missing: str | None = None
    #: Where the attributes below live once one is set (None for an idle job).
    extras: _Extras | None = None

    # -- seldom set: kept in ``extras`` (not attrs fields) --------------------------------

    #: When the job's last run ended, once known (``completion_known``).
    last_completed_at = _Seldom[datetime | None](None)
    completion_known = _Seldom[bool](False)
    #: A run due while the job was running, kept for later (overlap="queue_one").
    queued = _Seldom[datetime | None](None)
    #: The tasks of ``running`` that have ended and are writing what they leave (which
    #: can take a while: the store may be away). Shared, like ``running``, with the
    #: entry that replaces this one when the job is read again. None until a run
    #: finishes: an empty set costs 216 bytes, a fifth of an idle job.
    finishing = _Seldom[set[asyncio.Task[None]] | None](None)
    #: The store could not read the row (``JobData.unreadable``): only removal touches it.
    unreadable = _Seldom[bool](False)
    #: The due run for which the missing task was last recorded (once per stored tick).
    task_missing_noted = _Seldom[datetime | None](None)

    def copied_extras(self) -> _Extras | None:
        """A copy of the seldom-set attributes, for a new entry made from this one with
        ``attrs.evolve`` (which would share them: the two would change each other's)."""
        return None if self.extras is None else attrs.evolve(self.extras)

    def running_tasks(self) -> dict[asyncio.Task[None], datetime]:
        """:attr:`running` as a dict of this entry's own (then shared with a
        replacement), made on first use."""
        running = self.running
        if type(running) is not dict:
            running = self.running = {}
        return running

    def finishing_tasks(self) -> set[asyncio.Task[None]]:
        """:attr:`finishing`, made on first use (and then shared with a replacement).
        Twice a run: it reads the extras itself rather than through :class:`_Seldom`."""
        extras = self.extras
        if extras is None:
            extras = self.extras = _Extras()
        finishing = extras.finishing
        if finishing is None:
            finishing = extras.finishing = set()
        return finishing

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
