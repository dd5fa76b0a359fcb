"""The tick log: a record for every intended run that did not run.

Handlers' runs leave their own execution records. Ticks that were intended but did not
run (missed, coalesced after downtime, skipped while the previous run went on, paused,
skipped for daylight saving) leave a record too, so that a job's history accounts for
every fire time. A burst of them (a week of one-second ticks after an outage) is kept
bounded: one record each up to :data:`TICK_LOG_LIMIT`, then one record that counts the
rest.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from ._event_bus import EventBus
from ._events import RunCoalesced, RunMissed, RunSkipped
from ._ids import new_execution_id
from ._models import ExecutionRecord, ExecutionStatus
from ._run_plan import TICK_LOG_LIMIT
from ._ticks import ticks_between
from ._timeutil import utcnow
from .abc import EndingSchedule, GapSkippingSchedule, Schedule

__all__ = ["TickLog"]

logger = logging.getLogger("tickwork.scheduler")

_SkipsCache = dict[type, bool]


class TickLog:
    """Builds tick-log records and hands them to the store's write path."""

    def __init__(
        self,
        worker_id: str,
        write: Callable[[Sequence[ExecutionRecord]], Awaitable[None]],
        events: EventBus | None = None,
    ) -> None:
        self._worker_id = worker_id
        self._write = write
        self._events = events
        # Whether a schedule class can skip ticks, per class: isinstance against a
        # runtime protocol costs tens of microseconds, and this is asked after each run.
        self._skips: _SkipsCache = {}
        self._ends: _SkipsCache = {}  # the same for schedules that can end (bounds)

    def record(self, job_id: str, tick: datetime, status: ExecutionStatus) -> ExecutionRecord:
        """One record for an intended run at ``tick`` that did not run."""
        return ExecutionRecord(
            job_id=job_id,
            execution_id=new_execution_id(),
            start_time=tick,
            end_time=tick,
            duration=timedelta(0),
            status=status,
            error=None,
            metadata={"scheduled_at": tick.isoformat(), "worker": self._worker_id},
        )

    def records(
        self,
        job_id: str,
        ticks: Sequence[datetime],
        status: ExecutionStatus,
        total: int,
        *,
        at_least: bool = False,
    ) -> list[ExecutionRecord]:
        """Records for ``total`` ticks of which ``ticks`` are known: one per tick up to
        the limit, then one that counts the rest."""
        if total <= 0:
            return []
        if self._events is not None and self._events.active:
            self._tell(job_id, ticks[0] if ticks else utcnow(), status, total)
        shown = list(ticks[:TICK_LOG_LIMIT])
        out = [self.record(job_id, t, status) for t in shown]
        rest = total - len(shown)
        if rest > 0:
            last = self.record(job_id, shown[-1] if shown else utcnow(), status)
            last.metadata["count"] = str(rest)
            more = "at least " if at_least else ""
            last.metadata["note"] = f"{more}{rest} more tick(s) not listed one by one"
            out.append(last)
        return out

    def _tell(self, job_id: str, first: datetime, status: ExecutionStatus, total: int) -> None:
        """One event for ``total`` ticks of one kind (subscribers want the fact, the
        store wants each tick)."""
        assert self._events is not None
        if status == ExecutionStatus.MISSED:
            self._events.publish(RunMissed, job_id=job_id, scheduled_at=first)
        elif status == ExecutionStatus.COALESCED:
            self._events.publish(RunCoalesced, job_id=job_id, scheduled_at=first, count=total)
        else:
            self._events.publish(
                RunSkipped, job_id=job_id, scheduled_at=first, reason=status.value, count=total
            )

    def span(
        self,
        job_id: str,
        schedule: Schedule,
        first: datetime,
        until: datetime,
        status: ExecutionStatus,
        *,
        include_first: bool,
        after: datetime | None = None,
    ) -> list[ExecutionRecord]:
        """Records for the ticks from ``first`` to ``until`` (only those after
        ``after``); ``first`` itself only with ``include_first``."""
        if not include_first:
            following = schedule.next(first)
            if following is None or following > until:
                return []  # after almost every run: nothing was skipped
        found = ticks_between(schedule, first, until, keep=TICK_LOG_LIMIT)
        ticks = ([first] if include_first else []) + found.first
        total = found.count + (1 if include_first else 0)
        if after is not None:
            total -= sum(1 for t in ticks if t <= after)
            ticks = [t for t in ticks if t > after]
        return self.records(job_id, ticks, status, total, at_least=found.truncated)

    def gap_skips(
        self, job_id: str, schedule: Schedule, after: datetime, until: datetime
    ) -> list[ExecutionRecord]:
        """Records for the fire times the schedule skipped on purpose (daylight saving)
        between ``after`` and ``until``."""
        kind = type(schedule)
        can_skip = self._skips.get(kind)
        if can_skip is None:
            can_skip = self._skips[kind] = isinstance(schedule, GapSkippingSchedule)
        if not can_skip:
            return []
        assert isinstance(schedule, GapSkippingSchedule)
        try:
            skipped = schedule.skipped_between(after, until)
        except Exception:
            logger.warning("job %r: listing daylight-saving skips failed", job_id, exc_info=True)
            return []
        return self.records(job_id, skipped, ExecutionStatus.DST_SKIPPED, len(skipped))

    def ended(self, job_id: str, schedule: Schedule, after: datetime) -> list[ExecutionRecord]:
        """The record that closes a job whose schedule ended by its bounds (none for
        other schedules): status ``schedule_ended``, at ``after``, with the reason in
        its ``note``."""
        kind = type(schedule)
        can_end = self._ends.get(kind)
        if can_end is None:
            can_end = self._ends[kind] = isinstance(schedule, EndingSchedule)
        if not can_end:
            return []
        assert isinstance(schedule, EndingSchedule)
        try:
            reason = schedule.end_reason(after)
        except Exception as exc:
            reason = f"the schedule has no fire time after {after.isoformat()} ({exc!r})"
        record = self.record(job_id, after, ExecutionStatus.SCHEDULE_ENDED)
        record.metadata["note"] = reason
        return [record]

    async def write(self, job_id: str, records: Sequence[ExecutionRecord]) -> None:
        """Save tick-log records now (they do not wait for a run's finish)."""
        if not records:
            return
        try:
            await self._write(records)
        except Exception as exc:
            logger.error(
                "job %r: saving %d tick-log record(s) failed: %s", job_id, len(records), exc
            )
        log_ticks(job_id, records)


def log_ticks(job_id: str, records: Sequence[ExecutionRecord]) -> None:
    """One log line per kind of tick that did not run: a missed run at WARNING (it was
    meant to run and did not); ticks folded into a catch-up, skipped by the overlap
    policy, paused or skipped for daylight saving at DEBUG, as the job's policy asked
    for them (after an outage that is one line per job, which would drown the rest).
    A job whose schedule has ended gets one INFO line with the reason.
    The tick log in the store has every one of them."""
    counts: dict[str, int] = {}
    for record in records:
        if record.status.value in _RAN:
            continue
        n = int(record.metadata["count"]) if "count" in record.metadata else 1
        counts[record.status.value] = counts.get(record.status.value, 0) + n
    for record in records:
        if record.status == ExecutionStatus.SCHEDULE_ENDED:
            logger.info("job %r: %s; no further runs", job_id, record.metadata.get("note"))
            counts.pop(record.status.value, None)
    for status, count in counts.items():
        level = logging.WARNING if status == "missed" else logging.DEBUG
        logger.log(level, "job %r: %d tick(s) %s", job_id, count, status)


_RAN = frozenset({"running", "completed", "failed", "timed_out"})
