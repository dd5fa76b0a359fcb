"""Start-up: load the store's jobs, and replay the changes made while stopped.

A program commonly adds its jobs (and may pause or change some) before ``start()``.
Those changes are kept as :class:`ChangesWhileStopped` and reconciled with the store
at the next start: a job added before start keeps the stored state when its schedule
is unchanged; a change is made again on the job as stored then and written on
condition (another process may have run it meanwhile, and a stale copy written back
would undo that run).

With a store that can list due jobs, the overdue ones are loaded, armed and started
first, and the rest are read afterwards: with thousands of jobs stored, work that is
late starts within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import attrs

from ._delivery_intake import arm_all
from ._entry import JobEntry
from ._errors import JobDataAlreadyExistsError, JobDataNotFoundError
from ._job_table import JobTable, memoized
from ._models import JobData
from ._store_gateway import StoreGateway
from ._timeutil import utcnow
from .abc import Trigger

__all__ = ["DUE_FIRST_PREFETCH", "ChangesWhileStopped", "StartUp"]

logger = logging.getLogger("tickwork.scheduler")

#: How many overdue jobs start() gets ready to run (last completion read) before it
#: reads the rest of the store; the others are armed too but wait for that read.
DUE_FIRST_PREFETCH = 16

Change = Callable[[JobEntry], bool]
"""A change to one job; False when there is nothing to save."""


@attrs.define
class ChangesWhileStopped:
    """What was done to jobs while the scheduler was stopped, for the next start."""

    new: set[str] = attrs.field(factory=set)
    updated: dict[str, list[Change]] = attrs.field(factory=dict)
    deleted: set[str] = attrs.field(factory=set)

    def __bool__(self) -> bool:
        return bool(self.new or self.updated or self.deleted)

    def added(self, job_ids: Iterable[str]) -> None:
        ids = set(job_ids)
        self.new |= ids
        self.deleted -= ids

    def changed(self, job_id: str, change: Change) -> None:
        if job_id not in self.new:  # (a new job is saved whole anyway)
            self.updated.setdefault(job_id, []).append(change)

    def removed(self, job_id: str) -> None:
        self.updated.pop(job_id, None)
        if job_id in self.new:
            self.new.discard(job_id)
        else:
            self.deleted.add(job_id)

    def clear(self) -> None:
        self.new.clear()
        self.updated.clear()
        self.deleted.clear()


class StartUp:
    """Loads a starting scheduler's job table from its store."""

    def __init__(self, table: JobTable, gateway: StoreGateway, trigger: Trigger) -> None:
        self._table = table
        self._gateway = gateway
        self._store = gateway.store
        self._trigger = trigger

    def loads_due_first(self, changes: ChangesWhileStopped) -> bool:
        """Whether start() may run overdue jobs before it has read every job: the store
        can list due jobs, and no change made before start() needs reconciling with
        the store first. A shared store is no reason to wait: each due run is claimed
        in the store (which checks its ``next_run`` there) however it was loaded."""
        return self._gateway.caps.due_jobs is not None and not changes

    async def load(self, changes: ChangesWhileStopped) -> None:
        """Read every job, replay ``changes`` on it, and make that the table."""
        for job_id in sorted(changes.deleted):
            with contextlib.suppress(JobDataNotFoundError):
                await self._store.delete_job(job_id)
        local = self._table.entries
        loaded = self._table.load(await self._store.list_jobs())
        for job_id in sorted(changes.updated):
            if job_id in loaded:
                changed = await self._replay(local[job_id], loaded[job_id], changes.updated[job_id])
                if changed is None:
                    del loaded[job_id]
                else:
                    loaded[job_id] = changed
        for job_id in sorted(changes.new):
            await self._merge_new(local[job_id], loaded)
        changes.clear()
        self._table.entries = loaded
        self._table.report_quarantined()

    async def _replay(
        self, local: JobEntry, stored: JobEntry, changes: list[Change]
    ) -> JobEntry | None:
        """Store the changes made to a job while the scheduler was stopped; the job as
        stored then, or None when it was removed meanwhile.

        Alone on its store, the scheduler's own copy (``local``) is the truth and is
        written. On a shared store other processes may have run or changed the job
        since this one stopped: the changes are made again on the stored job and
        written on condition, so that a run done meanwhile is not undone.
        """
        if not self._gateway.caps.shared:
            await self._store.update_job(local.to_data())
            return local
        first = [True]

        def replay(entry: JobEntry) -> JobData:
            for change in changes:
                change(entry)
            return entry.to_data()

        try:
            return await self._gateway.write_on_condition(
                lambda: self._read(stored, first),
                _version,
                replay,
                f"the changes made to job {stored.id!r} while stopped",
            )
        except JobDataNotFoundError:
            return None

    async def _read(self, known: JobEntry, first: list[bool]) -> JobEntry:
        """``known`` the first time (just listed), then the job as stored now."""
        if first[0]:
            first[0] = False
            return known
        return self._table.decode(await self._store.get_job(known.id))

    async def _merge_new(self, entry: JobEntry, loaded: dict[str, JobEntry]) -> None:
        """Save a job added before start(), reconciling it with a stored one.

        When the store already has the job with the same schedule, the stored state
        (next and last run) is kept and only the metadata and options are taken over;
        a different schedule replaces it. On a shared store another process may run the
        job between our read and our write, so the write is conditional: a one-off job
        it ran must not become due again because we wrote back what we read before.
        """
        existing = loaded.get(entry.id)
        if existing is None:
            try:
                await self._store.save_job(entry.to_data())
                loaded[entry.id] = entry
                return
            except JobDataAlreadyExistsError:
                # Another process sharing the store saved it since we listed the jobs:
                # merge with what it stored, as if we had listed it.
                existing = self._table.decode(await self._store.get_job(entry.id))
        first = [True]
        result: list[JobEntry] = []

        def make(stored: JobEntry) -> JobData | None:
            merged = merge_added(stored, entry)
            result[:] = [merged or stored]
            return merged.to_data() if merged is not None else None

        await self._gateway.write_on_condition(
            lambda: self._read(existing, first),
            _version,
            make,
            f"job {entry.id!r} added before start()",
        )
        loaded[entry.id] = result[0]

    async def load_due_first(self) -> None:
        """Load and arm the overdue jobs, then read and arm all the others.

        With thousands of jobs stored, reading them all takes a while; the overdue ones
        start meanwhile. Their last completion is read first (a run needs it, and the
        store may serve one reader at a time), for a bounded number of them.
        """
        due_jobs = self._gateway.caps.due_jobs
        assert due_jobs is not None
        decode = memoized(self._table.codec.decode)
        table = self._table
        table.entries = {}
        due = [table.decode(d, decode) for d in await due_jobs.list_due_jobs(utcnow())]
        for index, entry in enumerate(due):
            table.entries[entry.id] = entry
            if index < DUE_FIRST_PREFETCH and entry.wants_to_run and entry.last_run is not None:
                entry.last_completed_at = await self._gateway.last_completion(entry.id)
                entry.completion_known = True
            await arm_all(self._trigger, [entry])
        if due:
            # Let the loop fire the due runs and start their handlers before reading on
            # (a store answering from memory would otherwise never let go of the loop).
            for _ in range(3):
                await asyncio.sleep(0)
        rest = {
            data.id: table.decode(data, decode)
            for data in await self._store.list_jobs()
            if data.id not in table.entries
        }
        table.entries.update(rest)
        await arm_all(self._trigger, rest.values())
        table.report_quarantined()


def merge_added(existing: JobEntry, added: JobEntry) -> JobEntry | None:
    """What to store for a job added before start() that the store holds as
    ``existing``; None when the stored job can stay as it is. On the same schedule the
    stored state (next run, last run) stays and what the program says now (metadata,
    run policies, task and arguments) is taken."""
    if (existing.schedule_type, existing.schedule_config) == (
        added.schedule_type,
        added.schedule_config,
    ):
        if (existing.metadata, existing.options, existing.task) == (
            added.metadata,
            added.options,
            added.task,
        ):
            return None
        return attrs.evolve(
            existing,
            metadata=added.metadata,
            options=added.options,
            task=added.task,
            task_missing=added.task_missing,
            updated_at=utcnow(),
            running={},
            extras=existing.copied_extras(),
        )
    logger.info("job %r: the schedule given before start() replaces the stored one", added.id)
    return attrs.evolve(
        added,
        created_at=existing.created_at,
        last_run=existing.last_run,
        updated_at=utcnow(),
        running={},
        extras=added.copied_extras(),
    )


def _version(entry: JobEntry) -> datetime:
    return entry.updated_at
