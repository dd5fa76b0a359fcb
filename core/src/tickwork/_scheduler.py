"""``AsyncScheduler``: the core that keeps jobs, runs them, and records what happened.

The scheduler owns the job table and the handler; the store persists; the trigger
decides when runs are due. For each due run the trigger calls ``dispatch`` and the
scheduler, in a task of its own: checks that the run is still wanted, calls the
handler, saves an execution record and the job's new state, and arms the job's next
fire time (``schedule.next(end_time)``). Because the next time is armed only after a
run ends, one job never runs twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

import attrs

from ._coordination import DEFAULT_LEASE, DEFAULT_SYNC_INTERVAL, Coordinator
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
    TickworkError,
)
from ._job import Job, JobEvent
from ._models import ExecutionRecord, JobData, JobStatus, QueryOptions
from ._plugins import create_store, create_trigger, default_codec
from ._timeutil import utcnow
from ._validation import check_job_id
from .abc import ClaimingStore, Delivery, Schedule, ScheduleCodec, Store, Trigger

__all__ = ["AsyncScheduler", "Handler"]

logger = logging.getLogger("tickwork.scheduler")

Handler = Callable[[JobEvent], Any]
"""A job handler: a plain function (run in a worker thread) or a coroutine function."""

DEFAULT_MAX_WORKERS = 20


def first_run(schedule: Schedule, now: datetime) -> datetime | None:
    """The first fire time of a new (or newly rescheduled) job.

    ``next(now)`` for most schedules; a schedule that defines ``first_run`` decides for
    itself (a one-off time that already passed still runs once, immediately).
    """
    custom = getattr(schedule, "first_run", None)
    if callable(custom):
        result: datetime | None = custom(now)
        return result
    return schedule.next(now)


@attrs.define(eq=False)
class _Entry:
    """The scheduler's live, mutable state of one job."""

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
    last_completed_at: datetime | None = None
    completion_known: bool = False
    running: asyncio.Task[None] | None = None
    removed: bool = False

    def to_data(self) -> JobData:
        return JobData(
            id=self.id,
            schedule_type=self.schedule_type,
            schedule_config=self.schedule_config,
            status=self.status,
            next_run=self.next_run,
            last_run=self.last_run,
            created_at=self.created_at,
            updated_at=self.updated_at,
            metadata=self.metadata,
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
            is_running=self.running is not None,
        )

    @property
    def wants_to_run(self) -> bool:
        return not self.removed and self.status != JobStatus.DISABLED and self.next_run is not None


