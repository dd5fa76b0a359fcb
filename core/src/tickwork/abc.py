"""The contracts that schedules, codecs, stores and triggers implement.

This module is the one place where each extension point is declared and its invariants
are written down. Implementations (in the core and in plugins) do not repeat these
docstrings; read them here. Everything is a :class:`typing.Protocol`, so a plugin needs
no base class: matching the methods is enough. ``runtime_checkable`` lets the plugin
registry reject an object that does not fit at load time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._models import ExecutionRecord, FinishOutcome, JobData, JobStatus, QueryOptions, RunFinish
from ._run_attempt import AttemptInfo, AttemptOutcome
from ._task_call import TaskCall

if TYPE_CHECKING:
    from ._jobs_view import JobsView

__all__ = [
    "AttemptScope",
    "BatchClaimingStore",
    "BatchRunStore",
    "BulkStore",
    "ChangeSignalingStore",
    "ClaimingStore",
    "ConditionalBatchRunStore",
    "ConditionalUpdateStore",
    "Delivery",
    "Dispatch",
    "DueJobsStore",
    "EndingSchedule",
    "FinishingStore",
    "FirstRunSchedule",
    "GapSkippingSchedule",
    "IdLimitedStore",
    "InProcessStore",
    "Instrument",
    "RunChainTrigger",
    "Schedule",
    "ScheduleCodec",
    "Store",
    "StoreReadingTrigger",
    "TaskExecutor",
    "Trigger",
]


@runtime_checkable
class Schedule(Protocol):
    """When a job fires.

    Schedules are immutable values (``==`` and ``hash`` work). Two optional
    capabilities refine them: :class:`FirstRunSchedule` (a first fire time other than
    ``next(now)``) and :class:`GapSkippingSchedule` (fire times skipped on purpose, to
    be recorded in the tick log).
    """

    def next(self, after: datetime) -> datetime | None:
        """Return the first fire time strictly after ``after``.

        :param after: any datetime; aware values in any zone, naive ones as local time.
        :return: an aware UTC datetime strictly greater than ``after``, or ``None`` when
            the schedule will never fire again.
        """
        ...


@runtime_checkable
class FirstRunSchedule(Schedule, Protocol):
    """A schedule whose first fire time is not simply ``next(now)`` (optional
    capability).

    A one-off time that has already passed when its job is added still fires once, at
    once: ``next(now)`` would say "never". The scheduler asks ``first_run`` for a new or
    rescheduled job, and ``next`` for every later run.
    """

    def first_run(self, now: datetime) -> datetime | None:
        """The first fire time of a job given this schedule at ``now`` (aware UTC), or
        None when it will never fire."""
        ...


@runtime_checkable
class EndingSchedule(Schedule, Protocol):
    """A schedule that ends by its own bounds and can say why (optional capability).

    When a job's schedule has no fire time left, the job is over; a schedule bounded by
    an end time or a number of fire times owes its history a record saying which bound
    ended it, so the scheduler writes a ``schedule_ended`` tick-log record with this
    reason. (A one-off time needs none: its single run says it all.)
    """

    def end_reason(self, after: datetime) -> str:
        """A one-line reason why ``next(after)`` is None (only asked when it is)."""
        ...


@runtime_checkable
class GapSkippingSchedule(Schedule, Protocol):
    """A schedule that skips some of its own fire times on purpose (optional
    capability).

    A cron schedule with ``on_gap="skip"`` has no run for a wall-clock time that does
    not exist on a daylight-saving day. Those intended runs belong in the tick log as
    ``dst_skipped``, so the scheduler asks which times were skipped between two runs.
    """

    def skipped_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Fire times skipped in ``(after, until]``, in order (aware UTC); usually empty."""
        ...


@runtime_checkable
class ScheduleCodec(Protocol):
    """Turns schedules into ``(schedule_type, config)`` strings for storage and back.

    Codecs must round-trip: ``decode(*encode(s)) == s`` for every schedule they accept.
    """

    def encode(self, schedule: Schedule) -> tuple[str, str]:
        """Return ``(schedule_type, config)`` for ``schedule``.

        :raises UnsupportedScheduleError: the codec does not know this schedule class.
        """
        ...

    def decode(self, schedule_type: str, config: str) -> Schedule:
        """Rebuild a schedule from what :meth:`encode` returned.

        :raises UnsupportedScheduleError: the codec does not know ``schedule_type``.
        :raises InvalidScheduleConfigError: ``config`` is malformed. Never any other
            exception type, whatever the input.
        """
        ...


