"""What the scheduler tells subscribers: one frozen class per kind of event.

Events are for code that reacts (alert on a failure, count runs, refresh a
dashboard); the logs are for people and the tick log in the store is the record. Every
event derives from :class:`Event` and carries when it happened and which worker saw it,
so subscribers on several replicas can tell their events apart. Run events carry what
a handler would want to know about the run: job, execution id, the tick it was due at,
the attempt, the task. Subscribe by base class to get a whole family
(``RunEvent`` for every run outcome, ``JobEvent`` is taken by the handler's argument,
so job changes derive from :class:`JobChange`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

__all__ = [
    "ClaimLost",
    "Event",
    "JobAdded",
    "JobChange",
    "JobChanged",
    "JobPaused",
    "JobQuarantined",
    "JobRemoved",
    "JobResumed",
    "RetriesExhausted",
    "RetryScheduled",
    "RunCoalesced",
    "RunCompleted",
    "RunEnded",
    "RunEvent",
    "RunFailed",
    "RunMissed",
    "RunSkipped",
    "RunStarted",
    "RunTakenOver",
    "RunTimedOut",
    "SchedulerStarted",
    "SchedulerStopped",
    "StoreError",
    "StoreRecovered",
]


@attrs.frozen(kw_only=True)
class Event:
    """Something the scheduler did or saw; ``at`` is when (UTC)."""

    at: datetime
    worker_id: str


# --- the scheduler ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SchedulerStarted(Event):
    """The scheduler started, with ``jobs`` jobs loaded."""

    jobs: int


@attrs.frozen(kw_only=True)
class SchedulerStopped(Event):
    """The scheduler stopped; no event follows until it starts again."""


# --- jobs --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class JobChange(Event):
    """A change to one job, made through this scheduler (or read from the store)."""

    job_id: str


@attrs.frozen(kw_only=True)
class JobAdded(JobChange):
    """A job was added; ``task`` is its task's name (None: the handler)."""

    task: str | None = None


@attrs.frozen(kw_only=True)
class JobChanged(JobChange):
    """A job got a new schedule, run policies or task; ``what`` says which."""

    what: str


@attrs.frozen(kw_only=True)
class JobPaused(JobChange):
    """A job was paused: it does not run until resumed."""


@attrs.frozen(kw_only=True)
class JobResumed(JobChange):
    """A paused job was resumed."""


@attrs.frozen(kw_only=True)
class JobRemoved(JobChange):
    """A job was removed (its history stays in the store)."""


@attrs.frozen(kw_only=True)
class JobQuarantined(JobChange):
    """A stored job cannot be run here (its schedule cannot be read, its task is not
    registered in this process); it stays in the store untouched."""

    reason: str


# --- runs --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RunEvent(Event):
    """Something about one intended run of a job: the tick ``scheduled_at``."""

    job_id: str
    scheduled_at: datetime
    #: The run's execution id; None for ticks that did not run (missed, coalesced, ...).
    execution_id: str | None = None
    #: The task's name; None for a job whose runs go to the handler.
    task: str | None = None


@attrs.frozen(kw_only=True)
class RunStarted(RunEvent):
    """An attempt of a run started: the handler or task was called."""

    started_at: datetime
    attempt: int = 1
    manual: bool = False
    backfill: bool = False

    @property
    def lateness(self) -> timedelta:
        """How late the attempt started (``started_at - scheduled_at``)."""
        return self.started_at - self.scheduled_at


@attrs.frozen(kw_only=True)
class RunEnded(RunEvent):
    """An attempt of a run ended; the subclass says how."""

    started_at: datetime
    ended_at: datetime
    attempt: int = 1

    @property
    def duration(self) -> timedelta:
        return self.ended_at - self.started_at


@attrs.frozen(kw_only=True)
class RunCompleted(RunEnded):
    """The attempt completed."""


@attrs.frozen(kw_only=True)
class RunFailed(RunEnded):
    """The attempt raised (or its process died); ``error`` is the message."""

    error: str


@attrs.frozen(kw_only=True)
class RunTimedOut(RunEnded):
    """The attempt passed the job's timeout."""

    error: str


@attrs.frozen(kw_only=True)
class RetryScheduled(RunEvent):
    """An attempt failed and another follows after ``delay`` (the retry policy)."""

    attempt: int
    next_attempt: int
    delay: timedelta
    error: str | None = None


@attrs.frozen(kw_only=True)
class RetriesExhausted(RunEvent):
    """The last attempt the retry policy allows failed too: the run failed."""

    attempts: int
    error: str | None = None


@attrs.frozen(kw_only=True)
class RunMissed(RunEvent):
    """A tick was too late to start (past the job's misfire grace time)."""


@attrs.frozen(kw_only=True)
class RunCoalesced(RunEvent):
    """Ticks missed while nothing ran them were folded into one catch-up run; ``count``
    ticks in all (one event for a whole series)."""

    count: int = 1


@attrs.frozen(kw_only=True)
class RunSkipped(RunEvent):
    """Ticks that did not run by policy: ``reason`` is the tick-log status
    (``skipped_overlap``, ``paused``, ``dst_skipped``, ``task_missing``)."""

    reason: str
    count: int = 1


@attrs.frozen(kw_only=True)
class ClaimLost(RunEvent):
    """Another worker holds the run's claim: it runs the tick, not this one."""


@attrs.frozen(kw_only=True)
class RunTakenOver(RunEvent):
    """This worker claimed a run whose previous holder let its lease run out (it died
    or stalled): the run happens here instead."""


# --- the store ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StoreError(Event):
    """The store cannot be reached; runs that need it wait (one event per outage)."""

    error: str


@attrs.frozen(kw_only=True)
class StoreRecovered(Event):
    """The store answers again after ``lasted``; ``caught_up`` run outcomes kept
    meanwhile were written."""

    lasted: timedelta
    caught_up: int