class AsyncScheduler:
    """Runs jobs on their schedules, in an asyncio event loop.

    :param store: a :class:`~tickwork.abc.Store`, a registered store name or a URL
        (``"sqlite:///jobs.db"``); ``None`` keeps jobs in memory.
    :param handler: called for every run with a :class:`JobEvent`. A plain function runs
        in a worker thread; a coroutine function (or any callable returning an
        awaitable) is awaited on the loop. An exception marks the run ``failed``.
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
        :class:`~tickwork.abc.ClaimingStore` whose ``shared`` is true.
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
        self._codec: ScheduleCodec = codec if codec is not None else default_codec()
        self._handler = handler
        if handler is not None and not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive int, got {max_workers!r}")
        self._max_workers = max_workers
        self.worker_id = worker_id or (
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
        self._coordinator = _make_coordinator(
            self._store, coordinate, self.worker_id, claim_lease, sync_interval
        )
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._entries: dict[str, _Entry] = {}
        # Changes made while stopped, applied to the store by the next start().
        self._pending_new: set[str] = set()
        self._pending_update: set[str] = set()
        self._pending_delete: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._starting = False
        self._executor: ThreadPoolExecutor | None = None
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
                await self._load_jobs()
                self._executor = ThreadPoolExecutor(
                    max_workers=self._max_workers, thread_name_prefix="tickwork-handler"
                )
                self._running = True
                await self._trigger.start(self._dispatch)
                await self._trigger.arm_many(
                    (e.id, e.next_run)
                    for e in self._entries.values()
                    if e.wants_to_run and e.next_run is not None
                )
                if self._coordinator is not None and not self._trigger.shared:
                    self._coordinator.start_polling(self._apply_changes)
            except BaseException:
                self._running = False
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
        loaded: dict[str, _Entry] = {}
        for data in await self._store.list_jobs():
            entry = self._entry_from_data(data)
            if entry is not None:
                loaded[data.id] = entry
        for job_id in sorted(self._pending_update):
            entry = self._entries[job_id]
            if job_id in loaded:
                await self._store.update_job(entry.to_data())
                loaded[job_id] = entry
        for job_id in sorted(self._pending_new):
            await self._merge_new(self._entries[job_id], loaded)
        self._pending_new.clear()
        self._pending_update.clear()
        self._pending_delete.clear()
        self._entries = loaded

    async def _merge_new(self, entry: _Entry, loaded: dict[str, _Entry]) -> None:
        """Save a job added before start(), reconciling it with a stored one.

        Programs commonly add their jobs before every start. When the store already
        has the job with the same schedule, the stored state (next and last run) is
        kept and only the metadata is taken over; a different schedule replaces it.
        """
        existing = loaded.get(entry.id)
        if existing is None:
            await self._store.save_job(entry.to_data())
            loaded[entry.id] = entry
            return
        if (existing.schedule_type, existing.schedule_config) == (
            entry.schedule_type,
            entry.schedule_config,
        ):
            if existing.metadata != entry.metadata:
                existing.metadata = entry.metadata
                existing.updated_at = utcnow()
                await self._store.update_job(existing.to_data())
            return
        logger.info("job %r: the schedule given before start() replaces the stored one", entry.id)
        entry.created_at = existing.created_at
        entry.last_run = existing.last_run
        await self._store.update_job(entry.to_data())
        loaded[entry.id] = entry

    def _entry_from_data(self, data: JobData) -> _Entry | None:
        try:
            schedule = self._codec.decode(data.schedule_type, data.schedule_config)
        except TickworkError as exc:
            # Never drop or rewrite a job we cannot read: it may belong to a plugin that
            # is not installed here. It stays in the store untouched.
            logger.error("job %r is not loaded and left untouched in the store: %s", data.id, exc)
            return None
        entry = _Entry(
            id=data.id,
            schedule=schedule,
            schedule_type=data.schedule_type,
            schedule_config=data.schedule_config,
            metadata=dict(data.metadata),
            status=data.status,
            next_run=data.next_run,
            last_run=data.last_run,
            created_at=data.created_at,
            updated_at=data.updated_at,
        )
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
                    task.cancel()
                await asyncio.wait(still, timeout=1.0)
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        try:
            await self._store.close()
        finally:
            logger.info("scheduler stopped")

    # -- job management -------------------------------------------------------------------

    def _encode(self, schedule: Any) -> tuple[str, str]:
        if schedule is None:
            raise InvalidIntervalError(None, "a schedule is required")
        return self._codec.encode(schedule)

    async def add_job(
        self, job_id: str, schedule: Schedule, metadata: Mapping[str, str] | None = None
    ) -> Job:
        """Add a job. It is ``pending`` until its first run.

        :raises EmptyJobIDError: ``job_id`` is empty.
        :raises InvalidIntervalError: ``schedule`` is None.
        :raises UnsupportedScheduleError: no codec can store the schedule.
        :raises JobAlreadyExistsError: the id is taken.
        """
        check_job_id(job_id)
        schedule_type, config = self._encode(schedule)
        meta = _check_metadata(metadata)
        if job_id in self._entries:
            raise JobAlreadyExistsError(job_id)
        now = utcnow()
        entry = _Entry(
            id=job_id,
            schedule=schedule,
            schedule_type=schedule_type,
            schedule_config=config,
            metadata=meta,
            status=JobStatus.PENDING,
            next_run=first_run(schedule, now),
            last_run=None,
            created_at=now,
            updated_at=now,
        )
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

    async def _entry(self, job_id: str) -> _Entry:
        check_job_id(job_id)
        if self._running and self._shared:
            return await self._refresh(job_id)
        entry = self._entries.get(job_id)
        if entry is None or entry.removed:
            raise JobNotFoundError(job_id)
        return entry

    async def _refresh(self, job_id: str) -> _Entry:
        """Re-read a job from the store (other processes may have changed it)."""
        try:
            data = await self._store.get_job(job_id)
        except JobDataNotFoundError:
            self._forget(job_id)
            raise JobNotFoundError(job_id) from None
        entry = self._apply(data)
        if entry is None:
            raise JobNotFoundError(job_id)
        return entry

    def _forget(self, job_id: str) -> None:
        entry = self._entries.pop(job_id, None)
        if entry is not None:
            entry.removed = True

    def _apply(self, data: JobData) -> _Entry | None:
        """Make the in-memory job match what the store holds; keep the live run state."""
        entry = self._entries.get(data.id)
        if entry is not None and (entry.schedule_type, entry.schedule_config) == (
            data.schedule_type,
            data.schedule_config,
        ):
            entry.metadata = dict(data.metadata)
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
        if fresh is None:
            return None
        if entry is not None:
            fresh.running = entry.running
            fresh.last_completed_at = entry.last_completed_at
            fresh.completion_known = entry.completion_known
        self._entries[data.id] = fresh
        return fresh

    async def _apply_changes(self, changed: list[JobData]) -> None:
        """Bring jobs changed by other processes into this one, and re-arm them."""
        for data in changed:
            entry = self._apply(data)
            if entry is not None and entry.running is None:
                self._cancel_recheck(entry.id)
                await self._arm(entry)

    async def get_job(self, job_id: str) -> Job:
        """Return a snapshot of one job.

        :raises JobNotFoundError: no such job.
        """
        return (await self._entry(job_id)).snapshot()

    async def list_jobs(self) -> list[Job]:
        """Return snapshots of every job, sorted by id."""
        if self._running and self._shared:
            stored = await self._store.list_jobs()
            for data in stored:
                self._apply(data)
            for gone in set(self._entries) - {d.id for d in stored}:
                self._forget(gone)
        return [self._entries[k].snapshot() for k in sorted(self._entries)]

    async def update_job_schedule(self, job_id: str, schedule: Schedule) -> Job:
        """Give a job a new schedule; its next run is computed from it at once.

        A run in progress finishes; the run after it follows the new schedule.

        :raises JobNotFoundError: no such job.
        """
        schedule_type, config = self._encode(schedule)
        entry = await self._entry(job_id)
        now = utcnow()
        entry.schedule, entry.schedule_type, entry.schedule_config = schedule, schedule_type, config
        entry.next_run = first_run(schedule, now)
        entry.updated_at = now
        if entry.status not in (JobStatus.DISABLED, JobStatus.RUNNING):
            entry.status = JobStatus.PENDING
        await self._persist_change(entry)
        return entry.snapshot()

    async def pause_job(self, job_id: str) -> Job:
        """Stop a job from running (status ``disabled``) until :meth:`resume_job`.

        A run in progress finishes.

        :raises JobNotFoundError: no such job.
        """
        entry = await self._entry(job_id)
        entry.status = JobStatus.DISABLED
        entry.updated_at = utcnow()
        await self._persist_change(entry)
        return entry.snapshot()

    async def resume_job(self, job_id: str) -> Job:
        """Let a paused job run again, from its next fire time after now.

        Runs missed while paused are not made up.

        :raises JobNotFoundError: no such job.
        """
        entry = await self._entry(job_id)
        if entry.status != JobStatus.DISABLED:
            return entry.snapshot()
        now = utcnow()
        if entry.next_run is None or entry.next_run < now:
            entry.next_run = (
                first_run(entry.schedule, now)
                if entry.last_run is None
                else entry.schedule.next(now)
            )
        if entry.running is not None:
            entry.status = JobStatus.RUNNING
        elif entry.next_run is None and entry.last_run is not None:
            entry.status = JobStatus.COMPLETED
        else:
            entry.status = JobStatus.PENDING
        entry.updated_at = now
        await self._persist_change(entry)
        return entry.snapshot()

    async def remove_job(self, job_id: str) -> None:
        """Remove a job: wait for its run in progress, then delete it from the store.

        Its execution history stays in the store.

        :raises JobNotFoundError: no such job.
        """
        entry = await self._entry(job_id)
        entry.removed = True
        if not self._running:
            del self._entries[job_id]
            self._pending_update.discard(job_id)
            if job_id in self._pending_new:
                self._pending_new.discard(job_id)
            else:
                self._pending_delete.add(job_id)
            return
        await self._trigger.disarm(job_id)
        running = entry.running
        if running is not None and running is not asyncio.current_task():
            await asyncio.wait({running})
        try:
            await self._store.delete_job(job_id)
        except JobDataNotFoundError:
            if not self._shared:
                raise JobNotFoundError(job_id) from None
        finally:
            if self._entries.get(job_id) is entry:
                del self._entries[job_id]

    async def _persist_change(self, entry: _Entry) -> None:
        """Save a changed job and bring the trigger in line with it."""
        if not self._running:
            if entry.id not in self._pending_new:
                self._pending_update.add(entry.id)
            return
        try:
            await self._store.update_job(entry.to_data())
        except JobDataNotFoundError:
            self._entries.pop(entry.id, None)
            raise JobNotFoundError(entry.id) from None
        if entry.running is None:
            await self._arm(entry)

    async def _arm(self, entry: _Entry) -> None:
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

    # -- running jobs ---------------------------------------------------------------------

    def _dispatch(self, delivery: Delivery) -> None:
        """Called by the trigger on the loop for each due run; returns at once."""
        loop = self._loop
        if loop is None or not self._running:
            return
        task = loop.create_task(self._handle_delivery(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_delivery(self, delivery: Delivery) -> None:
        job_id, scheduled_at = delivery.job_id, delivery.scheduled_at
        try:
            entry = await self._wanted_entry(job_id, scheduled_at)
        except Exception:
            logger.exception("job %r: could not load it for its run at %s", job_id, scheduled_at)
            await _settle(delivery.nak)
            return
        if entry is None:
            await _settle(delivery.ack)
            return
        try:
            await self._run(entry, scheduled_at)
        finally:
            await _settle(delivery.ack)

    async def _wanted_entry(self, job_id: str, scheduled_at: datetime) -> _Entry | None:
        """The job to run for this delivery, or None when the delivery is stale."""
        entry: _Entry | None
        if self._coordinator is not None:
            local = self._entries.get(job_id)
            if local is not None and local.running is not None:
                return None
            claimed = await self._coordinator.claim(job_id, scheduled_at)
            if claimed is None:
                await self._lost_claim(job_id, scheduled_at)
                return None
            entry = self._apply(claimed)
            if entry is None:
                await self._coordinator.release(job_id)
                return None
        elif self._trigger.shared:
            try:
                entry = await self._refresh(job_id)
            except JobNotFoundError:
                logger.debug("job %r: dropping a due run of a removed job", job_id)
                return None
        else:
            entry = self._entries.get(job_id)
        if entry is None or not entry.wants_to_run or entry.running is not None:
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
        elif entry.running is None:
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

    async def _run(self, entry: _Entry, scheduled_at: datetime) -> None:
        task = asyncio.current_task()
        assert task is not None
        entry.running = task
        previous_status = entry.status
        entry.status = JobStatus.RUNNING
        if not entry.completion_known and entry.last_run is not None:
            entry.last_completed_at = await self._last_completion(entry.id)
        entry.completion_known = True
        execution_id = uuid.uuid4().hex
        started = utcnow()
        event = JobEvent(
            id=entry.id,
            metadata=entry.metadata,
            schedule=entry.schedule,
            scheduled_at=scheduled_at,
            started_at=started,
            last_completed_at=entry.last_completed_at,
            execution_id=execution_id,
            job=entry.snapshot(),
        )
        error: str | None = None
        status = JobStatus.COMPLETED
        cancelled = False
        try:
            if self._coordinator is not None:
                async with self._coordinator.held(entry.id):
                    await self._invoke(event)
            else:
                await self._invoke(event)
        except asyncio.CancelledError:
            status, error, cancelled = JobStatus.FAILED, "cancelled: the scheduler stopped", True
        except Exception as exc:
            status, error = JobStatus.FAILED, str(exc) or type(exc).__name__
            logger.warning("job %r failed: %s", entry.id, error, exc_info=True)
        ended = utcnow()
        try:
            await self._finish(entry, previous_status, event, status, error, ended)
        finally:
            if self._coordinator is not None:
                await self._coordinator.release(entry.id)
        if cancelled:
            raise asyncio.CancelledError

    async def _finish(
        self,
        entry: _Entry,
        previous_status: JobStatus,
        event: JobEvent,
        status: JobStatus,
        error: str | None,
        ended: datetime,
    ) -> None:
        record = ExecutionRecord(
            job_id=entry.id,
            execution_id=event.execution_id,
            start_time=event.started_at,
            end_time=ended,
            duration=ended - event.started_at,
            status=status,
            error=error,
            metadata={
                "scheduled_at": event.scheduled_at.isoformat(),
                "worker": self.worker_id,
            },
        )
        if self._shared and not entry.removed:
            # Another process may have changed or removed the job during the run; the
            # next run follows what is stored now, not what we started with.
            try:
                entry = await self._refresh(entry.id)
            except JobNotFoundError:
                entry.removed = True
            except Exception:
                logger.warning("job %r: could not re-read it after its run", entry.id)
        try:
            next_run = entry.schedule.next(ended)
        except Exception as exc:
            logger.error("job %r: its schedule failed to compute the next run: %s", entry.id, exc)
            next_run = None
            status = JobStatus.RESCHEDULING_FAILED
        entry.running = None
        entry.last_run = event.started_at
        entry.last_completed_at = ended
        entry.next_run = next_run
        entry.updated_at = ended
        # A pause (or removal) during the run wins over the run's outcome.
        paused = entry.status == JobStatus.DISABLED or previous_status == JobStatus.DISABLED
        entry.status = JobStatus.DISABLED if paused else status
        if entry.removed:
            with contextlib.suppress(Exception):
                await self._store.save_execution(record)
            return
        try:
            await self._store.save_execution(record)
            await self._store.update_job(entry.to_data())
        except JobDataNotFoundError:
            logger.info("job %r was removed during its run; not rescheduling it", entry.id)
            self._entries.pop(entry.id, None)
            return
        except Exception:
            logger.exception(
                "job %r: saving its run failed; it stays scheduled for %s", entry.id, next_run
            )
        if self._running and entry.wants_to_run and next_run is not None:
            try:
                await self._trigger.arm(entry.id, next_run)
            except Exception:
                logger.exception("job %r: arming its next run at %s failed", entry.id, next_run)
                await self._mark_rescheduling_failed(entry)

    async def _mark_rescheduling_failed(self, entry: _Entry) -> None:
        """Record that the job's next run is not armed, so it can be found and repaired."""
        entry.status = JobStatus.RESCHEDULING_FAILED
        entry.updated_at = utcnow()
        try:
            await self._store.update_job(entry.to_data())
        except Exception:
            logger.exception("job %r: recording rescheduling_failed failed too", entry.id)

    async def _last_completion(self, job_id: str) -> datetime | None:
        """When the job last finished, for jobs loaded from the store (once per job)."""
        try:
            records = await self._store.list_executions(
                job_id, QueryOptions(limit=1, sort_by="end_time", sort_desc=True)
            )
        except Exception:
            logger.debug("job %r: could not read its last completion", job_id, exc_info=True)
            return None
        return records[0].end_time if records else None

    async def _invoke(self, event: JobEvent) -> None:
        handler = self._handler
        assert handler is not None
        if _is_async_callable(handler):
            await handler(event)
            return
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, handler, event)
        if inspect.isawaitable(result):
            await result


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
    coordinate: bool | None,
    owner: str,
    lease: timedelta,
    sync_interval: float,
) -> Coordinator | None:
    if coordinate is None:
        coordinate = isinstance(store, ClaimingStore) and bool(getattr(store, "shared", False))
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


def _is_async_callable(obj: Any) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidJobDataError(f"metadata must be a mapping of str to str, got {metadata!r}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidJobDataError(f"metadata must map str to str; got {key!r}: {value!r}")
    return dict(metadata)


def _resolve_store(store: Store | str | None, options: Mapping[str, Any] | None) -> Store:
    if store is None:
        if options:
            return create_store("memory", **options)
        from ._memory_store import MemoryStore

        return MemoryStore()
    if isinstance(store, str):
        return create_store(store, **dict(options or {}))
    if options:
        raise TypeError("store_options apply only when store is a name or URL")
    return store


def _resolve_trigger(trigger: Trigger | str, options: Mapping[str, Any] | None) -> Trigger:
    if isinstance(trigger, str):
        return create_trigger(trigger, **dict(options or {}))
    if options:
        raise TypeError("trigger_options apply only when trigger is a name")
    return trigger
