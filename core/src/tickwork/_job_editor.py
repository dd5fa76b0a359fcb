"""What the public job methods do: add, read, change and remove jobs, with the store.

:class:`~tickwork.AsyncScheduler` keeps the public signatures and their documentation;
:class:`JobEditor` does the work. A job is read from the store first when other
processes share it (they may have changed it), every change is written on condition
that nobody wrote the job since, and the trigger is brought in line with what was
stored. While the scheduler is stopped, changes are kept for the next start
(:class:`~tickwork._startup.ChangesWhileStopped`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from . import _job_changes as job_changes
from ._change_follower import ChangeFollower, SeenChange
from ._coordination import Coordinator
from ._delivery_intake import DeliveryIntake, arm, arm_all
from ._entry import JobEntry, first_run
from ._errors import (
    InvalidIntervalError,
    InvalidJobDataError,
    JobAlreadyExistsError,
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    JobNotFoundError,
    SchedulerStoppedError,
)
from ._event_bus import EventBus
from ._events import JobAdded, JobChange, JobChanged, JobRemoved, JobResumed
from ._id_limit import IdLimit
from ._job_table import JobTable
from ._models import ExecutionStatus, JobData, JobStatus
from ._policy import DEFAULT_OPTIONS, JobOptions, Overlap
from ._startup import ChangesWhileStopped
from ._store_gateway import StoreGateway
from ._task_ref import TaskRef
from ._tasks import TaskChoice
from ._tick_log import TickLog
from ._timeutil import utcnow
from ._validation import check_job_id, check_metadata
from .abc import EndingSchedule, Schedule, ScheduleCodec, Trigger

__all__ = ["JobEditor", "JobSpec"]

JobSpec = tuple[str, Schedule] | tuple[str, Schedule, Mapping[str, str] | None]
"""One job for :meth:`AsyncScheduler.add_jobs`: ``(job_id, schedule[, metadata])``."""


class JobEditor:
    """Adds, reads, changes and removes jobs for the public API."""

    def __init__(
        self,
        *,
        table: JobTable,
        gateway: StoreGateway,
        codec: ScheduleCodec,
        trigger: Trigger,
        coordinator: Coordinator | None,
        intake: DeliveryIntake,
        stopped_changes: ChangesWhileStopped,
        is_running: Callable[[], bool],
        reserved: Callable[[str], bool] = lambda _job_id: False,
        tick_log: TickLog | None = None,
        events: EventBus | None = None,
        follower: ChangeFollower | None = None,
    ) -> None:
        # Without a coordinator, on a store that pushes changes: signals our changes
        # and brings in the other processes' (see :meth:`follow`).
        self._follower = follower
        self._events = events if events is not None else EventBus("")
        self._table = table
        self._tasks = table.tasks
        self._gateway = gateway
        self._store = gateway.store
        self._codec = codec
        self._trigger = trigger
        self._coordinator = coordinator
        self._intake = intake
        self._stopped = stopped_changes
        self._is_running = is_running
        # Ids another thread has reserved and the loop has not written yet.
        self._reserved = reserved
        self._tick_log = tick_log
        self._shared = gateway.caps.shared
        self._id_limit = IdLimit(self._store)
        # The last schedule encoded and the text it gave, and the last first run worked
        # out: jobs added with one schedule object share its text (and, added together,
        # their first run) instead of holding a copy each (55 and 48 bytes a job).
        # Schedules are immutable values (:class:`~tickwork.abc.Schedule`).
        self._encoded: tuple[Any, tuple[str, str]] | None = None
        self._first: tuple[Schedule, datetime, datetime | None] | None = None

    # -- adding ---------------------------------------------------------------------------

    def encode(self, schedule: Any) -> tuple[str, str]:
        """``(schedule_type, config)`` of ``schedule``; the same strings again when it is
        the schedule object encoded last."""
        last = self._encoded
        if last is not None and last[0] is schedule:
            return last[1]
        if schedule is None:
            raise InvalidIntervalError(None, "a schedule is required")
        encoded = self._codec.encode(schedule)
        self._encoded = (schedule, encoded)
        return encoded

    def _first_run(self, schedule: Schedule, now: datetime) -> datetime | None:
        """:func:`first_run`, shared by the jobs of one ``add_jobs`` call on one
        schedule object (one ``now`` for all of them, so one answer)."""
        last = self._first
        if last is not None and last[0] is schedule and last[1] is now:
            return last[2]
        next_run = first_run(schedule, now)
        self._first = (schedule, now, next_run)
        return next_run

    def new_job(
        self,
        job_id: str,
        schedule: Schedule,
        metadata: Mapping[str, str] | None,
        task: TaskChoice,
        options: JobOptions | None,
        option_fields: Mapping[str, Any],
    ) -> JobEntry:
        """``add_job``'s new job: its task resolved, its run policies starting from the
        task's, every argument checked (nothing is stored yet)."""
        ref, task_options = task.resolve(self._tasks)
        opts = (options or task_options).replace(**option_fields)
        return self.new_entry(job_id, schedule, metadata, opts, utcnow(), ref)

    def new_entry(
        self,
        job_id: str,
        schedule: Schedule,
        metadata: Mapping[str, str] | None,
        options: JobOptions,
        now: datetime,
        task: TaskRef | None = None,
    ) -> JobEntry:
        """A new job's state, every argument checked (nothing is stored yet)."""
        check_job_id(job_id)
        self._id_limit.check(job_id)
        schedule_type, config = self.encode(schedule)
        next_run = self._first_run(schedule, now)
        return JobEntry(
            id=job_id,
            schedule=schedule,
            schedule_type=schedule_type,
            schedule_config=config,
            metadata=check_metadata(metadata),
            status=_status_of_new(schedule, next_run),
            next_run=next_run,
            last_run=None,
            created_at=now,
            updated_at=now,
            options=options,
            task=task,
        )

    async def add(self, entry: JobEntry) -> JobEntry:
        """Save a new job and arm it (kept for the next start while stopped)."""
        known = self._table.get(entry.id)
        if (known is not None and not known.removed) or self._reserved(entry.id):
            raise JobAlreadyExistsError(entry.id)
        if not self._is_running():
            self._table.entries[entry.id] = entry
            self._stopped.added([entry.id])
        else:
            try:
                await self._store.save_job(entry.to_data())
            except JobDataAlreadyExistsError:
                raise JobAlreadyExistsError(entry.id) from None
            self._table.entries[entry.id] = entry
            self._announce([entry])
            await self._note_ended([entry])
            await arm(self._trigger, entry)
        self._added([entry])
        return entry

    async def _note_ended(self, entries: Iterable[JobEntry]) -> None:
        """The ``schedule_ended`` records of new jobs whose bounded schedule had no fire
        time left when they were added (they are stored ``completed``)."""
        if self._tick_log is None:
            return
        now = utcnow()
        for entry in entries:
            if entry.status == JobStatus.COMPLETED and entry.next_run is None:
                ended = self._tick_log.ended(entry.id, entry.schedule, now)
                await self._tick_log.write(entry.id, ended)

    def _added(self, entries: Iterable[JobEntry]) -> None:
        if self._events.active:
            for entry in entries:
                task = entry.task.name if entry.task is not None else None
                self._events.publish(JobAdded, job_id=entry.id, task=task)

    def new_entries(
        self,
        jobs: Iterable[JobSpec],
        task: TaskChoice,
        options: JobOptions | None,
        option_fields: Mapping[str, Any],
    ) -> dict[str, JobEntry]:
        """Entries for ``add_jobs``, every item checked before anything is saved."""
        ref, task_options = task.resolve(self._tasks)
        options = (options or task_options).replace(**option_fields)
        if options == DEFAULT_OPTIONS:
            options = DEFAULT_OPTIONS  # one shared value: cheaper to compare, less memory
        now = utcnow()
        entries: dict[str, JobEntry] = {}
        for item in jobs:
            if not isinstance(item, tuple) or len(item) not in (2, 3):
                raise TypeError(
                    f"add_jobs() takes (job_id, schedule) or (job_id, schedule, metadata) "
                    f"tuples, got {item!r}"
                )
            job_id = item[0]
            entry = self.new_entry(
                job_id, item[1], item[2] if len(item) == 3 else None, options, now, ref
            )
            known = self._table.get(job_id)
            if job_id in entries or (known is not None and not known.removed):
                raise JobAlreadyExistsError(job_id)
            if self._reserved(job_id):
                raise JobAlreadyExistsError(job_id)
            entries[job_id] = entry
        return entries

    async def add_many(self, entries: dict[str, JobEntry]) -> None:
        """Save new jobs, all or none, and arm them."""
        if not self._is_running():
            self._table.entries.update(entries)
            self._stopped.added(entries)
        else:
            await self._save_new(list(entries.values()))
            self._table.entries.update(entries)
            self._announce(entries.values())
            await self._note_ended(entries.values())
            await arm_all(self._trigger, entries.values())
        self._added(entries.values())

    async def _save_new(self, entries: list[JobEntry]) -> None:
        """Save new jobs in one call when the store can, else one by one (undoing the
        ones saved so far when one fails, so that it is still all or none)."""
        store = self._store
        try:
            bulk = self._gateway.caps.bulk
            if bulk is not None:
                await bulk.save_jobs([entry.to_data() for entry in entries])
                return
            saved: list[str] = []
            try:
                for entry in entries:
                    await store.save_job(entry.to_data())
                    saved.append(entry.id)
            except BaseException:
                for job_id in saved:
                    with contextlib.suppress(Exception):
                        await store.delete_job(job_id)
                raise
        except JobDataAlreadyExistsError as exc:
            raise JobAlreadyExistsError(exc.job_id) from None

    # -- reading --------------------------------------------------------------------------

    async def entry(self, job_id: str) -> JobEntry:
        """The job, read from the store first when other processes share it.

        :raises JobNotFoundError: no such job.
        """
        check_job_id(job_id)
        if self._is_running() and self._shared:
            return await self.refresh(job_id)
        return self._table.live(job_id)

    async def changeable(self, job_id: str) -> JobEntry:
        """The job, which must not be quarantined (it could not be run or written)."""
        entry = await self.entry(job_id)
        if entry.quarantine_reason:
            if entry.unreadable:
                raise InvalidJobDataError(
                    f"job {job_id!r} cannot be read from the store ({entry.quarantine_reason}); "
                    "fix or remove its row (remove_job() works)"
                )
            raise InvalidJobDataError(
                f"job {job_id!r} is quarantined ({entry.quarantine_reason}); install the "
                "plugin for its schedule type, or give it a new schedule with "
                "update_job_schedule()"
            )
        return entry

    async def refresh(self, job_id: str) -> JobEntry:
        """Re-read a job from the store (other processes may have changed it)."""
        try:
            if self._coordinator is not None:
                data = await self._coordinator.read(job_id)  # batched with other reads
            else:
                data = await self._store.get_job(job_id)
        except JobDataNotFoundError:
            self._table.forget(job_id)
            raise JobNotFoundError(job_id, repr(self._store)) from None
        return self._table.apply(data)

    async def apply_changes(self, changed: list[JobData]) -> None:
        """Bring jobs changed by other processes into this one, and re-arm them."""
        for data in changed:
            entry = self._table.apply(data)
            if not entry.running:
                self._intake.cancel_recheck(entry.id)
                await arm(self._trigger, entry)

    def follow(self, seen: list[SeenChange]) -> None:
        """Bring jobs other processes changed into the table, without arming: on a
        shared trigger the process that made the change armed it already, and arming
        what was read a moment ago could put an old run time back."""
        for change in seen:
            entry = self._table.get(change.job_id)
            if change.data is None:
                self._table.forget(change.job_id)
                self._table.drop_lock(change.job_id)
            elif entry is None or change.data.updated_at >= entry.updated_at:
                self._table.apply(change.data)  # (an older row than ours is left out)

    async def listing(self) -> list[JobEntry]:
        """Every job, sorted by id (from the store when it is shared)."""
        if self._is_running() and self._shared:
            stored = await self._store.list_jobs()
            for data in stored:
                self._table.apply(data)
            for gone in set(self._table.entries) - {d.id for d in stored}:
                self._table.forget(gone)
        entries = self._table.entries
        return [entries[k] for k in sorted(entries)]

    # -- changing -------------------------------------------------------------------------

    async def change(
        self,
        job_id: str,
        change: job_changes.Change,
        *,
        quarantined: bool = False,
        said: type[JobChange] = JobChanged,
        what: str = "",
    ) -> JobEntry:
        """Apply ``change`` to the job, save it and bring the trigger in line with it.

        With a shared store the job is read first and written on condition that no
        other process wrote it since: if one did (it finished a run and moved
        ``next_run`` on, say), the job is read again and the change made again, rather
        than putting the old state back.

        :raises StorageOperationError: other processes wrote the job every time.
        """
        entry = await self._change(job_id, change, quarantined)
        if said is JobChanged:
            self._events.publish(JobChanged, job_id=job_id, what=what)
        else:
            self._events.publish(said, job_id=job_id)
        return entry

    async def _change(self, job_id: str, change: job_changes.Change, quarantined: bool) -> JobEntry:
        read = self.entry if quarantined else self.changeable
        if not self._is_running():
            entry = await read(job_id)
            if change(entry):
                self._stopped.changed(job_id, change)
            return entry
        wrote = [False]

        def make(entry: JobEntry) -> JobData | None:
            wrote[0] = change(entry)
            return entry.to_data() if wrote[0] else None

        try:
            entry = await self._gateway.write_on_condition(
                lambda: read(job_id), _updated_at, make, f"the change to job {job_id!r}"
            )
        except JobDataNotFoundError:
            self._table.forget(job_id)
            raise JobNotFoundError(job_id, repr(self._store)) from None
        if wrote[0]:
            if self._coordinator is not None:
                self._coordinator.note_saved(entry.to_data())
            self._announce([entry])
            if not entry.running or entry.options.overlap != Overlap.SKIP:
                await arm(self._trigger, entry)
        return entry

    async def resume(self, job_id: str) -> JobEntry:
        """Resume a paused job; the ticks that passed while it was paused are recorded
        as ``paused`` once the change is stored (a change redone after a conflict must
        not record them twice)."""
        change = job_changes.resume(record_ticks=self._is_running())
        entry = await self.change(job_id, change, said=JobResumed)
        if change.span is not None and self._tick_log is not None:
            first, until = change.span
            records = self._tick_log.span(
                entry.id, entry.schedule, first, until, ExecutionStatus.PAUSED, include_first=True
            )
            await self._tick_log.write(entry.id, records)
        return entry

    async def remove(self, job_id: str) -> None:
        """Remove a job: wait for its run in progress, then delete it from the store."""
        entry = await self.entry(job_id)
        entry.removed = True
        self._table.drop_lock(job_id)
        if not self._is_running():
            del self._table.entries[job_id]
            self._stopped.removed(job_id)
            self._events.publish(JobRemoved, job_id=job_id)
            return
        self._intake.cancel_recheck(job_id)
        await self._trigger.disarm(job_id)
        others = set(entry.running) - {asyncio.current_task()}
        if others:
            await asyncio.wait(others)
            if not self._is_running():  # (stop() may have run while we waited)
                # stop() ended the run we waited for and is closing the store: the job
                # is not deleted, and the caller learns why.
                entry.removed = False
                raise SchedulerStoppedError(
                    f"the scheduler stopped while remove_job({job_id!r}) waited for its "
                    "run; the job was not removed"
                )
        try:
            await self._store.delete_job(job_id)
            if self._follower is not None:
                self._follower.note_removed(job_id)
            self._announce(removed=job_id)
        except JobDataNotFoundError:
            if not self._shared:
                raise JobNotFoundError(job_id, repr(self._store)) from None
        finally:
            if self._table.get(job_id) is entry:
                del self._table.entries[job_id]
        self._events.publish(JobRemoved, job_id=job_id)

    def _announce(self, saved: Iterable[JobEntry] = (), removed: str | None = None) -> None:
        """Tell other processes sharing the store which jobs changed (when it can
        push), so that their followers read just those."""
        saved = list(saved)
        job_ids = [entry.id for entry in saved] + ([] if removed is None else [removed])
        if self._follower is not None:  # (it signals on the coordinator's behalf too)
            for entry in saved:
                self._follower.note_saved(entry.to_data())
            self._follower.announce(job_ids)
        elif self._coordinator is not None:
            self._coordinator.announce_change(job_ids)


def _updated_at(entry: JobEntry) -> datetime:
    return entry.updated_at


def _status_of_new(schedule: Schedule, next_run: datetime | None) -> JobStatus:
    """A new job is ``pending``, unless its bounded schedule has no fire time left:
    it is then done before it starts (``completed``), as it would be after its last
    run, rather than a pending job that never runs and says nothing."""
    if next_run is None and isinstance(schedule, EndingSchedule):
        return JobStatus.COMPLETED
    return JobStatus.PENDING