@runtime_checkable
class Store(Protocol):
    """Persistence for jobs and their execution history (all methods are coroutines).

    Invariants every store keeps (the reusable suite in :mod:`tickwork.testing` checks
    each one):

    - Every method except :meth:`initialize` and :meth:`close` raises
      :class:`StorageNotInitializedError` before ``initialize()`` or after ``close()``.
      ``initialize()`` after ``close()`` makes the store usable again.
    - Objects are copied in and out: mutating a saved or returned object never changes
      what is stored.
    - Any non-empty string is a valid job id and round-trips exactly (up to
      ``max_id_length`` characters for an :class:`IdLimitedStore`); ids compare
      exactly (``job``, ``Job`` and ``job `` are three jobs). An empty id raises
      :class:`EmptyJobIDError`.
    - Datetimes come back as aware UTC, equal to what was saved to the microsecond.
    - Backend failures surface as :class:`StorageConnectionError` (cannot reach the
      backend) or :class:`StorageOperationError` (cause chained), never as a driver's
      own exception type.
    """

    async def initialize(self) -> None:
        """Connect and create whatever schema the store needs; idempotent, and safe
        when several processes initialize the same backend at once."""
        ...

    async def close(self) -> None:
        """Release connections. Data stays in the backend. Closing twice is harmless."""
        ...

    async def save_job(self, job: JobData) -> None:
        """Insert a new job.

        :raises JobDataAlreadyExistsError: a job with ``job.id`` exists.
        """
        ...

    async def update_job(self, job: JobData) -> None:
        """Replace the stored job that has ``job.id``.

        :raises JobDataNotFoundError: no such job.
        """
        ...

    async def delete_job(self, job_id: str) -> None:
        """Delete a job (its execution records stay). A claim on it goes with it
        (:class:`ClaimingStore`): a job added again with the same id is free to claim.

        :raises JobDataNotFoundError: no such job.
        """
        ...

    async def get_job(self, job_id: str) -> JobData:
        """Return a copy of one job.

        :raises JobDataNotFoundError: no such job.
        """
        ...

    async def list_jobs(self) -> list[JobData]:
        """Return every job, sorted by id."""
        ...

    async def list_jobs_by_status(self, status: JobStatus) -> list[JobData]:
        """Return the jobs whose status is ``status``, sorted by id."""
        ...

    async def save_execution(self, record: ExecutionRecord) -> None:
        """Insert an execution record. Saving an ``execution_id`` that exists replaces
        the record (a run may be saved again when it ends)."""
        ...

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        """Return one execution record.

        :raises ExecutionNotFoundError: no such record.
        """
        ...

    async def list_executions(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        """Return one job's execution records, filtered, sorted and paged by ``options``.

        ``start_time``/``end_time`` select records with ``start_time`` in
        ``[start_time, end_time)``. Without ``sort_by`` records come in ascending
        ``start_time`` order. Ties are broken by ``execution_id`` in the sort's direction
        (a descending list is the ascending one reversed), so paging is stable.

        :raises InvalidQueryError: before any I/O, for options no store can honour.
        """
        ...

    async def delete_executions(self, job_id: str | None, before: datetime) -> None:
        """Delete the records of ``job_id`` (``None``: of every job) whose
        ``start_time < before``."""
        ...

    async def health_check(self) -> None:
        """Make one real round trip to the backend.

        :raises StorageConnectionError: the backend does not answer.
        """
        ...


@runtime_checkable
class ClaimingStore(Store, Protocol):
    """A store that several scheduler processes can share (optional capability).

    A claim makes one process the owner of one due run, ``(job_id, scheduled_at)``.
    A claim succeeds only while the stored job's ``next_run`` equals ``scheduled_at``
    and the job is not disabled, and only if no other owner holds an unexpired claim on
    the job. Because the owner moves ``next_run`` on when the run ends, each due run is
    claimed, and so executed, once across every process sharing the store. A claim
    expires at ``lease_until``: a process that dies mid-run hands the job over to
    another once the lease has passed. Expiry compares ``lease_until`` with the
    ``now`` the claiming process passes, so the processes' clocks must agree to well
    within the lease.

    ``shared`` says whether other processes may use the same backend at once; the
    scheduler claims runs (and watches for jobs changed elsewhere) only when it is true.
    Stores without this capability work in a single process.
    """

    shared: bool

    async def claim_job(
        self, job_id: str, scheduled_at: datetime, owner: str, lease_until: datetime, now: datetime
    ) -> JobData | None:
        """Atomically claim the run of ``job_id`` due at ``scheduled_at``.

        :return: the job as stored when ``owner`` now holds the claim; ``None`` when the
            job is gone or disabled, its ``next_run`` is not ``scheduled_at``, or another
            owner holds a claim whose ``lease_until`` is after ``now`` (at ``now ==
            lease_until`` the claim has expired). Re-claiming a run
            the same owner already holds succeeds (and extends the lease).
        """
        ...

    async def renew_claim(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        """Extend a claim ``owner`` holds; False when it holds none any more."""
        ...

    async def release_claim(self, job_id: str, owner: str) -> None:
        """Drop ``owner``'s claim on ``job_id`` (no error if it holds none)."""
        ...

    async def list_jobs_changed_since(self, since: datetime) -> list[JobData]:
        """Jobs whose ``updated_at`` is at or after ``since``, sorted by id.

        Schedulers sharing a store call it periodically to pick up jobs that other
        processes added, changed, paused or resumed; it should use an index.
        """
        ...


@runtime_checkable
class BatchClaimingStore(ClaimingStore, Protocol):
    """A shared store that claims, releases and re-reads many runs in one go
    (optional capability).

    On a shared store every run costs a claim before the handler, a re-read of the job
    after it (another process may have paused or changed it meanwhile) and a release
    once its outcome is saved. One round trip each caps a scheduler at a few hundred
    runs a second. With this capability the scheduler hands every claim (re-read,
    release) asked for while the previous one is with the store to one call, as it does
    for run writes with :class:`BatchRunStore`. Each run still waits for its own
    answer; nothing waits longer than one round trip for a batch to fill.
    """

    async def claim_jobs(
        self,
        runs: Sequence[tuple[str, datetime]],
        owner: str,
        lease_until: datetime,
        now: datetime,
    ) -> dict[str, JobData]:
        """Claim each ``(job_id, scheduled_at)`` run as :meth:`~ClaimingStore.claim_job`
        would; each claim succeeds or fails on its own. ``runs`` names each job at most
        once.

        :return: the jobs, as stored, whose run ``owner`` now holds, by id.
        """
        ...

    async def release_claims(self, job_ids: Sequence[str], owner: str) -> None:
        """Drop ``owner``'s claims on ``job_ids``, as :meth:`~ClaimingStore.release_claim`
        would for each (no error for a claim it does not hold)."""
        ...

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobData]:
        """The stored jobs among ``job_ids``, by id; ids of missing jobs are left out."""
        ...


@runtime_checkable
class ConditionalUpdateStore(Store, Protocol):
    """A store that overwrites a job only if nobody wrote it since it was read
    (optional capability; a shared store should have it).

    Changing a job is a read, a change and a write of the whole job. When several
    processes share the store, another one may write the job in between: typically it
    finishes a run and moves ``next_run`` on. A plain :meth:`~Store.update_job` would
    then put the old ``next_run`` back, and a run that already happened (a one-off
    job's only run, say) would become due and run again. With this capability the
    scheduler writes such changes on condition that the job's ``updated_at`` is still
    the one it read, and reads again and redoes the change when it is not.
    Every write the scheduler makes gives the job a new ``updated_at``, so the time
    works as a version.
    """

    async def update_job_if(self, job: JobData, updated_at: datetime) -> bool:
        """Overwrite the stored job with ``job`` if its stored ``updated_at`` is still
        ``updated_at``, atomically (a write between the check and the write cannot be
        lost).

        :return: False, and nothing written, when the stored ``updated_at`` differs.
        :raises JobDataNotFoundError: no job with that id.
        """
        ...


@runtime_checkable
class BulkStore(Store, Protocol):
    """A store that saves many new jobs in one go (optional capability).

    :meth:`AsyncScheduler.add_jobs <tickwork.AsyncScheduler.add_jobs>` hands every job
    to :meth:`save_jobs` at once, so a store can write them in one transaction (one
    round trip) instead of one per job. Stores without it get one ``save_job`` per job.
    """

    async def save_jobs(self, jobs: Sequence[JobData]) -> None:
        """Insert several new jobs: all of them, or none.

        :raises JobDataAlreadyExistsError: one of the ids is stored already, or appears
            twice in ``jobs``; nothing was saved.
        """
        ...


@runtime_checkable
class BatchRunStore(Store, Protocol):
    """A store that writes the outcome of many runs in one go (optional capability).

    Runs that finish while the previous write is still going are written together:
    the scheduler hands their records and job updates to :meth:`save_runs` in one call
    (group commit), so a store with a round trip per write keeps up with thousands of
    runs a second. Each run still waits for its own write to be stored.
    """

    async def save_runs(
        self, records: Sequence[ExecutionRecord], jobs: Sequence[JobData]
    ) -> set[str]:
        """Save ``records`` (each as :meth:`~Store.save_execution` would) and update
        ``jobs`` (each as :meth:`~Store.update_job` would), in one transaction where
        the backend has them. ``jobs`` holds each id at most once.

        :return: the ids of the jobs that do not exist; those were not written, every
            other write was.
        """
        ...


@runtime_checkable
class ConditionalBatchRunStore(BatchRunStore, ConditionalUpdateStore, Protocol):
    """A store that writes the outcome of many runs in one go, each job on condition
    that nobody wrote it since it was read (optional capability).

    After a run on a shared store the scheduler re-reads the job, so that a pause or
    change made elsewhere during the run is kept, and then saves the run's outcome.
    A change stored between that re-read and that write would be overwritten by a
    plain write; with this capability the outcome is written on condition, in the
    same batch as other runs' writes, and the scheduler merges it with the change and
    writes again when it lost.
    """

    async def save_runs_if(
        self,
        records: Sequence[ExecutionRecord],
        jobs: Sequence[JobData],
        seen: Mapping[str, datetime],
    ) -> tuple[set[str], set[str]]:
        """:meth:`~BatchRunStore.save_runs`, except that each job whose id is in
        ``seen`` is written only if its stored ``updated_at`` is still ``seen[id]``
        (as :meth:`~ConditionalUpdateStore.update_job_if` would). Jobs not in ``seen``
        are written as ``save_runs`` writes them. The records are always written.

        :return: the ids of the jobs that do not exist, and the ids of the jobs not
            written because their ``updated_at`` differed.
        """
        ...


@runtime_checkable
class FinishingStore(Store, Protocol):
    """A store that finishes many runs in one call and one transaction (optional
    capability).

    A run on a shared store used to cost a round trip for each of its after-effects:
    its execution record, a re-read of the job, the job's new state and the release of
    its claim. With this capability the claim hands back the job's version
    (``updated_at``), and everything the run leaves is one :class:`RunFinish`: the
    scheduler gives every finish that is ready while the previous call is with the
    store to one :meth:`finish_runs` call (group commit). The job is read again only
    when its write lost to a change stored meanwhile. Tick-log records of ticks that
    did not run (missed, coalesced, skipped) travel in the same batches.
    """

    async def finish_runs(self, finishes: Sequence[RunFinish]) -> list[FinishOutcome]:
        """Apply each finish, in one transaction where the backend has them.

        For each finish, in order: its ``records`` are saved (as
        :meth:`~Store.save_execution` would); its ``job``, if any, is written as
        :meth:`~Store.update_job` would, or, when ``seen`` is set, only if the stored
        ``updated_at`` is still ``seen`` (as
        :meth:`~ConditionalUpdateStore.update_job_if` would); then, if
        ``release_owner`` is set and the job was written or is missing (or the finish
        has no job), that owner's claim on the job is dropped. A job id may appear in
        several finishes; they apply in order, each seeing the writes before it.

        :return: one outcome per finish, in order: ``STORED`` (also for a finish
            without a job), ``CHANGED`` (not written, claim kept) or ``MISSING``.
        :raises StorageConnectionError: the backend cannot be reached; nothing of the
            batch may be assumed written, and applying it again is safe (records
            replace records with the same execution id, job writes are idempotent).
        """
        ...


@runtime_checkable
class InProcessStore(Store, Protocol):
    """A store that keeps its data in this process (optional capability).

    Its writes need no round trip and cannot fail for want of a backend. When no other
    process shares it, the scheduler's own job table alone says whether an id is taken,
    so the blocking :class:`~tickwork.Scheduler` adds a job in the caller's thread and
    only hands the write to its loop, instead of waiting a loop round trip per call.
    ``in_process`` is true for such a store.
    """

    in_process: bool


@runtime_checkable
class IdLimitedStore(Store, Protocol):
    """A store that holds job ids up to a length only (optional capability).

    A SQL column has a size (255 characters), a NATS key a length; a store saving a
    longer id would fail, and would fail late: a job added before ``start()`` is saved
    by ``start()``. With the limit declared here, ``add_job`` asks
    :meth:`id_too_long` and refuses such an id at once with a
    :class:`~tickwork.JobIDTooLongError`. A store without this capability takes ids of
    any length.
    """

    max_id_length: int
    """Every id of at most this many characters fits, whatever the characters (a store
    that counts encoded bytes takes longer ids of plain ASCII)."""

    def id_too_long(self, job_id: str) -> str | None:
        """Why ``job_id`` is longer than the store holds (naming the limit), or ``None``
        when it fits. No I/O: ``add_job`` calls it for every new job.

        ``save_job`` refuses exactly the ids this refuses, with
        :class:`~tickwork.JobIDTooLongError`, and stores nothing.
        """
        ...


@runtime_checkable
class ChangeSignalingStore(Store, Protocol):
    """A shared store that pushes "jobs changed" to the other processes using it
    (optional capability).

    Without it, a scheduler learns of a job that another process added, changed,
    paused, resumed or removed only at its next poll (``sync_interval``, 1 s by
    default). With it, the process that stored such a change calls
    :meth:`signal_changes`, and every scheduler listening through
    :meth:`listen_for_changes` polls at once. A signal only wakes the poll, which stays
    the one source of truth: a signal lost, late or repeated never loses or repeats a
    change, and the regular poll keeps running underneath. Signals are for changes a
    user makes, never for a run's claim or finish (that would wake every replica
    thousands of times a second).

    ``signals_changes`` says whether this store object can do it, decided when it is
    made (a SQL store can on PostgreSQL, not on MySQL or SQLite); when it is false the
    two methods are never called and the scheduler polls as a store without the
    capability.
    """

    signals_changes: bool

    async def signal_changes(self) -> None:
        """Tell every listener on this store (in any process) that jobs changed.

        Called after the change is stored. Nothing is queued for a listener that is
        not connected: it polls when it connects again.

        :raises StorageConnectionError: the signal could not be sent (the change is
            stored all the same; listeners find it at their next poll).
        """
        ...

    def listen_for_changes(self) -> AbstractAsyncContextManager[AsyncIterator[None]]:
        """A connection that listens for signals: entering it connects, and the
        iterator it yields gives one item per signal (several signals may come out as
        one item; signals sent through this same store object may be left out).
        Leaving it disconnects.

        :raises StorageConnectionError: on entering, the listening connection cannot be
            made; from the iterator, the connection was lost, and signals sent from
            then on are missed until the caller listens again.
        """
        ...


@runtime_checkable
class DueJobsStore(Store, Protocol):
    """A store that can find the jobs that are due without reading every job
    (optional capability).

    A scheduler starting over a large store first loads the jobs that are due, runs
    them, and only then loads the rest, so overdue work starts within milliseconds
    however many jobs are stored.
    """

    async def list_due_jobs(self, until: datetime) -> list[JobData]:
        """Return the jobs whose ``next_run`` is at or before ``until`` (whatever their
        status), sorted by ``next_run`` then id. It should use an index on next_run."""
        ...


@runtime_checkable
class Delivery(Protocol):
    """One due run handed by a trigger to the scheduler.

    The scheduler calls exactly one of :meth:`ack` or :meth:`nak` when it is done with
    the run. A trigger that redelivers (several workers) keeps the delivery alive while
    the scheduler holds it; a delivery that is neither acked nor nacked (the worker
    died) may be handed to another worker.
    """

    @property
    def job_id(self) -> str:
        """The job that is due."""
        ...

    @property
    def scheduled_at(self) -> datetime:
        """The fire time this delivery is for (aware UTC)."""
        ...

    async def ack(self) -> None:
        """The run is over (whatever its outcome) or was deliberately dropped."""
        ...

    async def nak(self) -> None:
        """The run was not executed here; let the trigger deliver it again (to this or
        another worker)."""
        ...


Dispatch = Callable[[Delivery], None]
"""What a trigger calls, on the scheduler's event loop, when a run is due.

It returns at once; the scheduler runs the job in its own task and acks the delivery.
"""


@runtime_checkable
class Trigger(Protocol):
    """Decides when runs are due and hands them to the scheduler.

    The scheduler tells the trigger the next fire time of each job with :meth:`arm`
    (which replaces any earlier time for that job) and takes it back with
    :meth:`disarm`. The trigger calls ``dispatch`` once per due run. A trigger must not
    poll on a fixed tick: it waits for the earliest due time (or for a message).

    ``shared`` tells the scheduler whether other processes may arm and receive the same
    jobs through this trigger's backend. A shared trigger's deliveries may concern jobs
    this process never saw, so the scheduler re-reads the job from the store at each
    delivery and drops deliveries that no longer match it (removed, paused,
    rescheduled).

    A trigger that reads jobs itself (a reconciler that re-arms jobs whose next run was
    lost, for example) is a :class:`StoreReadingTrigger`.

    :meth:`arm` may raise when the backend cannot take the time even after the
    trigger's own retries; the scheduler then marks the job ``rescheduling_failed``
    (and keeps its ``next_run``) so a reconciler or an operator can repair it.
    """

    shared: bool

    async def start(self, dispatch: Dispatch) -> None:
        """Begin delivering due runs through ``dispatch``.

        :raises TickworkError: the backend cannot deliver (for example
            :class:`NATSServerTooOldError`).
        """
        ...

    async def stop(self) -> None:
        """Stop delivering. Armed times stay armed in a shared backend."""
        ...

    async def arm(self, job_id: str, run_at: datetime) -> None:
        """Make ``job_id`` due at ``run_at`` (aware UTC; a past time is due at once),
        replacing any earlier time armed for it."""
        ...

    async def arm_many(self, items: Iterable[tuple[str, datetime]]) -> None:
        """Arm many jobs at once (start-up); same meaning as repeated :meth:`arm`."""
        ...

    async def disarm(self, job_id: str) -> None:
        """Cancel the armed time of ``job_id``, if any. A delivery already handed out
        may still arrive; the scheduler drops it."""
        ...


@runtime_checkable
class StoreReadingTrigger(Trigger, Protocol):
    """A trigger that reads the store itself (optional capability).

    A trigger shared by many workers can lose an armed time (a worker died between a
    run and arming the next one); to repair that it must read jobs and decode their
    schedules. The scheduler hands it the store and codec before :meth:`Trigger.start`.
    """

    def attach(self, store: Store, codec: ScheduleCodec) -> None:
        """Take the store and codec the scheduler uses; called once, before start."""
        ...


@runtime_checkable
class RunChainTrigger(Trigger, Protocol):
    """A trigger that treats the arm made as a run ends differently from other arms
    (optional capability).

    After a run, the next fire time is the only thing that keeps the job going: a
    shared trigger may want to try harder to take it (retries with backoff) and report
    when it cannot, where an arm asked for by a user call should fail fast. The
    scheduler calls :meth:`arm_after_run` for the arm that follows a run, and
    :meth:`Trigger.arm` for every other.
    """

    async def arm_after_run(self, job_id: str, run_at: datetime) -> None:
        """Arm the run that follows a run, as :meth:`Trigger.arm` would.

        :raises TickworkError: the backend did not take it even after the trigger's
            own retries (the scheduler then marks the job ``rescheduling_failed``).
        """
        ...


@runtime_checkable
class TaskExecutor(Protocol):
    """Where a task's function runs: the event loop, a thread, a child process, or
    anything a plugin provides (``register_executors``).

    The scheduler picks the executor a task was registered with and awaits
    :meth:`call` once per attempt. Contract (``tickwork.testing.TaskExecutorContract``):

    - :meth:`call` runs ``call.function(*call.args, **call.kwargs)`` (or, away from
      this process, the function named ``call.import_path``) with ``call.context`` as
      the current run (``tickwork.current_run()``), and returns what it returned
      (awaited, when it is a coroutine);
    - an exception from the task is raised from :meth:`call` unchanged when it ran in
      this process, or as :class:`~tickwork.TaskFailedError` carrying its type and
      message when it did not;
    - when ``timeout`` (seconds) passes first, :meth:`call` raises :class:`TimeoutError`
      and ends the work where it can (a coroutine is cancelled, a child process is
      killed; a thread cannot be stopped and is left to finish, its result ignored);
    - a task whose process died raises :class:`~tickwork.TaskFailedError` saying how
      (exit code or signal);
    - cancelling the awaiting task (the scheduler stopping) ends the work as a timeout
      would, and :class:`asyncio.CancelledError` propagates;
    - :meth:`aclose` ends the executor's threads or processes; with ``wait`` it first
      lets calls under way finish. The scheduler calls it once, at stop.
    """

    async def call(self, call: TaskCall, timeout: float | None) -> object: ...

    async def aclose(self, *, wait: bool) -> None: ...


@runtime_checkable
class AttemptScope(Protocol):
    """One attempt as an :class:`Instrument` watches it (a span, a start time).

    Made by :meth:`Instrument.attempt` and ended once, by :meth:`end`, in the same
    asyncio task and therefore the same context: a context variable the instrument set
    when the attempt began (OpenTelemetry's current span) is reset here.
    """

    def end(self, outcome: AttemptOutcome) -> None:
        """The attempt ended as ``outcome`` says; reset what the attempt set."""
        ...


@runtime_checkable
class Instrument(Protocol):
    """Watches a scheduler's runs and store calls, for metrics and traces.

    Why a capability of its own rather than an event subscriber: events reach
    subscribers later and elsewhere (a thread, a queue), while a trace needs a span
    that is *current inside the handler*, so that the user's own spans nest under it,
    and store latency needs timings the events do not carry. An instrument is given to
    the scheduler (``AsyncScheduler(instruments=["otel"])``, a registered name or an
    object) and is called on the run path itself, so it must be quick and must not
    block; the scheduler pays nothing for instruments when none is given.
    Contract (``tickwork.testing.InstrumentContract``):

    - :meth:`open` is called at each start with a read-only view of the jobs (for
      gauges, read from any thread), :meth:`close` at each stop, after the last run;
    - :meth:`attempt` is called in the run's own asyncio task just before the handler
      (or task) is called, once per attempt, and may set context variables: the
      handler sees them, whether it is a coroutine, a plain function on the
      scheduler's threads, or a task on the ``loop`` or ``thread`` executor (a task in
      a child process does not). The returned scope's ``end`` is called in that task
      when the attempt ends, however it ends (completed, failed, timed out,
      cancelled);
    - :meth:`store_call` is told of each run-path store call: ``operation`` is
      ``claim``, ``finish`` or ``save_records``, ``seconds`` the time the run waited
      for it (batching included), ``failed`` whether it raised;
    - :meth:`claim_conflict` is told when another process had claimed a due run first;
    - none of them raises: an instrument that does is logged (``tickwork.instruments``)
      and the run goes on as if it were not there.
    """

    def open(self, jobs: JobsView) -> None:
        """The scheduler started; ``jobs`` counts its jobs by status."""
        ...

    def attempt(self, info: AttemptInfo) -> AttemptScope:
        """An attempt is starting, in the run's task; the scope it ends with."""
        ...

    def store_call(self, operation: str, seconds: float, failed: bool) -> None:
        """A store call of the run path took ``seconds`` and failed or not."""
        ...

    def claim_conflict(self, job_id: str) -> None:
        """Another process claimed ``job_id``'s due run first."""
        ...

    def close(self) -> None:
        """The scheduler stopped; flush what is kept (the instrument may open again)."""
        ...
