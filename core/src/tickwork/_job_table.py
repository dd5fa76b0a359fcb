"""The scheduler's in-memory job table: live entries, per-job locks, and decoding.

Every job the scheduler knows is one :class:`~tickwork._entry.JobEntry` here. Rows
from the store become entries through :meth:`JobTable.decode` (or are merged into the
live entry by :meth:`JobTable.apply`, which keeps the state of a run in progress).
A row that cannot be used is never dropped or rewritten: its entry is quarantined with
the reason, listed, and logged once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

from ._entry import JobEntry, UndecodableSchedule, entry_metadata, first_run
from ._errors import JobNotFoundError, TickworkError
from ._event_bus import EventBus
from ._events import JobQuarantined
from ._models import JobData, JobStatus
from ._policy import DEFAULT_OPTIONS, options_from_metadata, user_metadata
from ._task_ref import TaskRef, task_from_metadata
from ._tasks import TaskRegistry
from ._timeutil import utcnow
from .abc import Schedule, ScheduleCodec

__all__ = ["JobTable", "memoized"]

logger = logging.getLogger("tickwork.scheduler")

Decode = Callable[[str, str], Schedule]


class JobTable:
    """Entries by id, their locks, and the codec that makes entries of stored rows."""

    def __init__(
        self,
        codec: ScheduleCodec,
        tasks: TaskRegistry | None = None,
        events: EventBus | None = None,
        store: object | None = None,
    ) -> None:
        self.codec = codec
        #: The scheduler's store, named in a JobNotFoundError (its repr hides passwords).
        self._store = store
        self.events = events if events is not None else EventBus("")
        self.tasks = tasks if tasks is not None else TaskRegistry()
        self.entries: dict[str, JobEntry] = {}
        # Read-modify-write of one job (a run finishing, a pause, an update) happens
        # under its lock, so a change made while a run ends is never written over.
        self._locks: dict[str, asyncio.Lock] = {}
        # Quarantined jobs already logged, with the reason logged: each is logged once.
        self._reported: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[JobEntry]:
        return iter(self.entries.values())

    def get(self, job_id: str) -> JobEntry | None:
        return self.entries.get(job_id)

    def live(self, job_id: str) -> JobEntry:
        """The entry of a job that exists.

        :raises JobNotFoundError: no such job (or it is being removed).
        """
        entry = self.entries.get(job_id)
        if entry is None or entry.removed:
            raise JobNotFoundError(job_id, None if self._store is None else repr(self._store))
        return entry

    def lock(self, job_id: str) -> asyncio.Lock:
        lock = self._locks.get(job_id)
        if lock is None:
            lock = self._locks[job_id] = asyncio.Lock()
        return lock

    def drop_lock(self, job_id: str) -> None:
        self._locks.pop(job_id, None)

    def forget(self, job_id: str) -> None:
        """The job is gone from the store."""
        entry = self.entries.pop(job_id, None)
        if entry is not None:
            entry.removed = True
        self._reported.pop(job_id, None)

    def decode(self, data: JobData, decode: Decode | None = None) -> JobEntry:
        """A fresh entry for a stored row; quarantined when the row cannot be used."""
        schedule: Schedule
        options = DEFAULT_OPTIONS
        task: TaskRef | None = None
        if data.unreadable is not None:
            schedule = UndecodableSchedule(
                data.schedule_type, data.schedule_config, data.unreadable
            )
        else:
            try:
                schedule = (decode or self.codec.decode)(data.schedule_type, data.schedule_config)
                options = options_from_metadata(data.metadata)
                task = task_from_metadata(data.metadata)
            except TickworkError as exc:
                # Never drop or rewrite a job we cannot read: it may belong to a plugin
                # that is not installed here. It stays in the store untouched.
                schedule = UndecodableSchedule(data.schedule_type, data.schedule_config, str(exc))
            else:
                problem = _stranded(data)
                if problem is not None:
                    schedule = UndecodableSchedule(
                        data.schedule_type, data.schedule_config, problem
                    )
        entry = JobEntry(
            id=data.id,
            schedule=schedule,
            schedule_type=data.schedule_type,
            schedule_config=data.schedule_config,
            metadata=entry_metadata(user_metadata(data.metadata)),
            status=data.status,
            next_run=data.next_run,
            last_run=data.last_run,
            created_at=data.created_at,
            updated_at=data.updated_at,
            options=options,
        )
        self._set_task(entry, task)
        if entry.quarantine_reason:
            entry.metadata = dict(data.metadata)  # kept verbatim
            entry.unreadable = data.unreadable is not None
            return entry
        if entry.status == JobStatus.RUNNING:
            # The process that ran it died mid-run; its due run has not happened.
            entry.status = JobStatus.PENDING
        if entry.next_run is None and entry.last_run is None and entry.status == JobStatus.PENDING:
            entry.next_run = first_run(schedule, utcnow())
        return entry

    def _set_task(self, entry: JobEntry, task: TaskRef | None) -> None:
        entry.task = task
        entry.task_missing = (
            None
            if task is None or task.name in self.tasks
            else f"task {task.name!r} is not registered in this process"
        )

    def load(self, rows: list[JobData], decode: Decode | None = None) -> dict[str, JobEntry]:
        """Entries for many rows (a listing), sharing decoded schedules."""
        decode = decode or memoized(self.codec.decode)
        return {data.id: self.decode(data, decode) for data in rows}

    def apply(self, data: JobData) -> JobEntry:
        """Make the in-memory job match what the store holds; keep the live run state."""
        entry = self.entries.get(data.id)
        if (
            entry is not None
            and data.unreadable is None
            and not entry.quarantine_reason
            and (entry.schedule_type, entry.schedule_config)
            == (data.schedule_type, data.schedule_config)
        ):
            try:
                entry.options = options_from_metadata(data.metadata)
                self._set_task(entry, task_from_metadata(data.metadata))
            except TickworkError:
                logger.warning("job %r: stored options unreadable; keeping the old ones", data.id)
            entry.metadata = entry_metadata(user_metadata(data.metadata))
            entry.status = (
                JobStatus.RUNNING
                if entry.running and data.status != JobStatus.DISABLED
                else data.status
            )
            entry.next_run, entry.last_run = data.next_run, data.last_run
            entry.updated_at = data.updated_at
            entry.removed = False
            return entry
        fresh = self.decode(data)
        if entry is not None:
            fresh.running = entry.running_tasks()  # one dict, seen by both
            fresh.finishing = entry.finishing_tasks()  # one set, seen by both
            fresh.queued = entry.queued
            fresh.last_completed_at = entry.last_completed_at
            fresh.completion_known = entry.completion_known
        self.entries[data.id] = fresh
        if fresh.quarantine_reason:
            self.report_quarantined([fresh])
        else:
            self._reported.pop(data.id, None)
        return fresh

    def report_quarantined(self, entries: list[JobEntry] | None = None) -> None:
        """Log the quarantined jobs not logged before (each once, with its reason)."""
        new = [
            e
            for e in (self.entries.values() if entries is None else entries)
            if e.quarantine_reason and self._reported.get(e.id) != e.quarantine_reason
        ]
        if not new:
            return
        for entry in new:
            self._reported[entry.id] = reason = entry.quarantine_reason or ""
            self.events.publish(JobQuarantined, job_id=entry.id, reason=reason)
        shown = "; ".join(f"{e.id!r}: {e.quarantine_reason}" for e in new[:20])
        more = f" (and {len(new) - 20} more)" if len(new) > 20 else ""
        logger.error(
            "%d job(s) are quarantined: not run, and left untouched in the store until "
            "fixed (update_job_schedule) or removed: %s%s",
            len(new),
            shown,
            more,
        )


def _stranded(data: JobData) -> str | None:
    """Why a readable row still cannot run, or None."""
    if data.status == JobStatus.PENDING and data.next_run is None and data.last_run is not None:
        return (
            "next_run: missing (NULL) on a pending job that has run before, so no run is "
            "due; give it a schedule again with update_job_schedule()"
        )
    return None


def memoized(decode: Decode) -> Decode:
    """``decode`` remembering its results while one batch of jobs is loaded.

    Schedules are immutable values, so jobs with the same stored schedule can share one
    object: loading thousands of jobs on a handful of schedules parses each only once
    (and keeps one copy in memory). Errors are not remembered; they are re-raised.
    """
    seen: dict[tuple[str, str], Schedule] = {}

    def cached(schedule_type: str, config: str) -> Schedule:
        key = (schedule_type, config)
        schedule = seen.get(key)
        if schedule is None:
            schedule = seen[key] = decode(schedule_type, config)
        return schedule

    return cached
