"""``AsyncScheduler``: the public API and the lifecycle; the work is done by its parts.

The scheduler's parts are built and connected in :mod:`~tickwork._assembly`, started
and stopped in order by :mod:`~tickwork._lifecycle`, and share one
:class:`~tickwork._scheduler_state.SchedulerState`. The scheduler delegates to:

- :mod:`~tickwork._job_table`: the in-memory jobs, their locks, decoding rows;
- :mod:`~tickwork._store_gateway`: the store's capabilities, asked once; batched writes
  and the one write-if-unchanged loop;
- :mod:`~tickwork._startup`: loading at start, replaying changes made while stopped;
- :mod:`~tickwork._delivery_intake`: due runs from the trigger, claims;
- :mod:`~tickwork._run_flow`: a due tick through policy (:mod:`~tickwork._run_plan`,
  pure functions), run (:mod:`~tickwork._run_executor`) and finish;
- :mod:`~tickwork._tick_log`: records of the ticks that did not run;
- :mod:`~tickwork._store_outage` and :mod:`~tickwork._reconciler`: getting through a
  store that went away, and re-arming from the store when it is back;
- :mod:`~tickwork._job_changes`: what pause, resume and the updates do to a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from . import _job_changes as job_changes
from ._assembly import assemble
from ._backfill import DEFAULT_BACKFILL_LIMIT, Backfiller, BackfillReport, backfill_ticks
from ._coordination import DEFAULT_LEASE, DEFAULT_SYNC_INTERVAL
from ._entry import JobEntry, first_run
from ._errors import (
    HandlerNotDefinedError,
    SchedulerAlreadyStartedError,
    SchedulerNotStartedError,
)
from ._event_bus import DEFAULT_QUEUE_SIZE, EventStream, Subscription
from ._events import Event, JobPaused
from ._ids import new_execution_id
from ._job import Job, JobEvent
from ._job_editor import JobSpec
from ._lifecycle import Lifecycle
from ._models import ExecutionRecord, JobData, QueryOptions
from ._policy import JobOptions
from ._scheduler_state import SchedulerState
from ._tasks import TaskChoice, TaskRegistry, TaskSpec
from ._timeutil import utcnow
from ._validation import check_job_id
from .abc import (
    Instrument,
    Schedule,
    ScheduleCodec,
    Store,
    Trigger,
)

__all__ = ["AsyncScheduler", "Handler", "JobSpec", "first_run", "new_execution_id"]

logger = logging.getLogger("tickwork.scheduler")


Handler = Callable[[JobEvent], Any]
"""A job handler: a plain function (run in a worker thread) or a coroutine function."""

DEFAULT_MAX_WORKERS = 20


class AsyncScheduler:
    """Runs jobs on their schedules, in an asyncio event loop.

    :param store: a :class:`~tickwork.abc.Store`, a registered store name or a URL
        (``"sqlite:///jobs.db"``); ``None`` keeps jobs in memory.
    :param handler: called for every run of a job without a task, with a
        :class:`JobEvent`. A plain function runs in a worker thread; a coroutine function
        (or any callable returning an awaitable) is awaited on the loop. An exception
        marks the run ``failed``; the scheduler and the other jobs go on.
    :param tasks: a :class:`TaskRegistry` to share with other schedulers; ``None`` gives
        this scheduler one of its own (:attr:`tasks`, :meth:`task`).
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
    :param instruments: :class:`~tickwork.abc.Instrument` objects or registered
        instrument names (``"otel"`` with ``tickwork-otel`` installed) that watch every
        run and store call, for metrics and traces; none by default, at no cost.
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
        tasks: TaskRegistry | None = None,
        instruments: Iterable[Instrument | str] | None = None,
    ) -> None:
        self._state = SchedulerState()
        parts = assemble(
            self._state,
            store=store,
            handler=handler,
            codec=codec,
            trigger=trigger,
            store_options=store_options,
            trigger_options=trigger_options,
            max_workers=max_workers,
            worker_id=worker_id,
            coordinate=coordinate,
            claim_lease=claim_lease,
            sync_interval=sync_interval,
            tasks=tasks,
            instruments=instruments,
        )
        self._parts = parts
        self._life = Lifecycle(parts, self._state)
        self.worker_id = parts.worker_id
        #: The tasks this scheduler can run (jobs name them; see :meth:`task`).
        self.tasks: TaskRegistry = parts.tasks
        # The parts, by name (the methods below delegate to them; tests look in).
        self._store, self._trigger, self._codec = parts.store, parts.trigger, parts.codec
        self._handler, self._coordinator = parts.handler, parts.coordinator
        self._gateway, self._table, self._events = parts.gateway, parts.table, parts.events
        self._editor, self._follower = parts.editor, parts.follower
        self._thread_adds, self._path = parts.thread_adds, parts.path
        self._flow, self._intake = parts.path.flow, parts.path.intake
        self._reconciler = parts.path.reconciler

    async def _apply_changes(self, changed: list[JobData]) -> None:  # the change poll's
        await self._editor.apply_changes(changed)

    def _loads_due_first(self) -> bool:
        return self._life.loads_due_first()

    def __repr__(self) -> str:
        state = "running" if self._state.running else "stopped"
        return f"AsyncScheduler({state}, jobs={len(self._table)}, store={self._store!r})"

    # -- properties ---------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether the scheduler has started and not stopped."""
        return self._state.running

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
    def handler(self) -> Handler | None:
        """The job handler."""
        return self._handler

    @property
    def _entries(self) -> dict[str, JobEntry]:
        # The live job table (tests and benchmarks look into it).
        return self._table.entries

    @property
    def _shared(self) -> bool:
        # Other processes may change jobs behind our back: read them from the store.
        return self._gateway.caps.shared

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
        if self._state.running:
            await self.stop()

    async def start(self) -> None:
        """Initialize the store, load its jobs, and begin running them.

        Jobs added before ``start()`` are saved to the store now. A job added before
        start whose id the store already holds takes the stored job's place only when
        its schedule differs; otherwise the stored state (next run, last run) is kept.

        :raises HandlerNotDefinedError: no handler was given and no task registered.
        :raises SchedulerAlreadyStartedError: already running (or starting).
        """
        if self._handler is None and not len(self.tasks):
            raise HandlerNotDefinedError()
        if self._state.running or self._state.starting:
            raise SchedulerAlreadyStartedError()
        await self._life.start()

    async def wait_until_running(self, timeout: float | None = None) -> None:
        """Return once the scheduler is running (at once if it already is).

        :raises TimeoutError: ``timeout`` seconds passed first.
        """
        await self._state.wait_until_running(timeout)

    async def stop(self, timeout: float | None = None) -> None:
        """Stop running jobs: wait for runs in progress, then close the store.

        With a ``timeout`` (seconds) it returns within about that time: coroutine
        handlers still running are cancelled, and handlers running in threads are left
        to finish in the background. Either way the run is recorded as failed and is
        not run again (a one-off job is then ``failed``); only a run still waiting for
        its jitter stays due for the next start.
        Runs that ended during a store outage have their outcome written if the store
        answers within the wait; otherwise it is logged as lost (those runs are due
        again at the next start).

        Called while a stop is under way (a second Ctrl-C), it makes that stop hurry:
        the shorter of the two timeouts applies (``stop(0)``: now), and it returns when
        that stop is done.

        :raises SchedulerNotStartedError: the scheduler is not running.
        """
        await self._life.stop(timeout)

    # -- events ---------------------------------------------------------------------------

    def subscribe(
        self,
        callback: Callable[[Any], Any],
        *event_types: type[Event],
        job_id: str | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> Subscription:
        """Call ``callback(event)`` for each event of ``event_types`` (every event when
        none is given; a base class such as :class:`RunEvent` stands for its family),
        only those of ``job_id`` when given; ``unsubscribe()`` on the result ends it.

        A coroutine callback is awaited on the loop, a plain one is called in a thread;
        either way in order, and never in the way of a run: a subscriber that falls
        ``queue_size`` events behind loses the newest (counted in ``dropped``, logged
        once), and its exceptions are logged on ``tickwork.events``.
        """
        return self._events.subscribe(callback, *event_types, job_id=job_id, queue_size=queue_size)

    def events(
        self,
        *event_types: type[Event],
        job_id: str | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> EventStream:
        """``async for event in scheduler.events(RunFailed): ...``: the events to come,
        filtered as :meth:`subscribe` does; ``aclose()`` (or ``async with``) ends it."""
        return self._events.events(*event_types, job_id=job_id, queue_size=queue_size)

    # -- job management -------------------------------------------------------------------

    async def add_job(
        self,
        job_id: str,
        schedule: Schedule,
        metadata: Mapping[str, str] | None = None,
        *,
        task: TaskSpec | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Job:
        """Add a job. It is ``pending`` until its first run.

        ``task`` (a function, a registered name) makes the job call that task with
        ``args`` and ``kwargs``, which are stored as JSON (see :class:`TaskRegistry`); a
        function not registered yet is registered under its ``module:qualname``.
        Without a task, the job's runs go to the scheduler's handler. Run policies (see
        :class:`JobOptions`) start from the task's and may be given as ``options=`` or
        as keywords: ``add_job("sync", schedule, task=sync, timeout=timedelta(30))``.

        :raises EmptyJobIDError: ``job_id`` is empty.
        :raises InvalidIntervalError: ``schedule`` is None.
        :raises UnsupportedScheduleError: no codec can store the schedule.
        :raises InvalidJobDataError: bad metadata, options, or an argument that cannot
            be stored (the message names it).
        :raises TaskNotFoundError: ``task`` names no registered task.
        :raises JobAlreadyExistsError: the id is taken.
        """
        choice = TaskChoice(task, args, kwargs)
        entry = self._editor.new_job(job_id, schedule, metadata, choice, options, option_fields)
        return (await self._editor.add(entry)).snapshot()

    async def add_jobs(
        self,
        jobs: Iterable[JobSpec],
        *,
        task: TaskSpec | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> list[Job]:
        """Add many jobs at once: all of them, or none.

        Each item is ``(job_id, schedule)`` or ``(job_id, schedule, metadata)``; the
        task, its arguments and the run policies given here apply to every job. Every
        item is checked before anything is saved, and a store that saves in bulk
        (:class:`~tickwork.abc.BulkStore`) receives them all in one call, so adding
        thousands of jobs costs about one round trip instead of one per job.

        :raises EmptyJobIDError: an id is empty.
        :raises InvalidIntervalError: a schedule is None.
        :raises UnsupportedScheduleError: no codec can store a schedule.
        :raises InvalidJobDataError: bad metadata or options.
        :raises TaskNotFoundError: ``task`` names no registered task.
        :raises JobAlreadyExistsError: an id is taken, or given twice.
        """
        choice = TaskChoice(task, args, kwargs)
        entries = self._editor.new_entries(jobs, choice, options, option_fields)
        await self._editor.add_many(entries)
        return [entry.snapshot() for entry in entries.values()]

    async def get_job(self, job_id: str) -> Job:
        """Return a snapshot of one job.

        :raises JobNotFoundError: no such job.
        """
        return (await self._editor.entry(job_id)).snapshot()

    async def list_jobs(self) -> list[Job]:
        """Return snapshots of every job, sorted by id (quarantined ones included)."""
        return [entry.snapshot() for entry in await self._editor.listing()]

    async def update_job_schedule(self, job_id: str, schedule: Schedule) -> Job:
        """Give a job a new schedule; its next run is computed from it at once.

        A run in progress finishes; the run after it follows the new schedule. A
        quarantined job becomes a normal one again.

        :raises JobNotFoundError: no such job.
        """
        schedule_type, config = self._editor.encode(schedule)
        change = job_changes.new_schedule(schedule, schedule_type, config)
        async with self._table.lock(job_id):
            entry = await self._editor.change(job_id, change, quarantined=True, what="schedule")
            return entry.snapshot()

    async def update_job_options(
        self, job_id: str, options: JobOptions | None = None, **changes: Any
    ) -> Job:
        """Change a job's run policies (``options=`` replaces them; keywords change
        single fields). They apply from the job's next run on.

        :raises JobNotFoundError: no such job.
        :raises InvalidJobDataError: an unknown or invalid option.
        """
        async with self._table.lock(job_id):
            change = job_changes.new_options(options, changes)
            entry = await self._editor.change(job_id, change, what="options")
            return entry.snapshot()

    async def update_job_task(
        self,
        job_id: str,
        task: TaskSpec | None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Job:
        """Make a job run another task, or the same task with other arguments (from its
        next run on); ``task=None`` hands its runs to the scheduler's handler again.
        The job keeps its own run policies.

        :raises JobNotFoundError: no such job.
        :raises TaskNotFoundError: ``task`` names no registered task.
        :raises InvalidJobDataError: an argument cannot be stored.
        """
        ref, _ = TaskChoice(task, args, kwargs).resolve(self.tasks)
        async with self._table.lock(job_id):
            entry = await self._editor.change(job_id, job_changes.new_task(ref), what="task")
            return entry.snapshot()

    def task(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        executor: str | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Any:
        """Register a task with this scheduler's :attr:`tasks` (a decorator, bare or
        with arguments: see :meth:`TaskRegistry.task`)."""
        decorate = self.tasks.task(name=name, executor=executor, options=options, **option_fields)
        return decorate if function is None else decorate(function)

    async def pause_job(self, job_id: str) -> Job:
        """Stop a job from running (status ``disabled``) until :meth:`resume_job`.

        A run in progress finishes. The ticks that fall while it is paused are
        recorded as ``paused`` when it is resumed.

        :raises JobNotFoundError: no such job.
        :raises StorageOperationError: on a shared store, other processes kept writing
            the job while the change was being saved.
        """
        async with self._table.lock(job_id):
            return (await self._editor.change(job_id, job_changes.pause, said=JobPaused)).snapshot()

    async def resume_job(self, job_id: str) -> Job:
        """Let a paused job run again, from its next fire time after now.

        Runs missed while paused are not made up; they are recorded as ``paused``.

        :raises JobNotFoundError: no such job.
        :raises StorageOperationError: on a shared store, other processes kept writing
            the job while the change was being saved.
        """
        async with self._table.lock(job_id):
            return (await self._editor.resume(job_id)).snapshot()

    async def remove_job(self, job_id: str) -> None:
        """Remove a job: wait for its run in progress, then delete it from the store.

        Its execution history stays in the store.

        :raises JobNotFoundError: no such job.
        :raises SchedulerStoppedError: the scheduler stopped while the call waited for
            the job's run (the job is then not removed).
        """
        await self._editor.remove(job_id)

    async def run_job_now(self, job_id: str) -> str:
        """Start one run of the job now, outside its schedule; return its execution id.

        The run is recorded with ``"manual": "true"`` in its metadata and follows the
        job's overlap policy. It does not move the job's schedule, unless a scheduled
        run was skipped while it ran (then the next run follows its end).

        :raises JobNotFoundError: no such job.
        :raises SchedulerNotStartedError: the scheduler is not running.
        """
        entry = await self._editor.changeable(job_id)
        if not self._state.running or self._state.loop is None:
            raise SchedulerNotStartedError()
        execution_id = new_execution_id()
        self._state.spawn(self._flow.manual_run(entry, utcnow(), execution_id))
        return execution_id

    async def backfill(
        self,
        job_id: str,
        start: datetime,
        end: datetime,
        *,
        limit: int = DEFAULT_BACKFILL_LIMIT,
        progress: Callable[[int, int], None] | None = None,
    ) -> BackfillReport:
        """Run every tick of the job's schedule from ``start`` (included) to ``end``
        (excluded) now, in order, and return when they have all ended.

        The runs follow the job's run and overlap policies, do not move its schedule,
        and are recorded with ``"backfill": "true"`` (see :mod:`tickwork._backfill`).
        ``progress(done, total)`` is called as each tick is started or skipped.

        :raises JobNotFoundError: no such job.
        :raises BackfillError: an empty or naive range, or more than ``limit`` ticks.
        :raises SchedulerNotStartedError: the scheduler is not running.
        :raises SchedulerStoppedError: the scheduler stopped before every tick ran.
        """
        entry = await self._editor.changeable(job_id)
        ticks = backfill_ticks(entry.schedule, start, end, limit=limit)
        if not self._state.running or self._state.loop is None:
            raise SchedulerNotStartedError()
        backfiller = Backfiller(self._flow, self._path.tick_log, self._state.spawn)
        ids, skipped = await backfiller.run(entry, ticks, progress)
        return BackfillReport(job_id, start, end, tuple(ticks), tuple(ids), skipped)

    async def run_history(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        """A job's execution records from the store (see ``Store.list_executions``)."""
        check_job_id(job_id)
        if not self._state.running:
            raise SchedulerNotStartedError()
        return await self._store.list_executions(job_id, options)
