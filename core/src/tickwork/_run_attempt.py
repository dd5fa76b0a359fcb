"""What an instrument is told about one attempt of a run, and how it ended.

An :class:`~tickwork.abc.Instrument` turns attempts into spans and metrics. It gets
them as two frozen values rather than the scheduler's own ``JobEvent`` and statuses,
so that what it may rely on is written down here and nothing it keeps holds a job's
snapshot (or its schedule) alive.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

__all__ = ["AttemptInfo", "AttemptOutcome"]


@attrs.frozen(kw_only=True)
class AttemptInfo:
    """One attempt of a run, as it starts (in the run's own asyncio task)."""

    job_id: str
    execution_id: str
    #: The registered task the job names, None for a job run by the handler.
    task: str | None
    #: The tick the run was due at; ``started_at - scheduled_at`` is its lateness.
    scheduled_at: datetime
    started_at: datetime
    #: 1 for the first try, 2 for the first retry, and so on.
    attempt: int
    worker_id: str
    #: Started with ``run_job_now`` rather than by the schedule.
    manual: bool = False

    @property
    def lateness(self) -> timedelta:
        """How long after its tick the attempt started (jitter and retries included)."""
        return self.started_at - self.scheduled_at


@attrs.frozen(kw_only=True)
class AttemptOutcome:
    """How an attempt ended: ``completed``, ``failed`` or ``timed_out``.

    A run cut short (the scheduler stopping, a newer run superseding it) ends
    ``failed`` with ``error`` saying why, as its execution record does.
    """

    status: str
    error: str | None
    ended_at: datetime
    #: Seconds from the attempt's start to its end.
    duration: float

    @property
    def ok(self) -> bool:
        """Whether the attempt completed."""
        return self.status == "completed"
