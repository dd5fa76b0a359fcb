"""What a run tells the world as it goes: events for subscribers, log lines for people.

The run executor calls :class:`RunReports` at each step of an attempt; this module
decides what each step means for the event bus (``RunStarted`` ... ``RetriesExhausted``)
and for the logs: every outcome other than ``completed`` is logged on
``tickwork.runs`` (failed and timed out at ERROR, a retry at WARNING) with the job id,
execution id and attempt as structured ``extra`` fields (:func:`run_extra`), so a log
pipeline can index them without parsing the message. A failure that raised is logged
where the exception is caught (with its traceback); this module logs the others.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ._event_bus import EventBus
from ._events import (
    RetriesExhausted,
    RetryScheduled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunTimedOut,
)
from ._job import JobEvent
from ._models import ExecutionStatus, JobStatus

__all__ = ["RunReports"]

logger = logging.getLogger("tickwork.runs")


def run_extra(event: JobEvent) -> dict[str, object]:
    """The structured fields of a run's log lines (``extra=``)."""
    return {
        "job_id": event.id,
        "execution_id": event.execution_id,
        "attempt": event.attempt,
        "scheduled_at": event.scheduled_at.isoformat(),
    }


class RunReports:
    """Events and log lines for the attempts of runs."""

    def __init__(self, events: EventBus) -> None:
        self._events = events

    def started(self, event: JobEvent, task: str | None) -> None:
        if self._events.active:
            self._events.publish(
                RunStarted,
                job_id=event.id,
                scheduled_at=event.scheduled_at,
                execution_id=event.execution_id,
                task=task,
                started_at=event.started_at,
                attempt=event.attempt,
                manual=event.manual,
                backfill=event.backfill,
            )

    def ended(
        self,
        event: JobEvent,
        task: str | None,
        status: JobStatus | ExecutionStatus,
        error: str | None,
        ended: datetime,
        *,
        logged: bool = False,
        cut_short: bool = False,
    ) -> None:
        """One attempt ended with ``status`` (``error``: why, when it did not complete;
        ``logged``: the failure was logged where it was raised; ``cut_short``: a stop
        cancelled it, which the stop's own WARNING announced, so it is noted at INFO)."""
        if cut_short or (status != JobStatus.COMPLETED and not logged):
            _log_ended(event, status, error, cut_short)
        if not self._events.active:
            return
        fields = {
            "job_id": event.id,
            "scheduled_at": event.scheduled_at,
            "execution_id": event.execution_id,
            "task": task,
            "started_at": event.started_at,
            "ended_at": ended,
            "attempt": event.attempt,
        }
        if status == JobStatus.COMPLETED:
            self._events.publish(RunCompleted, **fields)
        elif status == ExecutionStatus.TIMED_OUT:
            self._events.publish(RunTimedOut, error=error or "timed out", **fields)
        else:
            self._events.publish(RunFailed, error=error or "failed", **fields)

    def retrying(
        self, event: JobEvent, task: str | None, delay: timedelta, error: str | None
    ) -> None:
        """Another attempt follows after ``delay``."""
        logger.warning(
            "job %r: attempt %d did not complete; attempt %d follows in %.1f s",
            event.id,
            event.attempt,
            event.attempt + 1,
            delay.total_seconds(),
            extra=run_extra(event),
        )
        self._events.publish(
            RetryScheduled,
            job_id=event.id,
            scheduled_at=event.scheduled_at,
            execution_id=event.execution_id,
            task=task,
            attempt=event.attempt,
            next_attempt=event.attempt + 1,
            delay=delay,
            error=error,
        )

    def exhausted(self, event: JobEvent, task: str | None, error: str | None) -> None:
        """The last attempt the retry policy allows did not complete either."""
        logger.error(
            "job %r: all %d attempts failed; the run failed",
            event.id,
            event.attempt,
            extra=run_extra(event),
        )
        self._events.publish(
            RetriesExhausted,
            job_id=event.id,
            scheduled_at=event.scheduled_at,
            execution_id=event.execution_id,
            task=task,
            attempts=event.attempt,
            error=error,
        )


def _log_ended(
    event: JobEvent, status: JobStatus | ExecutionStatus, error: str | None, cut_short: bool
) -> None:
    """The log line of an attempt that did not complete: INFO when a stop cut it short
    (the stop's WARNING said so already), ERROR when it failed or timed out."""
    if cut_short:
        level, what = logging.INFO, "job %r: run cut short (attempt %d, execution %s): %s"
        args: tuple[object, ...] = (event.id, event.attempt, event.execution_id, error)
    else:
        level, what = logging.ERROR, "job %r %s (attempt %d, execution %s): %s"
        outcome = "timed out" if status == ExecutionStatus.TIMED_OUT else "failed"
        args = (event.id, outcome, event.attempt, event.execution_id, error)
    logger.log(level, what, *args, extra=run_extra(event))
