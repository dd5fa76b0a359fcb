"""Taking due runs from the trigger: is the run still wanted, and is it ours?

The trigger calls :meth:`DeliveryIntake.dispatch` on the loop for every due run. Intake
answers two questions before the run's policy is applied: is the delivery still the
job's next run (not paused, removed or rescheduled since it was armed), and, when
several schedulers share the store, does this process get the claim on it. A lost
claim is asked for again when the winner's lease would run out, which is how a run
whose process died is taken over.

During a store outage nothing is asked of the store: a due run that would need a
claim or a re-read is dropped (at DEBUG), and the outage's end re-arms every job from
the store, so dropping loses nothing and no error is logged per run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from ._coordination import Coordinator
from ._entry import JobEntry
from ._errors import JobNotFoundError, StorageConnectionError
from ._event_bus import EventBus
from ._events import ClaimLost, RunTakenOver
from ._instrument_set import InstrumentSet
from ._job_table import JobTable
from ._run_flow import ReadJob, RunFlow
from ._store_outage import StoreOutage
from .abc import Delivery, Trigger

__all__ = ["DeliveryIntake", "RecheckDelivery", "arm", "arm_all"]

logger = logging.getLogger("tickwork.scheduler")

Spawn = Callable[[Awaitable[None]], object]

#: Seconds added to the pause before claiming another scheduler's run, for each run
#: already waiting so (see :meth:`DeliveryIntake._ours_now`).
BURST_PAUSE = 0.001


class DeliveryIntake:
    """Turns the trigger's deliveries into runs of :class:`~tickwork._run_flow.RunFlow`."""

    def __init__(
        self,
        *,
        table: JobTable,
        flow: RunFlow,
        trigger: Trigger,
        coordinator: Coordinator | None,
        outage: StoreOutage,
        read_job: ReadJob,
        spawn: Spawn,
        is_running: Callable[[], bool],
        events: EventBus | None = None,
    ) -> None:
        self._events = events if events is not None else EventBus("")
        self._table = table
        self._flow = flow
        self._trigger = trigger
        self._coordinator = coordinator
        self._outage = outage
        self._read_job = read_job
        self._spawn = spawn
        self._is_running = is_running
        #: Runs held by another process, asked for again when its lease would end.
        self.rechecks: dict[str, asyncio.TimerHandle] = {}
        #: Told of each claim's time and of claims another process won (None: nothing).
        self.instruments: InstrumentSet | None = None

    def dispatch(self, delivery: Delivery) -> None:
        """Called by the trigger on the loop for each due run; returns at once.

        One that comes from a shared trigger while the scheduler stops (before the
        trigger has) is handed back, so another worker gets it now rather than after
        the redelivery wait. A local trigger's would only be armed again here, where
        nothing takes it any more; the store still has the run for the next start.
        """
        if self._is_running():
            self._spawn(self._handle(delivery))
        elif self._trigger.shared:
            self._spawn(_settle(delivery.nak))

    async def _handle(self, delivery: Delivery) -> None:
        job_id, scheduled_at = delivery.job_id, delivery.scheduled_at
        local = self._table.get(job_id)
        if local is not None and local.task_missing is not None:
            # Never claimed here: a process that has the task takes the run (a shared
            # trigger hands the delivery back, for another worker to take).
            await self._flow.note_task_missing(local, scheduled_at)
            await _settle(delivery.nak if self._trigger.shared else delivery.ack)
            return
        try:
            entry = await self._wanted(job_id, scheduled_at, delivery)
        except StorageConnectionError as exc:
            self._outage.report(exc)
            logger.debug("job %r: its run at %s waits for the store", job_id, scheduled_at)
            await _settle(delivery.nak)
            return
        except Exception:
            logger.exception("job %r: could not load it for its run at %s", job_id, scheduled_at)
            await _settle(delivery.nak)
            return
        if entry is not None and type(delivery) is RecheckDelivery:
            # Claimed at the end of another worker's lease, still due: it never finished.
            self._events.publish(
                RunTakenOver, job_id=job_id, scheduled_at=scheduled_at, task=_task_of(entry)
            )
        try:
            if entry is not None:
                await self._flow.on_due(entry, scheduled_at)
        finally:
            if self._coordinator is not None and entry is not None and not entry.running:
                await self._coordinator.release(job_id, scheduled_at)
            await _settle(delivery.ack)

    async def _wanted(
        self, job_id: str, scheduled_at: datetime, delivery: Delivery
    ) -> JobEntry | None:
        """The job to run for this delivery, or None when the delivery is stale."""
        entry: JobEntry | None
        coordinator = self._coordinator
        if coordinator is not None:
            local = self._table.get(job_id)
            if coordinator.holds(job_id, scheduled_at) or (
                local is not None and scheduled_at in local.running.values()
            ):
                return None  # a second delivery of a run we are doing (or finishing)
            if self._outage.down:
                logger.debug("job %r: its run at %s waits for the store", job_id, scheduled_at)
                return None
            if not self._ours_now(job_id, scheduled_at, local, delivery):
                return None
            claim = coordinator.claim(job_id, scheduled_at)
            instruments = self.instruments
            claimed = await (claim if instruments is None else instruments.timed("claim", claim))
            if claimed is None:
                if instruments is not None:
                    instruments.claim_conflict(job_id)
                await self._lost_claim(job_id, scheduled_at)
                return None
            if isinstance(delivery, DeferredDelivery) and coordinator.membership is not None:
                coordinator.membership.adopt(job_id)  # its owner left it undone
            entry = self._table.apply(claimed)
        elif self._trigger.shared:
            if self._outage.down:
                raise StorageConnectionError("the store is unreachable (outage under way)")
            try:
                entry = await self._read_job(job_id)
            except JobNotFoundError:
                logger.debug("job %r: dropping a due run of a removed job", job_id)
                return None
        else:
            entry = self._table.get(job_id)
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

    def _ours_now(
        self, job_id: str, scheduled_at: datetime, local: JobEntry | None, delivery: Delivery
    ) -> bool:
        """Whether to claim this run now. A run of a handler job (no task) that another
        live scheduler owns is claimed here only after
        :attr:`~tickwork._membership.Membership.defer_for`, and only if the change poll
        has not shown it done by then (:mod:`~tickwork._membership`)."""
        if isinstance(delivery, DeferredDelivery):
            return local is not None and local.wants_to_run and local.next_run == scheduled_at
        coordinator = self._coordinator
        assert coordinator is not None
        if isinstance(delivery, RecheckDelivery) or coordinator.owns(job_id):
            return True
        if local is None or local.task is not None:
            # A job's task may be registered in some schedulers only, and the registry
            # does not say which: its owner could be one without it, so every scheduler
            # that has the task claims at once, as without a registry.
            return True
        membership = coordinator.membership
        assert membership is not None
        self.cancel_recheck(job_id)
        # In a burst the owners need longer: wait a millisecond more for each run waiting
        # here already (about what an owner takes per run), up to half a lease.
        pause = min(
            membership.defer_for + BURST_PAUSE * len(self.rechecks),
            max(membership.defer_for, coordinator.lease.total_seconds() / 2),
        )
        self.rechecks[job_id] = asyncio.get_running_loop().call_later(
            pause, self._recheck, DeferredDelivery(job_id, scheduled_at)
        )
        return False

    async def _lost_claim(self, job_id: str, scheduled_at: datetime) -> None:
        """Another process runs (or ran) this job; follow what the store says."""
        try:
            entry = await self._read_job(job_id)
        except JobNotFoundError:
            await self._trigger.disarm(job_id)
            return
        if entry.next_run == scheduled_at and entry.wants_to_run:
            self._events.publish(
                ClaimLost, job_id=job_id, scheduled_at=scheduled_at, task=_task_of(entry)
            )
            # Someone holds the claim and is still running it. Ask again when their
            # lease would run out: if they died, we take over then.
            assert self._coordinator is not None
            self.recheck_later(job_id, scheduled_at, self._coordinator.lease.total_seconds())
        elif not entry.running:
            await arm(self._trigger, entry)

    def recheck_later(self, job_id: str, scheduled_at: datetime, delay: float) -> None:
        self.cancel_recheck(job_id)
        self.rechecks[job_id] = asyncio.get_running_loop().call_later(
            delay, self._recheck, RecheckDelivery(job_id, scheduled_at)
        )

    def _recheck(self, delivery: Delivery) -> None:
        self.rechecks.pop(delivery.job_id, None)
        self.dispatch(delivery)

    def cancel_recheck(self, job_id: str) -> None:
        handle = self.rechecks.pop(job_id, None)
        if handle is not None:
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in self.rechecks.values():
            handle.cancel()
        self.rechecks.clear()


