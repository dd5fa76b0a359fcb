"""A due tick's way through the scheduler: policy, run, finish, next arm.

For each due tick that intake has taken (and, on a shared store, claimed),
:class:`RunFlow` applies the job's policy (:mod:`~tickwork._run_plan`), has the
:class:`~tickwork._run_executor.RunExecutor` run it, and finishes it: the run's record,
the tick-log records it made, the job's new state and the claim's release go to the
store as one :class:`~tickwork.RunFinish`, written on condition of the version the
claim handed back. Only when that write loses to a change stored during the run is the
job read again, and the outcome merged into the change.

When the store cannot be reached as a run ends, the finish waits for it (the run's
claim stays held here, so no other worker runs it again) and is written as soon as it
answers; see :mod:`~tickwork._store_outage`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import attrs

from ._coordination import Coordinator
from ._entry import JobEntry
from ._errors import JobNotFoundError, StorageConnectionError
from ._ids import note_id
from ._job_table import JobTable
from ._models import (
    ExecutionRecord,
    ExecutionStatus,
    FinishOutcome,
    JobData,
    JobStatus,
    RunFinish,
)
from ._policy import Overlap
from ._run_executor import Attempts, RunExecutor
from ._run_plan import FinishPlan, merge_outcome, misfired, plan_due, plan_finish
from ._store_gateway import CHANGE_ATTEMPTS, StoreGateway
from ._store_outage import StoreOutage
from ._tick_log import TickLog, log_ticks
from ._timeutil import utcnow
from .abc import RunChainTrigger, Trigger

__all__ = ["RunFlow"]

logger = logging.getLogger("tickwork.scheduler")

ReadJob = Callable[[str], Awaitable[JobEntry]]
"""Read one job from the store into the table (:raises JobNotFoundError:)."""

#: On a shared store, how long a job whose task is not registered here must stay due
#: before this process records that nobody ran it.
TASK_MISSING_AFTER = timedelta(seconds=2)

#: How often a finish that failed for a reason other than an outage is tried again.
_FINISH_TRIES_SHARED = 3


class RunFlow:
    """Takes due ticks through policy, execution and finish."""

    def __init__(
        self,
        *,
        table: JobTable,
        gateway: StoreGateway,
        executor: RunExecutor,
        tick_log: TickLog,
        trigger: Trigger,
        coordinator: Coordinator | None,
        outage: StoreOutage,
        read_job: ReadJob,
        is_running: Callable[[], bool],
    ) -> None:
        self._table = table
        self._gateway = gateway
        self._executor = executor
        self._tick_log = tick_log
        self._trigger = trigger
        self._coordinator = coordinator
        self._outage = outage
        self._read_job = read_job
        self._is_running = is_running
        self._shared = gateway.caps.shared
        self._arm_after_run = (
            trigger.arm_after_run if isinstance(trigger, RunChainTrigger) else trigger.arm
        )

    # -- a due tick -----------------------------------------------------------------------

    async def on_due(self, entry: JobEntry, tick: datetime) -> None:
        """Apply the job's policy to a due tick: overlap, catch-up, misfire, then run."""
        if _only_finishing(entry):
            # Its run has ended and is saving what it leaves; that save arms the next
            # run. (A tick skipped now would be recorded as an overlap that was not.)
            logger.debug(
                "job %r: a delivery for %s while its run is saved; dropped", entry.id, tick
            )
            return
        if entry.running and not await self.admit_overlap(entry, tick):
            return
        opts = entry.options
        now = utcnow()
        plan = plan_due(entry.schedule, opts, tick, now)
        records = self._tick_log.gap_skips(entry.id, entry.schedule, tick, now)
        records += self._tick_log.records(
            entry.id,
            plan.coalesced,
            ExecutionStatus.COALESCED,
            plan.coalesced_total,
            at_least=plan.at_least,
        )
        await self._tick_log.write(entry.id, records)
        ran = False
        for when in plan.to_run:
            if not entry.wants_to_run and ran:
                break
            if misfired(when, utcnow(), opts.misfire_grace_time):
                missed = self._tick_log.records(entry.id, [when], ExecutionStatus.MISSED, 1)
                await self._tick_log.write(entry.id, missed)
                continue
            ran = True
            await self.run_tick(entry, when)
        if not ran:
            await self._reschedule_without_run(entry)

    async def admit_overlap(self, entry: JobEntry, tick: datetime) -> bool:
        """A tick is due while the job runs: may it run now? (Records it if not.)"""
        policy = entry.options.overlap
        if policy == Overlap.ALLOW and len(entry.running) < entry.options.max_instances:
            return True
        if policy == Overlap.CANCEL_RUNNING:
            victims = list(entry.running)
            for task in victims:
                self._executor.cancel_reasons[task] = (
                    f"cancelled: superseded by the run due at {tick}"
                )
                task.cancel()
            await asyncio.wait(victims)
            return True
        if policy == Overlap.QUEUE_ONE and entry.queued is None:
            entry.queued = tick
        else:
            skipped = self._tick_log.records(entry.id, [tick], ExecutionStatus.SKIPPED_OVERLAP, 1)
            await self._tick_log.write(entry.id, skipped)
        if policy != Overlap.SKIP and entry.next_run == tick:
            # In these modes the chain moves on when a tick comes due, run or not.
            entry.next_run = entry.schedule.next(tick)
            if self._shared:
                entry.updated_at = utcnow()  # a new version for conditional writers
                await self.save_state(entry)
            await self.arm_next(entry)
        return False

    async def manual_run(self, entry: JobEntry, tick: datetime, execution_id: str) -> None:
        if entry.running and not await self.admit_overlap(entry, tick):
            return
        await self.run_tick(entry, tick, manual=True, execution_id=execution_id)

    async def _reschedule_without_run(self, entry: JobEntry) -> None:
        """Every due tick was missed or coalesced: move on to the next one after now."""
        now = utcnow()
        entry.next_run = entry.schedule.next(now)
        if entry.next_run is not None:
            skips = self._tick_log.gap_skips(entry.id, entry.schedule, now, entry.next_run)
            await self._tick_log.write(entry.id, skips)
        else:
            ended = self._tick_log.ended(entry.id, entry.schedule, now)
            await self._tick_log.write(entry.id, ended)
            if ended and entry.status != JobStatus.DISABLED:
                entry.status = JobStatus.COMPLETED  # its bounded schedule has run out
        entry.updated_at = now
        saved = await self.save_state(entry)
        if saved and self._is_running() and entry.wants_to_run and not entry.running:
            await self.arm_next(entry)

    # -- one run --------------------------------------------------------------------------

    async def run_tick(
        self,
        entry: JobEntry,
        tick: datetime,
        *,
        manual: bool = False,
        execution_id: str | None = None,
        backfill: bool = False,
    ) -> None:
        """Run the handler for one tick; then finish the run and arm the next one."""
        task = asyncio.current_task()
        assert task is not None
        previous_status = entry.status
        entry.running_tasks()[task] = tick
        entry.status = JobStatus.RUNNING
        if entry.options.overlap != Overlap.SKIP and not manual:
            # The next tick is armed now, so it can come due while this run goes on.
            entry.next_run = entry.schedule.next(tick)
            if self._shared:
                entry.updated_at = utcnow()  # a new version for conditional writers
                await self.save_state(entry)
            await self.arm_next(entry)
        if not entry.completion_known and entry.last_run is not None:
            entry.last_completed_at = await self._gateway.last_completion(entry.id)
        entry.completion_known = True
        coordinator = self._coordinator
        attempts = await self._executor.run(
            entry,
            tick,
            manual=manual,
            execution_id=execution_id,
            hold=coordinator.held if coordinator is not None and not manual else None,
            backfill=backfill,
        )
        # Cut short by a stop before its handler was called (in its jitter), the run
        # stays due for the next start. Once the handler was called it has had its run:
        # running it again would run it twice (a thread goes on in the background).
        interrupted = (
            not self._is_running()
            and attempts.cancelled is not None
            and not attempts.handler_started
        )
        await self._finish(entry, task, tick, previous_status, attempts, manual, interrupted)
        if attempts.cancelled:
            raise asyncio.CancelledError(attempts.cancelled)
        if entry.queued is not None and not entry.running and entry.wants_to_run:
            queued, entry.queued = entry.queued, None
            await self.run_tick(entry, queued)

    async def _finish(
        self,
        entry: JobEntry,
        task: asyncio.Task[None],
        tick: datetime,
        previous_status: JobStatus,
        attempts: Attempts,
        manual: bool,
        interrupted: bool,
    ) -> None:
        """Save what the run leaves, in one write, and arm what comes next."""
        async with self._table.lock(entry.id):
            current = self._table.get(entry.id)
            if current is not None and current is not entry and not entry.removed:
                entry = current  # replaced meanwhile (a new schedule stored elsewhere)
            seen = entry.updated_at if self._shared else None
            others_running = any(t is not task for t in entry.running)
            plan = self._plan_finish(
                entry, tick, previous_status, attempts, manual, interrupted, others_running
            )
            records = self._finish_records(entry, tick, attempts, plan)
            if not manual and _schedule_ended(plan):
                ended = self._tick_log.ended(entry.id, entry.schedule, tick)
                if ended and plan.status != JobStatus.DISABLED:
                    # A job whose bounded schedule ran out is complete, whatever its
                    # last run did (that run's own record keeps its outcome).
                    plan = attrs.evolve(plan, status=JobStatus.COMPLETED)
                records += ended
            entry.next_run, entry.last_run = plan.next_run, plan.last_run
            entry.last_completed_at = entry.updated_at = attempts.ended
            release = self._coordinator is not None and not manual and not others_running
            # The run counts as going on (in memory) until what it leaves is stored: who
            # sees it ended may read its record.
            entry.finishing_tasks().add(task)
            try:
                saved = await self._save_outcome(
                    entry, plan.status, records, seen, tick if release else None
                )
            finally:
                entry.finishing_tasks().discard(task)
                entry.running_tasks().pop(task, None)
                if entry.status == JobStatus.RUNNING and not entry.running:
                    entry.status = plan.status
            log_ticks(entry.id, records)
            # A shared trigger takes arms until its stop is complete: re-arming while
            # stopping keeps the chain going for the other workers.
            keep_going = self._is_running() or self._trigger.shared
            if saved is not None and plan.rearm and keep_going and saved.wants_to_run:
                await self._arm_if_idle(saved)

    async def _arm_if_idle(self, entry: JobEntry) -> None:
        if not entry.running:  # (another run going on arms when it ends)
            await self.arm_next(entry)

    def _plan_finish(
        self,
        entry: JobEntry,
        tick: datetime,
        previous_status: JobStatus,
        attempts: Attempts,
        manual: bool,
        interrupted: bool,
        others_running: bool,
    ) -> FinishPlan:
        plan = plan_finish(
            schedule=entry.schedule,
            overlap=entry.options.overlap,
            next_run=entry.next_run,
            last_run=entry.last_run,
            status=entry.status,
            previous_status=previous_status,
            tick=tick,
            started=attempts.started,
            ended=attempts.ended,
            outcome=attempts.status,
            manual=manual,
            interrupted=interrupted,
            still_running=others_running,
        )
        if plan.schedule_error is not None:
            logger.error(
                "job %r: its schedule failed to compute the next run: %s",
                entry.id,
                plan.schedule_error,
            )
        return plan

    def _finish_records(
        self, entry: JobEntry, tick: datetime, attempts: Attempts, plan: FinishPlan
    ) -> list[ExecutionRecord]:
        """The run's own record, and the tick-log records its end makes: grid ticks
        skipped while it ran, and daylight-saving skips before its next run."""
        records = [attempts.record] if attempts.record is not None else []
        if plan.rearm and plan.next_run is not None:
            records += self._tick_log.gap_skips(
                entry.id, entry.schedule, attempts.ended, plan.next_run
            )
        if plan.log_skipped:
            # Ticks of a fixed grid that came due while this run went on were skipped.
            records += self._tick_log.span(
                entry.id,
                entry.schedule,
                tick,
                attempts.ended,
                ExecutionStatus.SKIPPED_OVERLAP,
                include_first=False,
                after=attempts.started,
            )
        return records

    async def _save_outcome(
        self,
        entry: JobEntry,
        status: JobStatus,
        records: list[ExecutionRecord],
        seen: datetime | None,
        release_tick: datetime | None,
    ) -> JobEntry | None:
        """Write the run's finish; the job to arm next, or None when it must not be.

        On a shared store the job is written on condition that it is still the version
        the run started from (``seen``). When another process stored a change in
        between, the outcome is merged into that change (a pause stays paused, a new
        schedule keeps the next run it computed) and written again. After
        ``CHANGE_ATTEMPTS`` losses it is written over the change: a run's outcome must
        be saved, or the run would be due again.
        """
        job = None if entry.removed else _with_status(entry, status)
        finish = RunFinish(records=tuple(records), job=job, seen=seen)
        # The run's own outcome, kept before any await: the change poll may apply the
        # other process's change to this same entry while the finish is written.
        planned = (entry.next_run, entry.last_run)
        for _ in range(CHANGE_ATTEMPTS):
            outcome = await self._write_finish(entry.id, finish, release_tick)
            if outcome is FinishOutcome.CHANGED:
                logger.debug("job %r: changed elsewhere as its run ended; merging", entry.id)
                try:
                    merged = await self._merge_outcome(entry, status, planned)
                except JobNotFoundError:
                    self._gone(entry)
                    return None
                if merged is None:
                    break
                entry, seen, status = merged
                finish = RunFinish(job=_with_status(entry, status), seen=seen)
                continue
            return self._settled(entry, status, finish.job, outcome)
        else:
            logger.warning(
                "job %r: other processes kept writing it while its run's outcome was "
                "saved; saving the outcome over their change",
                entry.id,
            )
        finish = RunFinish(job=_with_status(entry, status))
        outcome = await self._write_finish(entry.id, finish, release_tick)
        return self._settled(entry, status, finish.job, outcome)

    def _settled(
        self, entry: JobEntry, status: JobStatus, job: object, outcome: FinishOutcome | None
    ) -> JobEntry | None:
        if entry.status == JobStatus.RUNNING and len(entry.running) <= 1:
            entry.status = status  # (the run's own task leaves entry.running just after)
        if outcome is FinishOutcome.MISSING:
            self._gone(entry)
            return None
        if outcome is None:  # not saved (logged): alone, the in-memory job is the truth
            return None if self._shared else entry
        if job is None:  # removed during the run: records only
            return None
        if self._coordinator is not None:
            self._coordinator.note_saved(entry.to_data())
        return entry

    def _gone(self, entry: JobEntry) -> None:
        logger.info("job %r was removed during its run; not rescheduling it", entry.id)
        self._table.forget(entry.id)
        return

    async def _write_finish(
        self, job_id: str, finish: RunFinish, release_tick: datetime | None
    ) -> FinishOutcome | None:
        """One finish, through an outage if need be; None when it could not be written
        (logged)."""
        waited = False
        failures = 0
        while True:
            try:
                outcome = await self._finish_once(job_id, finish, release_tick)
            except StorageConnectionError as exc:
                self._outage.report(exc)
                waited = True
                try:
                    back = await self._outage.wait_until_back()
                except asyncio.CancelledError:
                    self._outage.note_given_up()
                    raise
                if back:
                    continue
                self._outage.note_given_up()
                return None
            except Exception as exc:
                failures += 1
                if failures < (_FINISH_TRIES_SHARED if self._shared else 1):
                    await asyncio.sleep(0.2 * failures)
                    continue
                logger.error(
                    "job %r: saving the outcome of its run failed: %s; %s",
                    job_id,
                    exc,
                    "it stays due at its stored time"
                    if self._shared
                    else "it stays scheduled in this process",
                )
                return None
            if waited:
                self._outage.note_caught_up()
            return outcome

    async def _finish_once(
        self, job_id: str, finish: RunFinish, release_tick: datetime | None
    ) -> FinishOutcome:
        coordinator = self._coordinator
        if coordinator is None or release_tick is None:
            return await self._gateway.finish(finish)

        async def write(owner: str | None) -> FinishOutcome:
            return await self._gateway.finish(
                attrs.evolve(finish, release_owner=owner), coordinator.release_now
            )

        return await coordinator.settle(job_id, release_tick, write)

    async def _merge_outcome(
        self,
        entry: JobEntry,
        status: JobStatus,
        planned: tuple[datetime | None, datetime | None],
    ) -> tuple[JobEntry, datetime, JobStatus] | None:
        """Re-read a job whose outcome lost to a change stored meanwhile, and carry the
        outcome (``planned``: the next and last run the run left) over to it; with the
        version read. None when the re-read failed.

        :raises JobNotFoundError: the job was removed.
        """
        next_run, last_run = planned
        schedule = (entry.schedule_type, entry.schedule_config)
        try:
            fresh = await self._read_job(entry.id)
        except JobNotFoundError:
            raise
        except Exception:  # a store error: the caller writes the outcome as it is
            logger.warning("job %r: could not re-read it after a conflict", entry.id)
            return None
        seen = fresh.updated_at
        merged = merge_outcome(
            same_schedule=(fresh.schedule_type, fresh.schedule_config) == schedule,
            stored_next_run=fresh.next_run,
            stored_last_run=fresh.last_run,
            stored_status=fresh.status,
            next_run=next_run,
            last_run=last_run,
            status=status,
        )
        fresh.next_run, fresh.last_run = merged.next_run, merged.last_run
        fresh.updated_at = utcnow()
        return fresh, seen, merged.status

    # -- a job whose task this process does not have -------------------------------------

    async def note_task_missing(self, entry: JobEntry, tick: datetime) -> None:
        """The job is due at ``tick`` but its task is not registered here: it is not
        run, claimed or rewritten (another process may have the task). When no process
        runs it (it stays due past :data:`TASK_MISSING_AFTER` on a shared store, at once
        alone), one tick-log record and one WARNING say so, once per stored tick: the
        job stays due there, so the whole window of ticks it misses gets one record,
        and its execution id is made of the job and the tick, so every worker (and a
        restarted one) that notes it writes that same record."""
        if entry.task_missing is None or entry.task_missing_noted == tick:
            return
        if self._shared and utcnow() - tick < TASK_MISSING_AFTER:
            return  # a process that has the task may be running it right now
        entry.task_missing_noted = tick
        logger.warning("job %r: not run (due at %s): %s", entry.id, tick, entry.task_missing)
        [record] = self._tick_log.records(entry.id, [tick], ExecutionStatus.TASK_MISSING, 1)
        record = attrs.evolve(
            record,
            execution_id=note_id(entry.id, tick, "task_missing"),  # one, whoever notes it
            error=entry.task_missing,
        )
        await self._tick_log.write(entry.id, [record])

    # -- state writes outside a run's finish ----------------------------------------------

    async def save_state(self, entry: JobEntry) -> bool:
        """Persist the job (a chain moved on without a run); False when it must not be
        armed.

        False when the job turned out to be removed, and, with a shared store, when
        the save failed: the store is the truth other workers (and our own next
        delivery) check, so arming a time it does not hold would only be dropped as
        stale. The job then stays due at its old time, for reconciliation or another
        worker. In a single process the in-memory job is the truth: it is armed anyway
        and the failure is logged.
        """
        outcome = await self._write_finish(entry.id, RunFinish(job=entry.to_data()), None)
        if outcome is FinishOutcome.MISSING:
            self._gone(entry)
            return False
        if outcome is None:
            return not self._shared
        if self._coordinator is not None:
            self._coordinator.note_saved(entry.to_data())
        return True

    async def arm_next(self, entry: JobEntry) -> None:
        if entry.next_run is None:
            return
        try:
            await self._arm_after_run(entry.id, entry.next_run)
        except Exception:
            logger.exception("job %r: arming its next run at %s failed", entry.id, entry.next_run)
            await self._mark_rescheduling_failed(entry)

    async def _mark_rescheduling_failed(self, entry: JobEntry) -> None:
        """Record that the job's next run is not armed, so it can be found and repaired."""
        entry.status = JobStatus.RESCHEDULING_FAILED
        entry.updated_at = utcnow()
        try:
            await self._gateway.store.update_job(entry.to_data())
        except Exception:
            logger.exception("job %r: recording rescheduling_failed failed too", entry.id)


def _schedule_ended(plan: FinishPlan) -> bool:
    """Whether a scheduled run leaves its job with no next run because the schedule has
    none (not because it failed to compute one, nor while another run goes on)."""
    ended = plan.next_run is None and plan.schedule_error is None
    return ended and plan.status != JobStatus.RUNNING


def _only_finishing(entry: JobEntry) -> bool:
    """Whether every run of a job (overlap="skip") has ended and is being saved."""
    finishing = entry.finishing
    return (
        finishing is not None
        and bool(finishing)
        and finishing.issuperset(entry.running)
        and entry.options.overlap == Overlap.SKIP
    )


def _with_status(entry: JobEntry, status: JobStatus) -> JobData:
    """The job as stored once its run has ended (in memory it still runs until then)."""
    data = entry.to_data()
    data.status = status
    return data
