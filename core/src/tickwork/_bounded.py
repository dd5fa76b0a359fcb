"""Bounds on any schedule: a start, an end and a maximum number of fire times.

A bounded schedule wraps another one, so every schedule type (a plugin's too) can be
bounded, and it is stored under a type name of its own (``bounded``) with the inner
schedule nested: a reader that predates bounds quarantines the job instead of running
the inner schedule without its bounds.

``max_runs`` counts the inner schedule's fire times from ``start``, the way RFC 5545's
``COUNT`` does, rather than runs that happened: the count is then a property of the
schedule alone, identical in every worker and after every restart, with nothing to
store or to keep in step with the run history. The price is that a fire time that did
not run (missed, coalesced after downtime, skipped while the previous run went on)
still uses up one of the ``max_runs``. The last allowed fire time is computed once per
process and cached.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import attrs

from ._errors import InvalidScheduleConfigError
from ._schedules import IntervalSchedule
from ._timeutil import as_utc, as_utc_or_none
from .abc import FirstRunSchedule, GapSkippingSchedule, Schedule

__all__ = ["BOUNDED", "MAX_RUNS_LIMIT", "BoundedSchedule"]

BOUNDED = "bounded"
#: The largest ``max_runs``: finding the last fire time walks them all once.
MAX_RUNS_LIMIT = 100_000
_TINY = timedelta(microseconds=1)


def _to_schedule(value: Any) -> Schedule:
    if not isinstance(value, Schedule):
        raise InvalidScheduleConfigError(BOUNDED, value, "schedule must be a schedule object")
    return value


def _to_time(value: Any) -> datetime | None:
    try:
        return as_utc_or_none(value)
    except (TypeError, OverflowError, ValueError):
        raise InvalidScheduleConfigError(
            BOUNDED, value, "start and end must be aware datetimes or None"
        ) from None


def _to_max_runs(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RUNS_LIMIT:
        raise InvalidScheduleConfigError(
            BOUNDED, value, f"max_runs must be a whole number from 1 to {MAX_RUNS_LIMIT}"
        )
    return value


def _just_before(moment: datetime) -> datetime:
    """The latest instant before ``moment``, so ``next()`` of it can return ``moment``."""
    try:
        return moment - _TINY
    except OverflowError:  # datetime.min itself: nothing comes before it
        return moment


@functools.lru_cache(maxsize=4096)  # one entry per bounded schedule in use
def _nth_fire_time(bounded: BoundedSchedule) -> datetime | None:
    """The ``max_runs``-th fire time of the inner schedule from ``start`` (None: fewer)."""
    schedule, start, count = bounded.schedule, bounded.start, bounded.max_runs
    if start is None or count is None:
        return None
    current = schedule.next(_just_before(start))
    for _ in range(count - 1):
        if current is None:
            return None
        current = schedule.next(current)
    return current


@attrs.frozen(kw_only=True)
class BoundedSchedule:
    """Fires when ``schedule`` does, but not before ``start``, not after ``end`` (both
    inclusive) and at most ``max_runs`` times counted from ``start``.

    ``max_runs`` needs ``start`` (the count must begin at a fixed point to mean the same
    in every process), and an inner schedule with fire times of its own:
    :class:`~tickwork.IntervalSchedule` counts from the end of each run, so use
    :class:`~tickwork.StartAtIntervalSchedule` instead.
    """

    schedule: Schedule = attrs.field(converter=_to_schedule)
    start: datetime | None = attrs.field(default=None, converter=_to_time)
    end: datetime | None = attrs.field(default=None, converter=_to_time)
    max_runs: int | None = attrs.field(default=None, converter=_to_max_runs)

    def __attrs_post_init__(self) -> None:
        if self.start is None and self.end is None and self.max_runs is None:
            raise InvalidScheduleConfigError(
                BOUNDED, self, "give at least one of start, end and max_runs"
            )
        if self.start is not None and self.end is not None and self.end < self.start:
            raise InvalidScheduleConfigError(BOUNDED, self, "end is before start")
        if self.max_runs is not None and self.start is None:
            raise InvalidScheduleConfigError(
                BOUNDED, self, "max_runs counts fire times from start: give start too"
            )
        if self.max_runs is not None and isinstance(self.schedule, IntervalSchedule):
            raise InvalidScheduleConfigError(
                BOUNDED,
                self,
                "an interval counts from the end of each run, so its fire times cannot be "
                "counted in advance; use a StartAtIntervalSchedule with max_runs",
            )

    @property
    def last(self) -> datetime | None:
        """The last fire time the bounds allow at most (None: no upper bound)."""
        limit = self.end
        if self.max_runs is not None and self.start is not None:
            nth = _nth_fire_time(self)
            if nth is not None and (limit is None or nth < limit):
                limit = nth
        return limit

    def _bounded(self, candidate: datetime | None) -> datetime | None:
        if candidate is None:
            return None
        last = self.last
        return None if last is not None and candidate > last else candidate

    def next(self, after: datetime) -> datetime | None:
        if not isinstance(after, datetime):
            raise TypeError(f"next() needs a datetime, got {after!r}")
        moment = as_utc(after)
        if self.start is not None and moment < self.start:
            moment = _just_before(self.start)
        return self._bounded(self.schedule.next(moment))

    def first_run(self, now: datetime) -> datetime | None:
        if not isinstance(self.schedule, FirstRunSchedule):
            return self.next(now)
        first = self.schedule.first_run(now)
        if first is not None and self.start is not None and first < self.start:
            return self.next(_just_before(self.start))
        return self._bounded(first)

    def skipped_between(self, after: datetime, until: datetime) -> list[datetime]:
        if not isinstance(self.schedule, GapSkippingSchedule):
            return []
        last = self.last
        return [
            t
            for t in self.schedule.skipped_between(after, until)
            if (self.start is None or t >= self.start) and (last is None or t <= last)
        ]

    def end_reason(self, after: datetime) -> str:
        """Why there is no fire time after ``after`` (for the tick log)."""
        moment = as_utc(after)
        if self.start is not None and moment < self.start:
            moment = _just_before(self.start)
        following = self.schedule.next(moment)
        if following is None:
            return f"its schedule {self.schedule!r} has no fire time after {moment.isoformat()}"
        if self.max_runs is not None and self.start is not None:
            nth = _nth_fire_time(self)
            if nth is not None and following > nth and (self.end is None or nth <= self.end):
                return (
                    f"max_runs={self.max_runs} reached: its fire times from "
                    f"{self.start.isoformat()} up to {nth.isoformat()} are all used"
                )
        return f"its end {self.end.isoformat() if self.end else '?'} has passed"
