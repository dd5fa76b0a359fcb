"""Changing a stored job without a scheduler: what ``tickwork jobs`` and the web
dashboard do when they work on a store directly.

A scheduler changes its jobs through :class:`~tickwork.AsyncScheduler`; a tool that
only has the store (the command line, a dashboard beside the workers) makes the same
changes here. Each change is a read, a change and a write. On a store that can write
on condition (:class:`~tickwork.abc.ConditionalUpdateStore`) the write only happens
if nobody wrote the job since it was read, and the change is made again on a fresh
read otherwise: a worker finishing a run in between moves ``next_run`` on, and a
blind write would put the old one back and run a tick twice. Once written, the
schedulers sharing a store that pushes changes are told at once (they find the change
at their next poll otherwise).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from ._entry import first_run
from ._errors import InvalidJobDataError, StorageOperationError, TickworkError
from ._models import JobData, JobStatus
from ._plugins import default_codec
from ._policy import OPTIONS_KEY, JobOptions, options_from_metadata, options_to_metadata
from ._timeutil import utcnow
from .abc import ChangeSignalingStore, ConditionalUpdateStore, Schedule, ScheduleCodec, Store

__all__ = ["StoredChange", "StoredJobActions"]

logger = logging.getLogger("tickwork.jobs")

#: How often a conditional write is redone after losing to another writer.
_ATTEMPTS = 5

_Change = Callable[[JobData, datetime], bool]
"""Changes the job in place at ``now``; False when there is nothing to write."""


@attrs.frozen
class StoredChange:
    """The job as written (or as found, when ``changed`` is False)."""

    job: JobData
    changed: bool


class StoredJobActions:
    """Pause, resume, run now, reschedule, change run policies and remove stored jobs."""

    def __init__(self, store: Store, codec: ScheduleCodec | None = None) -> None:
        self._store = store
        self._codec = codec

    @property
    def codec(self) -> ScheduleCodec:
        return self._codec if self._codec is not None else default_codec()

    async def pause(self, job_id: str) -> StoredChange:
        """Stop the job from running (status ``disabled``) until resumed."""
        return await self._change(job_id, _pause)

    async def resume(self, job_id: str) -> StoredChange:
        """Let a paused job run again from its next fire time after now (runs missed
        meanwhile are not made up); a job that is not paused is left as it is."""
        return await self._change(job_id, self._resume)

    async def run_now(self, job_id: str) -> StoredChange:
        """Make the job due now: the schedulers sharing the store run it at their next
        poll, then follow its schedule from there (a paused job is refused)."""
        return await self._change(job_id, _due_now)

    async def change_schedule(self, job_id: str, schedule: Schedule) -> StoredChange:
        """Give the job ``schedule``; its next run is computed from it at once. A
        quarantined job (its old schedule unreadable) becomes a normal one again."""
        schedule_type, config = self.codec.encode(schedule)

        def change(job: JobData, now: datetime) -> bool:
            job.schedule_type, job.schedule_config = schedule_type, config
            job.next_run = first_run(schedule, now)
            if job.status not in (JobStatus.DISABLED, JobStatus.RUNNING):
                job.status = JobStatus.PENDING
            return True

        return await self._change(job_id, change, quarantined=True)

    async def change_options(
        self, job_id: str, options: JobOptions | None = None, **changes: Any
    ) -> StoredChange:
        """Replace the job's run policies (``options``) or change single fields.

        :raises InvalidJobDataError: an unknown or invalid option, or stored options
            that cannot be read (replace them whole with ``options``).
        """
        if options is not None:
            options.replace(**changes)  # checked before anything is read

        def change(job: JobData, _now: datetime) -> bool:
            base = options if options is not None else options_from_metadata(job.metadata)
            encoded = options_to_metadata(base.replace(**changes), {})
            metadata = {k: v for k, v in job.metadata.items() if k != OPTIONS_KEY}
            job.metadata = {**metadata, **encoded}
            return True

        return await self._change(job_id, change)

    async def remove(self, job_id: str) -> None:
        """Delete the job (its execution history stays in the store).

        :raises JobDataNotFoundError: no such job.
        """
        await self._store.delete_job(job_id)
        await self.signal(job_id)

    # -- the read-change-write cycle -------------------------------------------------

    async def _change(
        self, job_id: str, change: _Change, *, quarantined: bool = False
    ) -> StoredChange:
        """Read, change and write the job, again while another writer wins the race.

        A quarantined job (its schedule cannot be decoded here) is never rewritten, as
        a scheduler never rewrites it: only a new schedule (``quarantined``) or
        removing it changes it.

        :raises JobDataNotFoundError: no such job.
        :raises InvalidJobDataError: the stored row cannot be read (only ``remove``
            works on it), or the job is quarantined and the change is not a schedule.
        :raises StorageOperationError: other writers kept changing the job.
        """
        for _ in range(_ATTEMPTS):
            job = await self._store.get_job(job_id)
            if job.unreadable is not None:
                raise InvalidJobDataError(
                    f"job {job_id!r} cannot be read ({job.unreadable}); "
                    "it can only be removed and added again"
                )
            if not quarantined:
                self._check_decodable(job)
            seen, now = job.updated_at, utcnow()
            if not change(job, now):
                return StoredChange(job, changed=False)
            # A new version: later than the one read, even when the clocks disagree.
            job.updated_at = now if now > seen else seen + timedelta(microseconds=1)
            if await self._write(job, seen):
                await self.signal(job_id)
                return StoredChange(job, changed=True)
        raise StorageOperationError(
            f"job {job_id!r} kept changing while it was being saved; try again"
        )

    async def _write(self, job: JobData, seen: datetime) -> bool:
        if isinstance(self._store, ConditionalUpdateStore):
            return await self._store.update_job_if(job, seen)
        await self._store.update_job(job)
        return True

    async def signal(self, job_id: str) -> None:
        """Wake the change polls of the schedulers sharing the store, when it can push
        changes; if the signal cannot be sent they find the change at their next poll."""
        store = self._store
        if isinstance(store, ChangeSignalingStore) and store.signals_changes:
            try:
                await store.signal_changes([job_id])
            except TickworkError as exc:
                logger.warning("running schedulers pick this change up at their next poll: %s", exc)

    def _check_decodable(self, job: JobData) -> None:
        try:
            self.codec.decode(job.schedule_type, job.schedule_config)
        except TickworkError as exc:
            raise InvalidJobDataError(
                f"job {job.id!r} is quarantined ({exc}); give it a new schedule or remove it"
            ) from None

    def _resume(self, job: JobData, now: datetime) -> bool:
        if job.status != JobStatus.DISABLED:
            return False
        schedule = self.codec.decode(job.schedule_type, job.schedule_config)
        if job.next_run is None or job.next_run < now:
            job.next_run = first_run(schedule, now) if job.last_run is None else schedule.next(now)
        job.status = JobStatus.PENDING
        return True


def _pause(job: JobData, _now: datetime) -> bool:
    job.status = JobStatus.DISABLED
    return True


def _due_now(job: JobData, now: datetime) -> bool:
    if job.status == JobStatus.DISABLED:
        raise InvalidJobDataError(f"job {job.id!r} is paused: resume it to run it")
    job.next_run = now
    return True
