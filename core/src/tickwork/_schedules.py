"""The elapsed-time schedules: a fixed interval, an anchored interval, and a one-off time.

These count real elapsed time, never wall-clock time, so they are computed entirely in
UTC and daylight saving never shifts them. Fire times are exact: arithmetic stays in
timedelta's integer microseconds, with no floats that could drift over many periods.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import attrs

from ._durations import format_go_duration
from ._errors import InvalidIntervalError, InvalidScheduleTimeError
from ._timeutil import as_utc

__all__ = ["IntervalSchedule", "OnceSchedule", "StartAtIntervalSchedule"]


def _to_interval(value: timedelta | int | float) -> timedelta:
    """Accept a positive timedelta, or a number of seconds as a convenience."""
    if isinstance(value, timedelta):
        interval = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidIntervalError(value, "must be a finite number of seconds")
        try:
            interval = timedelta(seconds=value)
        except OverflowError:
            raise InvalidIntervalError(value, "is too large for a timedelta") from None
    else:
        raise InvalidIntervalError(value)
    if interval <= timedelta(0):
        raise InvalidIntervalError(value, "must be greater than zero")
    return interval


def _to_utc(value: Any, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidScheduleTimeError(value, what=what)
    try:
        return as_utc(value)
    except (OverflowError, ValueError, OSError):
        # Near datetime.min/max a zone shift falls outside the representable range.
        raise InvalidScheduleTimeError(value, what=what) from None


def _start_at(value: datetime) -> datetime:
    return _to_utc(value, "start_at")


def _run_at(value: datetime) -> datetime:
    return _to_utc(value, "run_at")


def _after(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"next() needs a datetime, got {value!r}")
    return as_utc(value)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@attrs.frozen(repr=False)
class IntervalSchedule:
    """Fires ``interval`` of elapsed time after each run.

    The scheduler asks for ``next(end_of_last_run)``, so a run that takes a while
    pushes the following ones back; use :class:`StartAtIntervalSchedule` for a fixed
    grid.
    """

    interval: timedelta = attrs.field(converter=_to_interval)

    def next(self, after: datetime) -> datetime | None:
        try:
            return _after(after) + self.interval
        except OverflowError:  # past datetime.max: it can never fire again
            return None

    def __repr__(self) -> str:
        return f"IntervalSchedule(interval={format_go_duration(self.interval)})"


@attrs.frozen(repr=False)
class StartAtIntervalSchedule:
    """Fires at ``start_at`` and then every ``interval`` after it, on a fixed grid.

    Unlike :class:`IntervalSchedule` the grid never drifts: a late or slow run is
    followed by the next grid point, not by ``interval`` after the run.
    """

    start_at: datetime = attrs.field(converter=_start_at)
    interval: timedelta = attrs.field(converter=_to_interval)

    def next(self, after: datetime) -> datetime | None:
        moment = _after(after)
        if moment < self.start_at:
            return self.start_at
        # timedelta // timedelta is exact integer division of microseconds.
        periods = (moment - self.start_at) // self.interval + 1
        try:
            return self.start_at + self.interval * periods
        except OverflowError:  # past datetime.max: it can never fire again
            return None

    def __repr__(self) -> str:
        return (
            f"StartAtIntervalSchedule(start_at={_iso(self.start_at)}, "
            f"interval={format_go_duration(self.interval)})"
        )


@attrs.frozen(repr=False)
class OnceSchedule:
    """Fires once, at ``run_at``.

    :meth:`first_run` returns ``run_at`` even when it is already past, so a job added
    late (or whose process was down at that moment) still runs once, immediately.
    """

    run_at: datetime = attrs.field(converter=_run_at)

    def next(self, after: datetime) -> datetime | None:
        return self.run_at if _after(after) < self.run_at else None

    def first_run(self, now: datetime) -> datetime:
        return self.run_at

    def __repr__(self) -> str:
        return f"OnceSchedule(run_at={_iso(self.run_at)})"
