"""The trigger contracts: what decides when runs are due, and the delivery of one due
run to the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol, runtime_checkable

from ._schedules import ScheduleCodec
from ._store import Store

__all__ = ["Delivery", "Dispatch", "RunChainTrigger", "StoreReadingTrigger", "Trigger"]


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