async def arm(trigger: Trigger, entry: JobEntry) -> None:
    """Bring the trigger in line with the job: armed at its next run, or disarmed."""
    if entry.wants_to_run and entry.next_run is not None:
        await trigger.arm(entry.id, entry.next_run)
    else:
        await trigger.disarm(entry.id)


async def arm_all(trigger: Trigger, entries: Iterable[JobEntry]) -> None:
    """Arm many jobs at their next runs in one call (start-up, jobs added in bulk)."""
    await trigger.arm_many(
        (e.id, e.next_run) for e in entries if e.wants_to_run and e.next_run is not None
    )


def _task_of(entry: JobEntry) -> str | None:
    return entry.task.name if entry.task is not None else None


class RecheckDelivery:
    """A due run the scheduler re-offers itself (a claim held elsewhere may expire)."""

    __slots__ = ("job_id", "scheduled_at")

    def __init__(self, job_id: str, scheduled_at: datetime) -> None:
        self.job_id = job_id
        self.scheduled_at = scheduled_at

    async def ack(self) -> None:
        return None

    async def nak(self) -> None:
        return None


async def _settle(step: Callable[[], Awaitable[None]]) -> None:
    try:
        await step()
    except Exception:
        logger.exception("acknowledging a delivery failed")


class DeferredDelivery(RecheckDelivery):
    """A due run of a job another scheduler owns, offered again after a pause: claimed
    only if it is still undone (not a takeover of a held claim, so no event says so)."""

    __slots__ = ()
