"""``AsyncScheduler``: the core that keeps jobs, runs them, and records what happened.

The scheduler owns the job table and the handler; the store persists; the trigger
decides when runs are due. For each due run the trigger calls ``dispatch`` and the
scheduler, in a task of its own: checks that the run is still wanted (and, when several
schedulers share the store, claims it), applies the job's run policy (catch-up after
downtime, misfire grace, overlap), calls the handler (with timeout, retries and
jitter), records every intended run in the tick log (the store's execution records),
saves the job's new state and arms its next fire time. By default the next time is
``schedule.next(end_time)``, armed only after a run ends, so one job never runs twice
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

import attrs

from ._coordination import DEFAULT_LEASE, DEFAULT_SYNC_INTERVAL, Coordinator
from ._entry import JobEntry, UndecodableSchedule, first_run
from ._errors import (
    HandlerNotDefinedError,
    InvalidIntervalError,
    InvalidJobDataError,
    JobAlreadyExistsError,
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    JobNotFoundError,
    SchedulerAlreadyStartedError,
    SchedulerNotStartedError,
    SchedulerStoppedError,
    StorageOperationError,
    TickworkError,
)
from ._group_commit import (
    ConditionalRunWrites,
    RunWrites,
    conditional_writes,
    drain_writes,
    run_writes,
)
from ._invoke import HandlerThreads, call_handler, is_async_callable
from ._job import Job, JobEvent
from ._models import (
    ExecutionRecord,
    ExecutionStatus,
    JobData,
    JobStatus,
    QueryOptions,
    build_unchecked,
    to_execution_status,
)
from ._plugins import create_store, create_trigger, default_codec
from ._policy import (
    DEFAULT_OPTIONS,
    OPTIONS_KEY,
    CatchUp,
    JobOptions,
    Overlap,
    options_from_metadata,
    user_metadata,
)
from ._schedules import IntervalSchedule
from ._ticks import TickSpan, ticks_between
from ._timeutil import utcnow
from ._validation import check_job_id
from .abc import (
    BulkStore,
    ClaimingStore,
    ConditionalUpdateStore,
    Delivery,
    DueJobsStore,
    Schedule,
    ScheduleCodec,
    Store,
    Trigger,
)

__all__ = ["AsyncScheduler", "Handler", "first_run"]

logger = logging.getLogger("tickwork.scheduler")

JobSpec = tuple[str, Schedule] | tuple[str, Schedule, Mapping[str, str] | None]
"""One job for :meth:`AsyncScheduler.add_jobs`: ``(job_id, schedule[, metadata])``."""

Handler = Callable[[JobEvent], Any]
"""A job handler: a plain function (run in a worker thread) or a coroutine function."""

DEFAULT_MAX_WORKERS = 20

#: How many overdue jobs start() gets ready to run (last completion read) before it
#: reads the rest of the store; the others are armed too but wait for that read.
DUE_FIRST_PREFETCH = 16

#: Ticks that did not run (coalesced, paused, skipped) are logged one record each up to
#: this many per occasion; the rest are summed up in one record with a "count".
TICK_LOG_LIMIT = 100

_JOB_STATUS_OF = {
    JobStatus.COMPLETED: JobStatus.COMPLETED,
    ExecutionStatus.TIMED_OUT: JobStatus.FAILED,
}


class AsyncScheduler:
    """Runs jobs on their schedules, in an asyncio event loop.

    :param store: a :class:`~tickwork.abc.Store`, a registered store name or a URL
        (``"sqlite:///jobs.db"``); ``None`` keeps jobs in memory.
    :param handler: called for every run with a :class:`JobEvent`. A plain function runs
        in a worker thread; a coroutine function (or any callable returning an
        awaitable) is awaited on the loop. An exception marks the run ``failed``; the
        scheduler and the other jobs go on.
    :param codec: turns schedules into storable strings; ``None`` uses every schedule
        type the installed plugins registered (:func:`tickwork.default_codec`).
    :param trigger: a :class:`~tickwork.abc.Trigger` or a registered trigger name.
    :param store_options: keyword options for a store given by name or URL.
    :param trigger_options: keyword options for a trigger given by name.
    :param max_workers: size of the thread pool that runs plain-function handlers.
    :param worker_id: this process's name in execution records and claims (default
        host:pid plus a random suffix, unique per scheduler).
    :param coordinate: claim each due run in the store before running it and poll the
        store for jobs changed by other processes, so several schedulers can share one
        store. ``None`` (the default) turns it on when the store is a
        :class:`~tickwork.abc.ClaimingStore` whose ``shared`` is true and the trigger
        is not shared itself (a shared trigger hands each due run to one worker).
    :param claim_lease: how long a claim lasts without renewal; a run whose process
        died is taken over by another process after this.
    :param sync_interval: seconds between polls for jobs changed by other processes
        (the longest it takes an add, update, pause or removal to reach them).
    """

    def __init__(
        self,
        store: Store | str | None = None,
        handler: Handler | None = None,
        codec: ScheduleCodec | None = None,
        *,
        trigger: Trigger | str = "local",
        store_options: Mapping[str, Any] | None = None,
        trigger_options: Mapping[str, Any] | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        worker_id: str | None = None,
        coordinate: bool | None = None,
        claim_lease: timedelta = DEFAULT_LEASE,
        sync_interval: float = DEFAULT_SYNC_INTERVAL,
    ) -> None:
        self._store: Store = _resolve_store(store, store_options)
        self._trigger: Trigger = _resolve_trigger(trigger, trigger_options)
        if codec is not None and not isinstance(codec, ScheduleCodec):
            raise TypeError(f"codec must have encode() and decode() methods; got {codec!r}")
        self._codec: ScheduleCodec = codec if codec is not None else default_codec()
        self._handler = handler
        if handler is not None and not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._handler_is_async = handler is not None and is_async_callable(handler)
        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive int, got {max_workers!r}")
        self._max_workers = max_workers
        self.worker_id = worker_id or (
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
        self._coordinator = _make_coordinator(
            self._store, self._trigger, coordinate, self.worker_id, claim_lease, sync_interval
        )
        # After each run: records and job updates, batched when the store can.
        self._writes: RunWrites = run_writes(self._store)
        # On a shared store, a run's outcome is written on condition that nobody wrote
        # the job since it was re-read after the run (None: plain writes).
        self._conditional_writes: ConditionalRunWrites | None = (
            conditional_writes(self._writes) if self._shared else None
        )
        # The same for changes (pause, options, ...): checked once, as isinstance against
        # a runtime protocol costs tens of microseconds.
        self._conditional_store: ConditionalUpdateStore | None = (
            self._store
            if self._shared and isinstance(self._store, ConditionalUpdateStore)
            else None
        )
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._entries: dict[str, JobEntry] = {}
        self._cancel_reasons: dict[asyncio.Task[None], str] = {}
        # Changes made while stopped, applied to the store by the next start().
        self._pending_new: set[str] = set()
        # Per job, the changes made to it while stopped (replayed on the stored job).
        self._pending_update: dict[str, list[Callable[[JobEntry], bool]]] = {}
        self._pending_delete: set[str] = set()
        # Read-modify-write of one job (a run finishing, a pause, an update) happens
        # under its lock, so a change made while a run ends is never written over.
        self._job_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._starting = False
        self._executor: HandlerThreads | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running_event: asyncio.Event | None = None
        self._event_loop_of: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"AsyncScheduler({state}, jobs={len(self._entries)}, store={self._store!r})"

    # -- properties ---------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether the scheduler has started and not stopped."""
        return self._running

    @property
    def store(self) -> Store:
        """The store jobs and history are persisted in."""
        return self._store

    @property
    def trigger(self) -> Trigger:
        """The trigger that decides when runs are due."""
        return self._trigger

    @property
    def codec(self) -> ScheduleCodec:
        """The codec that turns schedules into stored strings."""
        return self._codec

    @property
    def coordinated(self) -> bool:
        """Whether runs are claimed in the store (several schedulers share it)."""
        return self._coordinator is not None

    @property
    def _shared(self) -> bool:
        # Other processes may change jobs behind our back: read them from the store.
        return self._trigger.shared or self._coordinator is not None

    @property
    def handler(self) -> Handler | None:
        """The job handler."""
        return self._handler

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._running:
            await self.stop()

    def _event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._running_event is None or self._event_loop_of is not loop:
            self._running_event = asyncio.Event()
            self._event_loop_of = loop
            if self._running:
                self._running_event.set()
        return self._running_event

    async def start(self) -> None:
        """Initialize the store, load its jobs, and begin running them.

        Jobs added before ``start()`` are saved to the store now. A job added before
        start whose id the store already holds takes the stored job's place only when
        its schedule differs; otherwise the stored state (next run, last run) is kept.

        :raises HandlerNotDefinedError: no handler was given.
        :raises SchedulerAlreadyStartedError: already running (or starting).
        """
        if self._handler is None:
            raise HandlerNotDefinedError()
        if self._running or self._starting:
            raise SchedulerAlreadyStartedError()
        self._starting = True
        self._loop = asyncio.get_running_loop()
        try:
            await self._store.initialize()
            try:
                attach = getattr(self._trigger, "attach", None)
                if callable(attach):
                    attach(self._store, self._codec)
                due_first = self._loads_due_first()
                if not due_first:
                    await self._load_jobs()
                self._executor = HandlerThreads(self._max_workers, self._loop)
                self._running = True
                await self._trigger.start(self._dispatch)
                if due_first:
                    await self._load_due_first()
                else:
                    await self._arm_entries(self._entries.values())
                if self._coordinator is not None and not self._trigger.shared:
                    self._coordinator.start_polling(self._apply_changes)
            except BaseException:
                self._running = False
                if self._tasks:  # due runs that started while the rest was loading
                    for task in self._tasks:
                        task.cancel()
                    await asyncio.wait(set(self._tasks), timeout=1.0)
                if self._executor is not None:
                    self._executor.shutdown(wait=False)
                    self._executor = None
                with contextlib.suppress(Exception):
                    await self._trigger.stop()
                with contextlib.suppress(Exception):
                    await self._store.close()
                raise
        finally:
            self._starting = False
        self._event().set()
        logger.info(
            "scheduler started with %d jobs (store %r, trigger %r)",
            len(self._entries),
            self._store,
            self._trigger,
        )

    async def _load_jobs(self) -> None:
        for job_id in sorted(self._pending_delete):
            with contextlib.suppress(JobDataNotFoundError):
                await self._store.delete_job(job_id)
        loaded: dict[str, JobEntry] = {}
        decode = _memoized(self._codec.decode)
        for data in await self._store.list_jobs():
            loaded[data.id] = self._entry_from_data(data, decode)
        for job_id in sorted(self._pending_update):
            if job_id in loaded:
                changed = await self._apply_pending(
                    self._entries[job_id], loaded[job_id], self._pending_update[job_id]
                )
                if changed is None:
                    del loaded[job_id]
                else:
                    loaded[job_id] = changed
        for job_id in sorted(self._pending_new):
            await self._merge_new(self._entries[job_id], loaded)
        self._pending_new.clear()
        self._pending_update.clear()
        self._pending_delete.clear()
        self._entries = loaded
        self._log_quarantined()

    async def _apply_pending(
        self, local: JobEntry, stored: JobEntry, changes: list[Callable[[JobEntry], bool]]
    ) -> JobEntry | None:
        """Store the changes made to a job while the scheduler was stopped; the job as
        stored then, or None when it was removed meanwhile.

        Alone on its store, the scheduler's own copy (``local``) is the truth and is
        written. On a shared store other processes may have run or changed the job
        since this one stopped: the changes are made again on the stored job and
        written on condition, as :meth:`_change` does, so that a run done meanwhile is
        not undone.
        """
        if not self._shared:
            await self._store.update_job(local.to_data())
            return local

        def replay(entry: JobEntry) -> JobEntry:
            for change in changes:
                change(entry)
            return entry

        try:
            return await self._write_on_condition(
                stored, replay, f"the changes made to job {stored.id!r} while stopped"
            )
        except JobDataNotFoundError:
            return None

    async def _write_on_condition(
        self, stored: JobEntry, make: Callable[[JobEntry], JobEntry | None], what: str
    ) -> JobEntry:
        """Write ``make(stored)`` on condition that nobody wrote the job since it was
        read as ``stored``; after a conflict, read it again and make it again. Returns
        the job as stored (``stored`` itself when ``make`` gives None: nothing to write).

        :raises JobDataNotFoundError: the job was removed meanwhile.
        :raises StorageOperationError: other processes wrote the job every time (``what``
            names what could not be saved).
        """
        for _ in range(_CHANGE_ATTEMPTS):
            seen = stored.updated_at  # before make(), which may change stored in place
            made = make(stored)
            if made is None or await self._update_if_unchanged(made.to_data(), seen):
                return made or stored
            stored = self._entry_from_data(await self._store.get_job(stored.id))
        raise StorageOperationError(
            f"could not save {what}: other processes wrote the job {_CHANGE_ATTEMPTS} times "
            "in a row while it was being saved"
        )

    def _loads_due_first(self) -> bool:
        """Whether start() may run overdue jobs before it has read every job: the store
        can list due jobs, and no change made before start() needs reconciling with
        the store first. A shared store is no reason to wait: each due run is claimed
        in the store (which checks its ``next_run`` there) however it was loaded."""
        return isinstance(self._store, DueJobsStore) and not (
            self._pending_new or self._pending_update or self._pending_delete
        )

    async def _load_due_first(self) -> None:
        """Load and arm the overdue jobs, then read and arm all the others.

        With thousands of jobs stored, reading them all takes a while; the overdue ones
        start meanwhile. Their last completion is read first (a run needs it, and the
        store may serve one reader at a time), for a bounded number of them.
        """
        assert isinstance(self._store, DueJobsStore)
        decode = _memoized(self._codec.decode)
        self._entries = {}
        due = [self._entry_from_data(d, decode) for d in await self._store.list_due_jobs(utcnow())]
        for index, entry in enumerate(due):
            self._entries[entry.id] = entry
            if index < DUE_FIRST_PREFETCH and entry.wants_to_run and entry.last_run is not None:
                entry.last_completed_at = await self._last_completion(entry.id)
                entry.completion_known = True
            await self._arm_entries([entry])
        if due:
            # Let the loop fire the due runs and start their handlers before reading on
            # (a store answering from memory would otherwise never let go of the loop).
            for _ in range(3):
                await asyncio.sleep(0)
        rest: dict[str, JobEntry] = {}
        for data in await self._store.list_jobs():
            if data.id not in self._entries:
                rest[data.id] = self._entry_from_data(data, decode)
        self._entries.update(rest)
        await self._arm_entries(rest.values())
        self._log_quarantined()

    async def _arm_entries(self, entries: Iterable[JobEntry]) -> None:
        await self._trigger.arm_many(
            (e.id, e.next_run) for e in entries if e.wants_to_run and e.next_run is not None
        )

    def _log_quarantined(self) -> None:
        quarantined = [e.id for e in self._entries.values() if e.quarantine_reason]
        if quarantined:
            logger.error(
                "%d job(s) are quarantined (their schedule type has no installed codec) "
                "and left untouched in the store: %s",
                len(quarantined),
                ", ".join(repr(i) for i in quarantined[:20]),
            )

    async def _merge_new(self, entry: JobEntry, loaded: dict[str, JobEntry]) -> None:
        """Save a job added before start(), reconciling it with a stored one.

        Programs commonly add their jobs before every start. When the store already
        has the job with the same schedule, the stored state (next and last run) is
        kept and only the metadata and options are taken over; a different schedule
        replaces it. On a shared store another process may run the job between our
        read and our write, so the write is conditional (see :meth:`_change`): a
        one-off job it ran must not become due again because we wrote back what we
        had read before its run.
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
                existing = self._entry_from_data(await self._store.get_job(entry.id))
        loaded[entry.id] = await self._write_on_condition(
            existing,
            lambda stored: self._merged(stored, entry),
            f"job {entry.id!r} added before start()",
        )

    def _merged(self, existing: JobEntry, added: JobEntry) -> JobEntry | None:
        """What to store for a job added before start() that the store holds as
        ``existing``; None when the stored job can stay as it is."""
        if (existing.schedule_type, existing.schedule_config) == (
            added.schedule_type,
            added.schedule_config,
        ):
            if (existing.metadata, existing.options) == (added.metadata, added.options):
                return None
            return attrs.evolve(
                existing,
                metadata=added.metadata,
                options=added.options,
                updated_at=utcnow(),
                running={},
            )
        logger.info("job %r: the schedule given before start() replaces the stored one", added.id)
        return attrs.evolve(
            added,
            created_at=existing.created_at,
            last_run=existing.last_run,
            updated_at=utcnow(),
            running={},
        )

    def _entry_from_data(
        self, data: JobData, decode: Callable[[str, str], Schedule] | None = None
    ) -> JobEntry:
        schedule: Schedule
        options = DEFAULT_OPTIONS
        try:
            schedule = (decode or self._codec.decode)(data.schedule_type, data.schedule_config)
            options = options_from_metadata(data.metadata)
        except TickworkError as exc:
            # Never drop or rewrite a job we cannot read: it may belong to a plugin that
            # is not installed here. It is quarantined and stays in the store untouched.
            schedule = UndecodableSchedule(data.schedule_type, data.schedule_config, str(exc))
        entry = JobEntry(
            id=data.id,
            schedule=schedule,
            schedule_type=data.schedule_type,
            schedule_config=data.schedule_config,
            metadata=user_metadata(data.metadata),
            status=data.status,
            next_run=data.next_run,
            last_run=data.last_run,
            created_at=data.created_at,
            updated_at=data.updated_at,
            options=options,
        )
        if entry.quarantine_reason:
            entry.metadata = dict(data.metadata)  # written back verbatim, if ever
            return entry
        if entry.status == JobStatus.RUNNING:
            # The process that ran it died mid-run; its due run has not happened.
            entry.status = JobStatus.PENDING
        if entry.next_run is None and entry.last_run is None and entry.status == JobStatus.PENDING:
            entry.next_run = first_run(schedule, utcnow())
        return entry

    async def wait_until_running(self, timeout: float | None = None) -> None:
        """Return once the scheduler is running (at once if it already is).

        :raises TimeoutError: ``timeout`` seconds passed first.
        """
        if self._running:
            return
        async with asyncio.timeout(timeout):
            await self._event().wait()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop running jobs: wait for runs in progress, then close the store.

        With a ``timeout`` (seconds) it returns within about that time: coroutine
        handlers still running are cancelled (their runs are recorded as failed), and
        handlers running in threads are left to finish in the background (logged).

        :raises SchedulerNotStartedError: the scheduler is not running.
        """
        if not self._running:
            raise SchedulerNotStartedError()
        self._running = False
        if self._running_event is not None and self._event_loop_of is asyncio.get_running_loop():
            self._running_event.clear()
        if self._coordinator is not None:
            await self._coordinator.stop_polling()
        for handle in self._rechecks.values():
            handle.cancel()
        self._rechecks.clear()
        try:
            await self._trigger.stop()
        except Exception:
            logger.exception("stopping the trigger failed")
        pending = set(self._tasks)
        if pending:
            _done, still = await asyncio.wait(pending, timeout=timeout)
            if still:
                logger.warning(
                    "stop(timeout=%s): cancelling %d run(s) still in progress; handlers "
                    "running in threads cannot be interrupted and finish in the background",
                    timeout,
                    len(still),
                )
                for task in still:
                    self._cancel_reasons[task] = "cancelled: the scheduler stopped"
                    task.cancel()
                await asyncio.wait(still, timeout=1.0)
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        try:
            await drain_writes(self._writes)
            await self._store.close()
        finally:
            logger.info("scheduler stopped")

    # -- job management -------------------------------------------------------------------

    def _encode(self, schedule: Any) -> tuple[str, str]:
        if schedule is None:
            raise InvalidIntervalError(None, "a schedule is required")
        return self._codec.encode(schedule)

    async def add_job(
        self,
        job_id: str,
        schedule: Schedule,
        metadata: Mapping[str, str] | None = None,
        *,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Job:
        """Add a job. It is ``pending`` until its first run.

        Run policies (see :class:`JobOptions`) may be given as ``options=`` or as
        keywords: ``add_job("sync", schedule, timeout=timedelta(seconds=30), retry=3)``.

        :raises EmptyJobIDError: ``job_id`` is empty.
        :raises InvalidIntervalError: ``schedule`` is None.
        :raises UnsupportedScheduleError: no codec can store the schedule.
        :raises InvalidJobDataError: bad metadata or options.
        :raises JobAlreadyExistsError: the id is taken.
        """
        opts = (options or JobOptions()).replace(**option_fields)
        entry = self._new_entry(job_id, schedule, metadata, opts, utcnow())
        if job_id in self._entries and not self._entries[job_id].removed:
            raise JobAlreadyExistsError(job_id)
        if not self._running:
            self._entries[job_id] = entry
            self._pending_new.add(job_id)
            self._pending_delete.discard(job_id)
            return entry.snapshot()
        try:
            await self._store.save_job(entry.to_data())
        except JobDataAlreadyExistsError:
            raise JobAlreadyExistsError(job_id) from None
        self._entries[job_id] = entry
        await self._arm(entry)
        return entry.snapshot()

    def _new_entry(
        self,
        job_id: str,
        schedule: Schedule,
        metadata: Mapping[str, str] | None,
        options: JobOptions,
        now: datetime,
    ) -> JobEntry:
        """A new job's state, every argument checked (nothing is stored yet)."""
        check_job_id(job_id)
        schedule_type, config = self._encode(schedule)
        return JobEntry(
            id=job_id,
            schedule=schedule,
            schedule_type=schedule_type,
            schedule_config=config,
            metadata=_check_metadata(metadata),
            status=JobStatus.PENDING,
            next_run=first_run(schedule, now),
            last_run=None,
            created_at=now,
            updated_at=now,
            options=options,
        )

    async def add_jobs(
        self,
        jobs: Iterable[JobSpec],
        *,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> list[Job]:
        """Add many jobs at once: all of them, or none.

        Each item is ``(job_id, schedule)`` or ``(job_id, schedule, metadata)``; the
        run policies given here apply to every job. Every item is checked before
        anything is saved, and a store that saves in bulk
        (:class:`~tickwork.abc.BulkStore`) receives them all in one call, so adding
        thousands of jobs costs about one round trip instead of one per job.

        :raises EmptyJobIDError: an id is empty.
        :raises InvalidIntervalError: a schedule is None.
        :raises UnsupportedScheduleError: no codec can store a schedule.
        :raises InvalidJobDataError: bad metadata or options.
        :raises JobAlreadyExistsError: an id is taken, or given twice.
        """
        opts = (options or DEFAULT_OPTIONS).replace(**option_fields)
        if opts == DEFAULT_OPTIONS:
            opts = DEFAULT_OPTIONS  # one shared value: cheaper to compare, less memory
        now = utcnow()
        entries: dict[str, JobEntry] = {}
        for item in jobs:
            if not isinstance(item, tuple) or len(item) not in (2, 3):
                raise TypeError(
                    f"add_jobs() takes (job_id, schedule) or (job_id, schedule, metadata) "
                    f"tuples, got {item!r}"
                )
            job_id = item[0]
            entry = self._new_entry(job_id, item[1], item[2] if len(item) == 3 else None, opts, now)
            known = self._entries.get(job_id)
            if job_id in entries or (known is not None and not known.removed):
                raise JobAlreadyExistsError(job_id)
            entries[job_id] = entry
        if not self._running:
            self._entries.update(entries)
            self._pending_new.update(entries)
            self._pending_delete.difference_update(entries)
            return [entry.snapshot() for entry in entries.values()]
        await self._save_new_jobs(list(entries.values()))
        self._entries.update(entries)
        await self._trigger.arm_many(
            (e.id, e.next_run) for e in entries.values() if e.wants_to_run and e.next_run
        )
        return [entry.snapshot() for entry in entries.values()]

    async def _save_new_jobs(self, entries: list[JobEntry]) -> None:
        """Save new jobs in one call when the store can, else one by one (undoing the
        ones saved so far when one fails, so that it is still all or none)."""
        store = self._store
        try:
            if isinstance(store, BulkStore):
                await store.save_jobs([entry.to_data() for entry in entries])
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

    async def _entry(self, job_id: str) -> JobEntry:
        check_job_id(job_id)
        if self._running and self._shared:
            return await self._refresh(job_id)
        entry = self._entries.get(job_id)
        if entry is None or entry.removed:
            raise JobNotFoundError(job_id)
        return entry

    def _lock(self, job_id: str) -> asyncio.Lock:
        lock = self._job_locks.get(job_id)
        if lock is None:
            lock = self._job_locks[job_id] = asyncio.Lock()
        return lock

    async def _changeable(self, job_id: str) -> JobEntry:
        entry = await self._entry(job_id)
        if entry.quarantine_reason:
            raise InvalidJobDataError(
                f"job {job_id!r} is quarantined ({entry.quarantine_reason}); install the "
                "plugin for its schedule type, or give it a new schedule with "
                "update_job_schedule()"
            )
        return entry

    async def _refresh(self, job_id: str) -> JobEntry:
        """Re-read a job from the store (other processes may have changed it)."""
        try:
            if self._coordinator is not None:
                data = await self._coordinator.read(job_id)  # batched with other reads
            else:
                data = await self._store.get_job(job_id)
        except JobDataNotFoundError:
            self._forget(job_id)
            raise JobNotFoundError(job_id) from None
        return self._apply(data)

    def _forget(self, job_id: str) -> None:
        entry = self._entries.pop(job_id, None)
        if entry is not None:
            entry.removed = True

    def _apply(self, data: JobData) -> JobEntry:
        """Make the in-memory job match what the store holds; keep the live run state."""
        entry = self._entries.get(data.id)
        if (
            entry is not None
            and not entry.quarantine_reason
            and (entry.schedule_type, entry.schedule_config)
            == (data.schedule_type, data.schedule_config)
        ):
            try:
                entry.options = options_from_metadata(data.metadata)
            except TickworkError:
                logger.warning("job %r: stored options unreadable; keeping the old ones", data.id)
            entry.metadata = user_metadata(data.metadata)
            entry.status = (
                JobStatus.RUNNING
                if entry.running and data.status != JobStatus.DISABLED
                else data.status
            )
            entry.next_run, entry.last_run = data.next_run, data.last_run
            entry.updated_at = data.updated_at
            entry.removed = False
            return entry
        fresh = self._entry_from_data(data)
        if entry is not None:
            fresh.running = entry.running
            fresh.queued = entry.queued
            fresh.last_completed_at = entry.last_completed_at
            fresh.completion_known = entry.completion_known
        self._entries[data.id] = fresh
        return fresh

    async def _apply_changes(self, changed: list[JobData]) -> None:
        """Bring jobs changed by other processes into this one, and re-arm them."""
        for data in changed:
            entry = self._apply(data)
            if not entry.running:
                self._cancel_recheck(entry.id)
                await self._arm(entry)

    async def get_job(self, job_id: str) -> Job:
        """Return a snapshot of one job.

        :raises JobNotFoundError: no such job.
        """
        return (await self._entry(job_id)).snapshot()

    async def list_jobs(self) -> list[Job]:
        """Return snapshots of every job, sorted by id (quarantined ones included)."""
        if self._running and self._shared:
            stored = await self._store.list_jobs()
            for data in stored:
                self._apply(data)
            for gone in set(self._entries) - {d.id for d in stored}:
                self._forget(gone)
        return [self._entries[k].snapshot() for k in sorted(self._entries)]

    async def update_job_schedule(self, job_id: str, schedule: Schedule) -> Job:
        """Give a job a new schedule; its next run is computed from it at once.

        A run in progress finishes; the run after it follows the new schedule. A
        quarantined job becomes a normal one again.

        :raises JobNotFoundError: no such job.
        """
        schedule_type, config = self._encode(schedule)

        def change(entry: JobEntry) -> bool:
            now = utcnow()
            if entry.quarantine_reason:
                entry.metadata = user_metadata(entry.metadata)
            entry.schedule, entry.schedule_type, entry.schedule_config = (
                schedule,
                schedule_type,
                config,
            )
            entry.next_run = first_run(schedule, now)
            entry.updated_at = now
            if entry.status not in (JobStatus.DISABLED, JobStatus.RUNNING):
                entry.status = JobStatus.PENDING
            return True

        async with self._lock(job_id):
            return (await self._change(job_id, change, quarantined=True)).snapshot()

    async def update_job_options(
        self, job_id: str, options: JobOptions | None = None, **changes: Any
    ) -> Job:
        """Change a job's run policies (``options=`` replaces them; keywords change
        single fields). They apply from the job's next run on.

        :raises JobNotFoundError: no such job.
        :raises InvalidJobDataError: an unknown or invalid option.
        """

        def change(entry: JobEntry) -> bool:
            entry.options = (options or entry.options).replace(**changes)
            entry.updated_at = utcnow()
            return True

        async with self._lock(job_id):
            return (await self._change(job_id, change)).snapshot()

    async def pause_job(self, job_id: str) -> Job:
        """Stop a job from running (status ``disabled``) until :meth:`resume_job`.

        A run in progress finishes. The ticks that fall while it is paused are
        recorded as ``paused`` when it is resumed.

        :raises JobNotFoundError: no such job.
        :raises StorageOperationError: on a shared store, other processes kept writing
            the job while the change was being saved.
        """

        def change(entry: JobEntry) -> bool:
            entry.status = JobStatus.DISABLED
            entry.updated_at = utcnow()
            return True

        async with self._lock(job_id):
            return (await self._change(job_id, change)).snapshot()

    async def resume_job(self, job_id: str) -> Job:
        """Let a paused job run again, from its next fire time after now.

        Runs missed while paused are not made up; they are recorded as ``paused``.

        :raises JobNotFoundError: no such job.
        :raises StorageOperationError: on a shared store, other processes kept writing
            the job while the change was being saved.
        """
        paused_ticks: tuple[datetime, datetime] | None = None

        def change(entry: JobEntry) -> bool:
            nonlocal paused_ticks
            paused_ticks = None
            if entry.status != JobStatus.DISABLED:
                return False
            now = utcnow()
            if entry.next_run is not None and entry.next_run <= now:
                upcoming = entry.schedule.next(now)
                if upcoming is None and entry.last_run is None:
                    # A one-off that never ran still runs once: pausing must not lose it.
                    upcoming = first_run(entry.schedule, now)
                elif self._running:
                    paused_ticks = (entry.next_run, now)
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

        async with self._lock(job_id):
            entry = await self._change(job_id, change)
            if paused_ticks is not None:
                # Recorded once the change is stored: a change redone after a conflict
                # must not record them twice.
                first, until = paused_ticks
                await self._log_ticks(
                    entry, first, until, ExecutionStatus.PAUSED, include_first=True
                )
            return entry.snapshot()

    async def remove_job(self, job_id: str) -> None:
        """Remove a job: wait for its run in progress, then delete it from the store.

        Its execution history stays in the store.

        :raises JobNotFoundError: no such job.
        :raises SchedulerStoppedError: the scheduler stopped while the call waited for
            the job's run (the job is then not removed).
        """
        entry = await self._entry(job_id)
        entry.removed = True
        self._job_locks.pop(job_id, None)
        if not self._running:
            del self._entries[job_id]
            self._pending_update.pop(job_id, None)
            if job_id in self._pending_new:
                self._pending_new.discard(job_id)
            else:
                self._pending_delete.add(job_id)
            return
        self._cancel_recheck(job_id)
        await self._trigger.disarm(job_id)
        others = set(entry.running) - {asyncio.current_task()}
        if others:
            await asyncio.wait(others)
            if not self.is_running:  # (stop() may have run while we waited)
                # stop() ended the run we waited for and is closing the store: the job
                # is not deleted, and the caller learns why.
                entry.removed = False
                raise SchedulerStoppedError(
                    f"the scheduler stopped while remove_job({job_id!r}) waited for its "
                    "run; the job was not removed"
                )
        try:
            await self._store.delete_job(job_id)
        except JobDataNotFoundError:
            if not self._shared:
                raise JobNotFoundError(job_id) from None
        finally:
            if self._entries.get(job_id) is entry:
                del self._entries[job_id]

    async def run_job_now(self, job_id: str) -> str:
        """Start one run of the job now, outside its schedule; return its execution id.

        The run is recorded with ``"manual": "true"`` in its metadata and follows the
        job's overlap policy. It does not move the job's schedule, unless a scheduled
        run was skipped while it ran (then the next run follows its end).

        :raises JobNotFoundError: no such job.
        :raises SchedulerNotStartedError: the scheduler is not running.
        """
        entry = await self._changeable(job_id)
        if not self._running or self._loop is None:
            raise SchedulerNotStartedError()
        execution_id = new_execution_id()
        self._spawn(self._manual_run(entry, utcnow(), execution_id))
        return execution_id

    async def _change(
        self, job_id: str, change: Callable[[JobEntry], bool], *, quarantined: bool = False
    ) -> JobEntry:
        """Apply ``change`` to the job (it returns False when there is nothing to save),
        save it and bring the trigger in line with it.

        With a shared store the job is read first and written on condition that no
        other process wrote it since (:class:`~tickwork.abc.ConditionalUpdateStore`):
        if one did (it finished a run and moved ``next_run`` on, say), the job is read
        again and the change made again, rather than putting the old state back.

        :raises StorageOperationError: other processes wrote the job every time.
        """
        for _ in range(_CHANGE_ATTEMPTS):
            entry = await (self._entry(job_id) if quarantined else self._changeable(job_id))
            seen = entry.updated_at
            if not change(entry):
                return entry
            if not self._running:
                if job_id not in self._pending_new:  # (a new job is saved whole anyway)
                    self._pending_update.setdefault(job_id, []).append(change)
                return entry
            if await self._persist_change(entry, seen):
                return entry
            logger.debug("job %r: written by another process meanwhile; changing it again", job_id)
        raise StorageOperationError(
            f"could not change job {job_id!r}: other processes wrote it {_CHANGE_ATTEMPTS} "
            "times in a row while this change was being saved; nothing was changed"
        )

    async def _persist_change(self, entry: JobEntry, seen: datetime) -> bool:
        """Save a changed job and bring the trigger in line with it; False, and nothing
        saved, when the stored job is no longer the one read at ``seen``."""
        data = entry.to_data()
        try:
            if not await self._update_if_unchanged(data, seen):
                return False
        except JobDataNotFoundError:
            self._forget(entry.id)
            raise JobNotFoundError(entry.id) from None
        if self._coordinator is not None:
            self._coordinator.note_saved(data)
        if not entry.running or entry.options.overlap != Overlap.SKIP:
            await self._arm(entry)
        return True

    async def _update_if_unchanged(self, data: JobData, seen: datetime) -> bool:
        """Write ``data`` over the stored job if nobody wrote it since ``seen``.

        Only a shared store can be written behind our back; without the capability
        the write is unconditional (and a concurrent write can be undone).
        """
        if self._conditional_store is not None:
            return await self._conditional_store.update_job_if(data, seen)
        await self._store.update_job(data)
        return True

    async def _arm(self, entry: JobEntry) -> None:
        if entry.wants_to_run and entry.next_run is not None:
            await self._trigger.arm(entry.id, entry.next_run)
        else:
            await self._trigger.disarm(entry.id)

    async def run_history(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        """A job's execution records from the store (see ``Store.list_executions``)."""
        check_job_id(job_id)
        if not self._running:
            raise SchedulerNotStartedError()
        return await self._store.list_executions(job_id, options)

    # -- due runs -------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        assert self._loop is not None
        task: asyncio.Task[None] = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, delivery: Delivery) -> None:
        """Called by the trigger on the loop for each due run; returns at once."""
        if self._loop is None or not self._running:
            return
        self._spawn(self._handle_delivery(delivery))

    async def _handle_delivery(self, delivery: Delivery) -> None:
        job_id, scheduled_at = delivery.job_id, delivery.scheduled_at
        try:
            entry = await self._wanted_entry(job_id, scheduled_at)
        except Exception:
            logger.exception("job %r: could not load it for its run at %s", job_id, scheduled_at)
            await _settle(delivery.nak)
            return
        try:
            if entry is not None:
                await self._on_due(entry, scheduled_at)
        finally:
            if self._coordinator is not None and entry is not None and not entry.running:
                await self._coordinator.release(job_id, scheduled_at)
            await _settle(delivery.ack)

    async def _wanted_entry(self, job_id: str, scheduled_at: datetime) -> JobEntry | None:
        """The job to run for this delivery, or None when the delivery is stale."""
        entry: JobEntry | None
        if self._coordinator is not None:
            local = self._entries.get(job_id)
            if self._coordinator.holds(job_id, scheduled_at) or (
                local is not None and scheduled_at in local.running.values()
            ):
                return None  # a second delivery of a run we are doing (or finishing)
            claimed = await self._coordinator.claim(job_id, scheduled_at)
            if claimed is None:
                await self._lost_claim(job_id, scheduled_at)
                return None
            entry = self._apply(claimed)
        elif self._trigger.shared:
            try:
                entry = await self._refresh(job_id)
            except JobNotFoundError:
                logger.debug("job %r: dropping a due run of a removed job", job_id)
                return None
        else:
            entry = self._entries.get(job_id)
        if entry is None or not entry.wants_to_run or scheduled_at in entry.running.values():
            return None
        if entry.next_run != scheduled_at:
            logger.debug(
                "job %r: dropping a stale run for %s (next run is %s)",
                job_id,
                scheduled_at,
                entry.next_run,
            )
            return None
        return entry

    async def _lost_claim(self, job_id: str, scheduled_at: datetime) -> None:
        """Another process runs (or ran) this job; follow what the store says."""
        try:
            entry = await self._refresh(job_id)
        except JobNotFoundError:
            await self._trigger.disarm(job_id)
            return
        if entry.next_run == scheduled_at and entry.wants_to_run:
            # Someone holds the claim and is still running it. Ask again when their
            # lease would run out: if they died, we take over then.
            assert self._coordinator is not None
            self._recheck_later(job_id, scheduled_at, self._coordinator.lease.total_seconds())
        elif not entry.running:
            await self._arm(entry)

    def _recheck_later(self, job_id: str, scheduled_at: datetime, delay: float) -> None:
        loop = self._loop
        if loop is None:
            return
        self._cancel_recheck(job_id)
        self._rechecks[job_id] = loop.call_later(
            delay, self._recheck, _RecheckDelivery(job_id, scheduled_at)
        )

    def _recheck(self, delivery: Delivery) -> None:
        self._rechecks.pop(delivery.job_id, None)
        self._dispatch(delivery)

    def _cancel_recheck(self, job_id: str) -> None:
        handle = self._rechecks.pop(job_id, None)
        if handle is not None:
            handle.cancel()

    async def _on_due(self, entry: JobEntry, tick: datetime) -> None:
        """Apply the job's policy to a due tick: overlap, catch-up, misfire, then run."""
        if entry.running and not await self._admit_overlap(entry, tick):
            return
        opts = entry.options
        now = utcnow()
        to_run = [tick]
        await self._log_dst_skips(entry, tick, now)
        following = entry.schedule.next(tick)
        if following is not None and following <= now:
            overdue = ticks_between(
                entry.schedule, tick, now, keep=max(opts.max_catch_up, TICK_LOG_LIMIT)
            )
        else:  # the usual case, on time: no tick after this one has passed yet
            overdue = _NO_TICKS
        if overdue.count:
            # Several ticks passed while nothing ran them (downtime): one run, or a
            # bounded series of runs, stands for them all; the rest are coalesced.
            known = [tick, *overdue.first]
            if overdue.last is not None and overdue.last not in known:
                known.append(overdue.last)
            if opts.catch_up == CatchUp.LATEST:
                to_run = [known[-1]]
            elif opts.catch_up == CatchUp.ALL:
                to_run = known[: opts.max_catch_up]
            coalesced = [t for t in known if t not in to_run]
            await self._log(
                entry,
                coalesced,
                ExecutionStatus.COALESCED,
                overdue.count + 1 - len(to_run),
                at_least=overdue.truncated,
            )
        ran = False
        for when in to_run:
            if not entry.wants_to_run and ran:
                break
            grace = opts.misfire_grace_time
            if grace is not None and utcnow() - when > grace:
                await self._log(entry, [when], ExecutionStatus.MISSED, 1)
                continue
            ran = True
            await self._run_tick(entry, when)
        if not ran:
            await self._reschedule_without_run(entry)

    async def _admit_overlap(self, entry: JobEntry, tick: datetime) -> bool:
        """A tick is due while the job runs: may it run now? (Records it if not.)"""
        policy = entry.options.overlap
        if policy == Overlap.ALLOW and len(entry.running) < entry.options.max_instances:
            return True
        if policy == Overlap.CANCEL_RUNNING:
            victims = list(entry.running)
            for task in victims:
                self._cancel_reasons[task] = f"cancelled: superseded by the run due at {tick}"
                task.cancel()
            await asyncio.wait(victims)
            return True
        if policy == Overlap.QUEUE_ONE and entry.queued is None:
            entry.queued = tick
        else:
            await self._log(entry, [tick], ExecutionStatus.SKIPPED_OVERLAP, 1)
        if policy != Overlap.SKIP and entry.next_run == tick:
            # In these modes the chain moves on when a tick comes due, run or not.
            entry.next_run = entry.schedule.next(tick)
            if self._shared:
                entry.updated_at = utcnow()  # a new version for conditional writers
                await self._save_job_state(entry)
            await self._arm_next(entry)
        return False

    async def _manual_run(self, entry: JobEntry, tick: datetime, execution_id: str) -> None:
        if entry.running and not await self._admit_overlap(entry, tick):
            return
        await self._run_tick(entry, tick, manual=True, execution_id=execution_id)

    async def _reschedule_without_run(self, entry: JobEntry) -> None:
        """Every due tick was missed or coalesced: move on to the next one after now."""
        now = utcnow()
        entry.next_run = entry.schedule.next(now)
        if entry.next_run is not None:
            await self._log_dst_skips(entry, now, entry.next_run)
        entry.updated_at = now
        await self._save_job_state(entry)
        if self._running and entry.wants_to_run and not entry.running:
            await self._arm_next(entry)

    async def _run_tick(
        self,
        entry: JobEntry,
        tick: datetime,
        *,
        manual: bool = False,
        execution_id: str | None = None,
    ) -> None:
        """Run the handler for one tick, with jitter, timeout and retries; record each
        attempt; then save the job's state and arm its next run."""
        task = asyncio.current_task()
        assert task is not None
        opts = entry.options
        previous_status = entry.status
        entry.running[task] = tick
        entry.status = JobStatus.RUNNING
        if opts.overlap != Overlap.SKIP and not manual:
            # The next tick is armed now, so it can come due while this run goes on.
            entry.next_run = entry.schedule.next(tick)
            if self._shared:
                entry.updated_at = utcnow()  # a new version for conditional writers
                await self._save_job_state(entry)
            await self._arm_next(entry)
        if not entry.completion_known and entry.last_run is not None:
            entry.last_completed_at = await self._last_completion(entry.id)
        entry.completion_known = True
        jitter = timedelta(0)
        if opts.jitter:
            jitter = opts.jitter * random.random()
        cancelled: str | None = None
        status: JobStatus | ExecutionStatus = JobStatus.FAILED
        started = ended = utcnow()
        attempts = opts.retry.max_attempts if opts.retry else 1
        for attempt in range(1, attempts + 1):
            try:
                if attempt == 1 and jitter:
                    await asyncio.sleep(jitter.total_seconds())
                elif attempt > 1 and opts.retry is not None:
                    await asyncio.sleep(opts.retry.delay_before(attempt).total_seconds())
            except asyncio.CancelledError:
                cancelled = self._cancel_reasons.pop(task, "cancelled")
                break
            started = utcnow()
            event = JobEvent(
                id=entry.id,
                metadata=entry.metadata,
                schedule=entry.schedule,
                scheduled_at=tick,
                started_at=started,
                last_completed_at=entry.last_completed_at,
                execution_id=(
                    execution_id if attempt == 1 and execution_id else new_execution_id()
                ),
                job=entry.snapshot(),
                attempt=attempt,
                jitter=jitter,
                manual=manual,
            )
            error: str | None
            try:
                if self._coordinator is not None and not manual:
                    async with self._coordinator.held(entry.id):
                        status, error = await self._call(event, opts.timeout)
                else:
                    status, error = await self._call(event, opts.timeout)
            except asyncio.CancelledError:
                cancelled = self._cancel_reasons.pop(task, "cancelled")
                status, error = JobStatus.FAILED, cancelled
            ended = utcnow()
            await self._save_record(entry, event, status, error, ended)
            if status == JobStatus.COMPLETED or cancelled:
                break
        try:
            interrupted = not self._running and cancelled is not None
            await self._finish(
                entry, task, tick, previous_status, status, started, ended, manual, interrupted
            )
        finally:
            if self._coordinator is not None and not manual and not entry.running:
                await self._coordinator.release(entry.id, tick)
        if cancelled:
            raise asyncio.CancelledError(cancelled)
        if entry.queued is not None and not entry.running and entry.wants_to_run:
            queued, entry.queued = entry.queued, None
            await self._run_tick(entry, queued)

    async def _call(
        self, event: JobEvent, timeout: timedelta | None
    ) -> tuple[JobStatus | ExecutionStatus, str | None]:
        return await call_handler(
            self._handler, self._handler_is_async, event, self._executor, timeout
        )

    async def _save_record(
        self,
        entry: JobEntry,
        event: JobEvent,
        status: JobStatus | ExecutionStatus,
        error: str | None,
        ended: datetime,
    ) -> None:
        metadata = {
            "scheduled_at": event.scheduled_at.isoformat(),
            "worker": self.worker_id,
            "attempt": str(event.attempt),
        }
        if event.manual:
            metadata["manual"] = "true"
        if event.jitter:
            metadata["jitter"] = str(event.jitter.total_seconds())
        # One per run: built without the converters, whose checks these values (times
        # from utcnow, statuses as enums, a fresh dict of strings) pass by construction.
        record = build_unchecked(
            ExecutionRecord,
            (
                entry.id,
                event.execution_id,
                event.started_at,
                ended,
                ended - event.started_at,
                to_execution_status(status),
                error,
                metadata,
            ),
        )
        try:
            await self._writes.save_execution(record)
        except Exception:
            logger.exception("job %r: saving its execution record failed", entry.id)

    async def _finish(
        self,
        entry: JobEntry,
        task: asyncio.Task[None],
        tick: datetime,
        previous_status: JobStatus,
        status: JobStatus | ExecutionStatus,
        started: datetime,
        ended: datetime,
        manual: bool,
        interrupted: bool = False,
    ) -> None:
        """Save the job's state after a run and arm what comes next.

        A run cut short because the scheduler stopped (``interrupted``) keeps the job
        due at ``tick``: the next start runs it again rather than losing it.
        """
        async with self._lock(entry.id):
            entry.running.pop(task, None)
            seen: datetime | None = None  # the job's version as re-read after the run
            if self._shared and not entry.removed:
                # Another process may have changed or removed the job during the run; the
                # next run follows what is stored now, not what we started with.
                try:
                    entry = await self._refresh(entry.id)
                    seen = entry.updated_at
                except JobNotFoundError:
                    entry.removed = True
                except Exception:
                    logger.warning("job %r: could not re-read it after its run", entry.id)
            outcome = _JOB_STATUS_OF.get(status, JobStatus.FAILED)
            rearm = False
            if interrupted:
                if not manual:
                    entry.next_run = tick
                outcome = JobStatus.PENDING
            elif manual:
                if entry.next_run is None or entry.next_run <= ended:
                    rearm = entry.next_run is not None or entry.last_run is None
            else:
                rearm = entry.options.overlap == Overlap.SKIP
            if rearm and not manual and not isinstance(entry.schedule, IntervalSchedule):
                # Ticks of a fixed grid (cron, start-at) that came due while this run went on
                # were skipped (overlap="skip"). An interval counts from the end of the run,
                # so none of its ticks can fall inside one.
                await self._log_ticks(
                    entry,
                    tick,
                    ended,
                    ExecutionStatus.SKIPPED_OVERLAP,
                    include_first=False,
                    after=started,
                )

            if rearm:
                try:
                    # Never before the tick: a run that started early (a trigger or clock
                    # ahead of ours, a clock stepped back) would otherwise end before its
                    # tick, and a fixed grid would hand back that tick and run it twice.
                    entry.next_run = entry.schedule.next(max(ended, tick))
                except Exception as exc:
                    logger.error(
                        "job %r: its schedule failed to compute the next run: %s", entry.id, exc
                    )
                    entry.next_run = None
                    outcome = JobStatus.RESCHEDULING_FAILED
            if rearm and entry.next_run is not None:
                await self._log_dst_skips(entry, ended, entry.next_run)
            entry.last_run = max(started, entry.last_run) if entry.last_run else started
            entry.last_completed_at = ended
            entry.updated_at = ended
            # A pause (or removal) during the run wins over the run's outcome.
            paused = entry.status == JobStatus.DISABLED or previous_status == JobStatus.DISABLED
            if paused:
                entry.status = JobStatus.DISABLED
            elif entry.running:
                entry.status = JobStatus.RUNNING
            else:
                entry.status = outcome
            if entry.removed:
                return
            saved = await self._save_outcome(entry, seen)
            if saved is None:
                return
            entry = saved
            # A shared trigger takes arms until its stop is complete: re-arming while
            # stopping keeps the chain going for the other workers.
            keep_going = self._running or self._trigger.shared
            if rearm and keep_going and entry.wants_to_run and not entry.running:
                await self._arm_next(entry)

    async def _save_outcome(self, entry: JobEntry, seen: datetime | None) -> JobEntry | None:
        """Save the job's state after a run; the job to arm, or None when it must not be
        armed (see :meth:`_save_job_state`).

        On a shared store the state is written on condition that the job is still the
        version re-read after the run (``seen``). When another process stored a change
        in between, the outcome is merged into that change (a pause stays paused, a new
        schedule keeps the next run it computed) and written again. After
        ``_CHANGE_ATTEMPTS`` losses it is written over the change: a run's outcome must
        be saved, or the run would be due again.
        """
        if seen is None or self._conditional_writes is None:
            return entry if await self._save_job_state(entry) else None
        for _ in range(_CHANGE_ATTEMPTS):
            try:
                return entry if await self._save_job_state(entry, seen) else None
            except _JobChanged:
                pass
            logger.debug("job %r: changed elsewhere as its run ended; merging", entry.id)
            try:
                merged = await self._merge_outcome(entry)
            except JobNotFoundError:
                logger.info("job %r was removed during its run; not rescheduling it", entry.id)
                return None
            if merged is None:
                break
            entry, seen = merged
        logger.warning(
            "job %r: other processes kept writing it while its run's outcome was saved; "
            "saving the outcome over their change",
            entry.id,
        )
        return entry if await self._save_job_state(entry) else None

    async def _merge_outcome(self, entry: JobEntry) -> tuple[JobEntry, datetime] | None:
        """Re-read a job whose outcome lost to a change stored meanwhile, and carry the
        outcome over to it; with the version read. None when the re-read failed.

        :raises JobNotFoundError: the job was removed.
        """
        next_run, last_run, status = entry.next_run, entry.last_run, entry.status
        schedule = (entry.schedule_type, entry.schedule_config)
        try:
            fresh = await self._refresh(entry.id)
        except JobNotFoundError:
            raise
        except Exception:  # a store error: the caller writes the outcome as it is
            logger.warning("job %r: could not re-read it after a conflict", entry.id)
            return None
        seen = fresh.updated_at
        if (fresh.schedule_type, fresh.schedule_config) == schedule:
            fresh.next_run = next_run  # else: the new schedule's next run stands
        if last_run is not None and (fresh.last_run is None or fresh.last_run < last_run):
            fresh.last_run = last_run
        if fresh.status != JobStatus.DISABLED:  # a pause stored meanwhile stays
            fresh.status = JobStatus.PENDING if status == JobStatus.DISABLED else status
        fresh.updated_at = utcnow()
        return fresh, seen

    async def _save_job_state(self, entry: JobEntry, seen: datetime | None = None) -> bool:
        """Persist the job; False when it must not be armed.

        False when the job turned out to be removed, and, with a shared store, when
        the save kept failing: the store is the truth other workers (and our own next
        delivery) check, so arming a time it does not hold would only be dropped as
        stale. The job then stays due at its old time for the next start, a reconciler
        or another worker to pick up. In a single process the in-memory job is the
        truth: it is armed anyway and the failure is logged.
        """
        attempts = 3 if self._shared else 1
        for attempt in range(1, attempts + 1):
            try:
                data = entry.to_data()
                if seen is None or self._conditional_writes is None:
                    await self._writes.update_job(data)
                elif not await self._conditional_writes.update_job_if(data, seen):
                    raise _JobChanged(entry.id)
                if self._coordinator is not None:
                    self._coordinator.note_saved(data)
                return True
            except _JobChanged:
                raise
            except JobDataNotFoundError:
                logger.info("job %r was removed during its run; not rescheduling it", entry.id)
                self._forget(entry.id)
                return False
            except Exception:
                if attempt < attempts:
                    await asyncio.sleep(0.2 * attempt)
                    continue
                logger.exception(
                    "job %r: saving its state failed; %s",
                    entry.id,
                    "it stays due at its stored time"
                    if self._shared
                    else f"it stays scheduled for {entry.next_run}",
                )
        return not self._shared

    async def _arm_next(self, entry: JobEntry) -> None:
        if entry.next_run is None:
            return
        try:
            await self._trigger.arm(entry.id, entry.next_run)
        except Exception:
            logger.exception("job %r: arming its next run at %s failed", entry.id, entry.next_run)
            await self._mark_rescheduling_failed(entry)

    async def _mark_rescheduling_failed(self, entry: JobEntry) -> None:
        """Record that the job's next run is not armed, so it can be found and repaired."""
        entry.status = JobStatus.RESCHEDULING_FAILED
        entry.updated_at = utcnow()
        try:
            await self._store.update_job(entry.to_data())
        except Exception:
            logger.exception("job %r: recording rescheduling_failed failed too", entry.id)

    async def _log_dst_skips(self, entry: JobEntry, after: datetime, until: datetime) -> None:
        """Record the fire times a schedule skipped for daylight saving (cron's
        ``on_gap="skip"``): schedules that can skip say so with ``skipped_between``."""
        skipped_between = getattr(entry.schedule, "skipped_between", None)
        if not callable(skipped_between):
            return
        try:
            skipped: list[datetime] = skipped_between(after, until)
        except Exception:
            logger.warning("job %r: listing daylight-saving skips failed", entry.id, exc_info=True)
            return
        if skipped:
            await self._log(entry, skipped, ExecutionStatus.DST_SKIPPED, len(skipped))

    async def _log_ticks(
        self,
        entry: JobEntry,
        first: datetime,
        until: datetime,
        status: ExecutionStatus,
        *,
        include_first: bool,
        after: datetime | None = None,
    ) -> None:
        """Record the ticks from ``first`` to ``until`` (only those after ``after``)."""
        if not include_first:
            following = entry.schedule.next(first)
            if following is None or following > until:
                return  # after almost every run: nothing was skipped
        span = ticks_between(entry.schedule, first, until, keep=TICK_LOG_LIMIT)
        ticks = ([first] if include_first else []) + span.first
        total = span.count + (1 if include_first else 0)
        if after is not None:
            before = sum(1 for t in ticks if t <= after)
            ticks = [t for t in ticks if t > after]
            total -= before
        await self._log(entry, ticks, status, total, at_least=span.truncated)

    async def _log(
        self,
        entry: JobEntry,
        ticks: list[datetime],
        status: ExecutionStatus,
        total: int,
        *,
        at_least: bool = False,
    ) -> None:
        """Record intended runs that did not run: one record per tick up to the limit,
        then one record that counts the rest."""
        if total <= 0:
            return
        shown = ticks[:TICK_LOG_LIMIT]
        records = [self._tick_record(entry, t, status) for t in shown]
        rest = total - len(shown)
        if rest > 0:
            last = self._tick_record(entry, shown[-1] if shown else utcnow(), status)
            last.metadata["count"] = str(rest)
            more = "at least " if at_least else ""
            last.metadata["note"] = f"{more}{rest} more tick(s) not listed one by one"
            records.append(last)
        for record in records:
            try:
                await self._store.save_execution(record)
            except Exception:
                logger.exception("job %r: saving a %s record failed", entry.id, status.value)
        logger.info("job %r: %d tick(s) %s", entry.id, total, status.value)

    def _tick_record(
        self, entry: JobEntry, tick: datetime, status: ExecutionStatus
    ) -> ExecutionRecord:
        return ExecutionRecord(
            job_id=entry.id,
            execution_id=new_execution_id(),
            start_time=tick,
            end_time=tick,
            duration=timedelta(0),
            status=status,
            error=None,
            metadata={"scheduled_at": tick.isoformat(), "worker": self.worker_id},
        )

    async def _last_completion(self, job_id: str) -> datetime | None:
        """When the job last finished, for jobs loaded from the store (once per job)."""
        try:
            records = await self._store.list_executions(
                job_id,
                QueryOptions(limit=1, sort_by="end_time", sort_desc=True),
            )
        except Exception:
            logger.debug("job %r: could not read its last completion", job_id, exc_info=True)
            return None
        return records[0].end_time if records else None


_NO_TICKS = TickSpan([], None, 0, False)

# How often a change is read and made again when other processes keep writing the job.
_CHANGE_ATTEMPTS = 5


class _JobChanged(Exception):
    """A conditional write lost: another process wrote the job since it was read."""


_UUID4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_BITS = (0x4 << 76) | (0x2 << 62)


def new_execution_id() -> str:
    """A random version-4 UUID as 32 hex digits, like ``uuid.uuid4().hex``.

    Made from :func:`random.getrandbits` rather than ``os.urandom``: an execution id
    must be unique, not unguessable, and this is several times cheaper, which counts at
    thousands of runs a second. (The generator is re-seeded in forked children.)
    """
    return f"{(random.getrandbits(128) & _UUID4_MASK) | _UUID4_BITS:032x}"


class _RecheckDelivery:
    """A due run the scheduler re-offers itself (a claim held elsewhere may expire)."""

    __slots__ = ("job_id", "scheduled_at")

    def __init__(self, job_id: str, scheduled_at: datetime) -> None:
        self.job_id = job_id
        self.scheduled_at = scheduled_at

    async def ack(self) -> None:
        return None

    async def nak(self) -> None:
        return None


def _make_coordinator(
    store: Store,
    trigger: Trigger,
    coordinate: bool | None,
    owner: str,
    lease: timedelta,
    sync_interval: float,
) -> Coordinator | None:
    if coordinate is None:
        # A shared trigger (NATS) already hands each due run to one worker, and redelivers
        # it on its own terms; claims on top would only add round trips and delays.
        coordinate = (
            isinstance(store, ClaimingStore)
            and bool(getattr(store, "shared", False))
            and not trigger.shared
        )
    if not coordinate:
        return None
    if not isinstance(store, ClaimingStore):
        raise TypeError(
            f"coordinate=True needs a store that can claim runs (tickwork.abc.ClaimingStore); "
            f"{type(store).__name__} cannot"
        )
    return Coordinator(store, owner, lease=lease, sync_interval=sync_interval)


async def _settle(step: Callable[[], Awaitable[None]]) -> None:
    try:
        await step()
    except Exception:
        logger.exception("acknowledging a delivery failed")


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidJobDataError(f"metadata must be a mapping of str to str, got {metadata!r}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidJobDataError(f"metadata must map str to str; got {key!r}: {value!r}")
        if key == OPTIONS_KEY:
            raise InvalidJobDataError(
                f"metadata key {OPTIONS_KEY!r} is reserved for run policies; "
                "pass options=JobOptions(...) instead"
            )
    return dict(metadata)


def _resolve_store(store: Store | str | None, options: Mapping[str, Any] | None) -> Store:
    if store is None:
        if options:
            return create_store("memory", **options)
        from ._memory_store import MemoryStore

        return MemoryStore()
    if isinstance(store, str):
        return create_store(store, **dict(options or {}))
    if not isinstance(store, Store):
        raise TypeError(
            f"store must be a Store (tickwork.abc.Store), a store name or a URL; got {store!r}"
        )
    if options:
        raise TypeError("store_options apply only when store is a name or URL")
    return store


def _resolve_trigger(trigger: Trigger | str, options: Mapping[str, Any] | None) -> Trigger:
    if isinstance(trigger, str):
        return create_trigger(trigger, **dict(options or {}))
    if not isinstance(trigger, Trigger):
        raise TypeError(
            f"trigger must be a Trigger (tickwork.abc.Trigger) or a trigger name; got {trigger!r}"
        )
    if options:
        raise TypeError("trigger_options apply only when trigger is a name")
    return trigger


def _memoized(decode: Callable[[str, str], Schedule]) -> Callable[[str, str], Schedule]:
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
