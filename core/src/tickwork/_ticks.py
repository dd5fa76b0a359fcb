"""Enumerating a schedule's fire times: previews, and the ticks a job missed."""

from __future__ import annotations

from datetime import datetime

import attrs

from ._errors import InvalidScheduleTimeError
from ._timeutil import as_utc, utcnow
from .abc import FirstRunSchedule, Schedule

__all__ = ["TickSpan", "preview", "ticks_between"]


def preview(schedule: Schedule, start: datetime | None = None, count: int = 10) -> list[datetime]:
    """The next ``count`` fire times of ``schedule`` strictly after ``start`` (default now).

    Use it to check an expression before using it (``tickwork explain`` prints it). A
    schedule defining ``first_run`` (a one-off time) is previewed from its first run.
    Fewer than ``count`` times come back when the schedule ends.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    if start is not None and not isinstance(start, datetime):
        raise InvalidScheduleTimeError(start, "preview start")
    at = utcnow() if start is None else as_utc(start)
    times: list[datetime] = []
    current = (
        schedule.first_run(at) if isinstance(schedule, FirstRunSchedule) else schedule.next(at)
    )
    while current is not None and len(times) < count:
        times.append(current)
        current = schedule.next(current)
    return times


@attrs.frozen
class TickSpan:
    """Fire times in a window: the first few, the last, and how many in all."""

    first: list[datetime]
    last: datetime | None
    count: int
    truncated: bool


def ticks_between(
    schedule: Schedule, after: datetime, until: datetime, *, keep: int, scan: int = 100_000
) -> TickSpan:
    """Fire times ``t`` with ``after < t <= until``.

    Keeps the first ``keep`` of them and the last one, and counts them all, looking at
    no more than ``scan`` (a week of one-second ticks is 600,000: the tail beyond
    ``scan`` is not enumerated, and ``truncated`` says so).
    """
    first: list[datetime] = []
    last: datetime | None = None
    count = 0
    current = schedule.next(after)
    while current is not None and current <= until:
        count += 1
        if len(first) < keep:
            first.append(current)
        last = current
        if count >= scan:
            return TickSpan(first, last, count, True)
        current = schedule.next(current)
    return TickSpan(first, last, count, False)
