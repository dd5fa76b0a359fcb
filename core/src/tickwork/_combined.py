"""Schedules made of schedules: the union of several, and one minus some dates.

A union fires whenever any of its parts does (a time two parts share fires once). An
exclusion fires when its inner schedule does, except on the dates it excludes, read as
local dates in its time zone. :func:`next_outside_dates` is the search both this module
and plugins (holiday calendars) use: it jumps over a whole excluded day at a time, and
gives up (returning None, as a schedule that ended) after a bounded number of
excluded days in a row, so a schedule that only ever fires on excluded dates cannot
loop forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ._calendar_interval import CalendarIntervalSchedule
from ._cron import CronSchedule, _first_instant, _zone
from ._errors import InvalidScheduleConfigError
from ._timeutil import UTC, as_utc
from .abc import EndingSchedule, FirstRunSchedule, GapSkippingSchedule, Schedule

__all__ = [
    "EXCEPT_DATES",
    "MAX_EXCLUDED_DAYS",
    "UNION",
    "ExceptDatesSchedule",
    "UnionSchedule",
    "next_outside_dates",
    "zone_of",
]

UNION = "union"
EXCEPT_DATES = "except_dates"
#: Excluded days in a row after which the search stops and the schedule counts as
#: ended (about three years of a daily schedule that is excluded every day).
MAX_EXCLUDED_DAYS = 1_000
_MAX_PARTS = 64
_MAX_DATES = 10_000
_TINY = timedelta(microseconds=1)


def zone_of(schedule: Schedule) -> str:
    """The time zone a schedule's wall clock is read in (UTC when it has none)."""
    if isinstance(schedule, CronSchedule | CalendarIntervalSchedule):
        return schedule.timezone
    return "UTC"


def next_outside_dates(
    schedule: Schedule,
    after: datetime,
    excluded: Callable[[date], bool],
    zone: ZoneInfo,
    *,
    max_excluded_days: int = MAX_EXCLUDED_DAYS,
) -> datetime | None:
    """The first fire time of ``schedule`` after ``after`` whose local date in ``zone``
    is not ``excluded``; None when there is none within ``max_excluded_days`` excluded
    days in a row."""
    candidate = schedule.next(after)
    for _ in range(max_excluded_days):
        if candidate is None:
            return None
        day = candidate.astimezone(zone).date()
        if not excluded(day):
            return candidate
        try:
            midnight = _first_instant(zone, datetime.combine(day + timedelta(days=1), time(0)))
        except OverflowError:
            return None
        candidate = schedule.next(max(candidate, midnight.replace(tzinfo=UTC) - _TINY))
    return None


def _to_parts(value: Any) -> tuple[Schedule, ...]:
    if isinstance(value, Schedule) or not isinstance(value, Iterable):
        raise InvalidScheduleConfigError(UNION, value, "schedules must be a list of schedules")
    parts = tuple(value)
    if not 1 <= len(parts) <= _MAX_PARTS:
        raise InvalidScheduleConfigError(
            UNION, value, f"give from 1 to {_MAX_PARTS} schedules, got {len(parts)}"
        )
    for part in parts:
        if not isinstance(part, Schedule):
            raise InvalidScheduleConfigError(UNION, part, "each part must be a schedule object")
    return parts


@attrs.frozen
class UnionSchedule:
    """Fires whenever any of ``schedules`` fires; a time several share fires once."""

    schedules: tuple[Schedule, ...] = attrs.field(converter=_to_parts)

    def next(self, after: datetime) -> datetime | None:
        return _earliest(part.next(after) for part in self.schedules)

    def first_run(self, now: datetime) -> datetime | None:
        return _earliest(
            part.first_run(now) if isinstance(part, FirstRunSchedule) else part.next(now)
            for part in self.schedules
        )

    def end_reason(self, after: datetime) -> str:
        reasons = [
            part.end_reason(after) if isinstance(part, EndingSchedule) else repr(part)
            for part in self.schedules
        ]
        return "every part has ended: " + "; ".join(reasons)

    def skipped_between(self, after: datetime, until: datetime) -> list[datetime]:
        skipped: set[datetime] = set()
        for part in self.schedules:
            if isinstance(part, GapSkippingSchedule):
                skipped.update(part.skipped_between(after, until))
        return sorted(skipped)


def _earliest(times: Iterable[datetime | None]) -> datetime | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None


def _to_inner(value: Any) -> Schedule:
    if not isinstance(value, Schedule):
        raise InvalidScheduleConfigError(EXCEPT_DATES, value, "schedule must be a schedule object")
    return value


def _to_dates(value: Any) -> frozenset[date]:
    if isinstance(value, str | date) or not isinstance(value, Iterable):
        raise InvalidScheduleConfigError(EXCEPT_DATES, value, "dates must be a list of dates")
    found: set[date] = set()
    for item in value:
        day = item
        if isinstance(item, str):
            try:
                day = date.fromisoformat(item)
            except ValueError:
                day = None
        if isinstance(day, datetime) or not isinstance(day, date):
            raise InvalidScheduleConfigError(
                EXCEPT_DATES, item, "each excluded date must be a date such as 2025-12-25"
            )
        found.add(day)
    if len(found) > _MAX_DATES:
        raise InvalidScheduleConfigError(
            EXCEPT_DATES, f"{len(found)} dates", f"give at most {_MAX_DATES} dates"
        )
    return frozenset(found)


def _to_zone(value: Any) -> str:
    if isinstance(value, str | tzinfo):
        try:
            return _zone(value).key
        except InvalidScheduleConfigError as exc:
            raise InvalidScheduleConfigError(EXCEPT_DATES, value, exc.reason) from None
    raise InvalidScheduleConfigError(EXCEPT_DATES, value, "timezone must be an IANA zone name")


def _default_zone(self: ExceptDatesSchedule) -> str:
    return zone_of(self.schedule)


@attrs.frozen(kw_only=True)
class ExceptDatesSchedule:
    """Fires when ``schedule`` does, except on ``dates`` (local dates in ``timezone``,
    by default the inner schedule's own zone, else UTC)."""

    schedule: Schedule = attrs.field(converter=_to_inner)
    dates: frozenset[date] = attrs.field(converter=_to_dates)
    timezone: str = attrs.field(
        default=attrs.Factory(_default_zone, takes_self=True), converter=_to_zone
    )

    def next(self, after: datetime) -> datetime | None:
        if not isinstance(after, datetime):
            raise TypeError(f"next() needs a datetime, got {after!r}")
        return next_outside_dates(
            self.schedule, as_utc(after), self.dates.__contains__, ZoneInfo(self.timezone)
        )

    def first_run(self, now: datetime) -> datetime | None:
        if not isinstance(self.schedule, FirstRunSchedule):
            return self.next(now)
        first = self.schedule.first_run(now)
        if first is None or first.astimezone(ZoneInfo(self.timezone)).date() not in self.dates:
            return first
        return self.next(first)

    def end_reason(self, after: datetime) -> str:
        if self.schedule.next(after) is None:
            inner = self.schedule
            why = inner.end_reason(after) if isinstance(inner, EndingSchedule) else repr(inner)
            return f"its inner schedule has ended: {why}"
        return (
            f"every remaining fire time after {as_utc(after).isoformat()} falls on an "
            f"excluded date (the search stops after {MAX_EXCLUDED_DAYS} excluded days in a row)"
        )
