"""``HolidayExclusionSchedule``: a schedule that does not fire on public holidays.

The holiday dates come from the ``holidays`` package, which is maintained against
each country's official calendar, so nothing here lists holidays itself. The package
is imported on first use (importing it costs most of a second), and each
``(country, subdivision, categories, year)`` is computed once per process and cached.

Holidays are local dates: a fire time is excluded when its date in the schedule's
time zone (by default the inner schedule's own zone) is a holiday. The search for the
next fire time jumps over a whole holiday at a time and stops, returning None as a
schedule that ended, after :data:`tickwork.next_outside_dates`' bound of excluded days
in a row, so a schedule that only fires on holidays cannot loop forever.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

import tickwork
from tickwork import InvalidScheduleConfigError
from tickwork.abc import EndingSchedule, FirstRunSchedule, Schedule

__all__ = ["SCHEDULE_TYPE", "HolidayExclusionSchedule", "holiday_dates"]

SCHEDULE_TYPE = "except_holidays"
_MAX_NAME = 16
_COUNTRY = re.compile(r"[A-Z]{2,3}")


@functools.cache
def _country(code: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The subdivision codes and holiday categories of a country, or None if the
    package does not know it. (Asking for one country imports only its module; the
    package's full list imports them all, which takes seconds.)"""
    import holidays  # heavy: imported on first use

    try:
        calendar = holidays.country_holidays(code)
    except NotImplementedError:
        return None
    return tuple(calendar.subdivisions), tuple(calendar.supported_categories)


@functools.lru_cache(maxsize=1024)
def holiday_dates(
    country: str, subdivision: str | None, categories: tuple[str, ...], year: int
) -> frozenset[date]:
    """The holidays of one year (observed days included, as the package counts them)."""
    import holidays

    calendar = holidays.country_holidays(
        country, subdiv=subdivision, years=year, categories=categories
    )
    return frozenset(calendar)


def _fail(value: Any, reason: str) -> InvalidScheduleConfigError:
    return InvalidScheduleConfigError(SCHEDULE_TYPE, value, reason)


def _to_country(value: Any) -> str:
    if not isinstance(value, str) or _COUNTRY.fullmatch(value) is None:
        raise _fail(value, "country must be an ISO 3166 code such as 'FR' or 'US'")
    if _country(value) is None:
        raise _fail(value, "unknown country; use an ISO 3166 code the holidays package lists")
    return value


def _to_subdivision(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_NAME:
        raise _fail(value, "subdivision must be a code such as 'CA' (for US), or None")
    return value


def _to_categories(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise _fail(value, "categories must be a list of names such as ['public']")
    names = tuple(sorted(set(value)))
    if not names or not all(isinstance(n, str) and n for n in names):
        raise _fail(value, "categories must be a non-empty list of names such as ['public']")
    return names


def _to_inner(value: Any) -> Schedule:
    if not isinstance(value, Schedule):
        raise _fail(value, "schedule must be a schedule object")
    return value


def _to_zone(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(value, "timezone must be an IANA zone name such as 'Europe/Paris'")
    try:
        return ZoneInfo(value).key
    except Exception:  # ZoneInfoNotFoundError, ValueError for odd keys
        raise _fail(value, f"unknown time zone {value!r}") from None


def _default_zone(self: HolidayExclusionSchedule) -> str:
    return tickwork.zone_of(self.schedule)


@attrs.frozen(kw_only=True)
class HolidayExclusionSchedule:
    """Fires when ``schedule`` does, except on the holidays of ``country`` (and its
    ``subdivision``: a state, province or region code) in ``categories`` (the package's
    names: ``public`` by default, and per country ``bank``, ``optional``...)."""

    schedule: Schedule = attrs.field(converter=_to_inner)
    country: str = attrs.field(converter=_to_country)
    subdivision: str | None = attrs.field(default=None, converter=_to_subdivision)
    categories: tuple[str, ...] = attrs.field(default=("public",), converter=_to_categories)
    timezone: str = attrs.field(
        default=attrs.Factory(_default_zone, takes_self=True), converter=_to_zone
    )

    def __attrs_post_init__(self) -> None:
        known = _country(self.country)
        assert known is not None  # the converter checked it
        subdivisions, categories = known
        if self.subdivision is not None and self.subdivision not in subdivisions:
            hint = f"; known: {', '.join(subdivisions[:20])}" if subdivisions else " (it has none)"
            raise _fail(self.subdivision, f"{self.country} has no subdivision of that code{hint}")
        unknown = sorted(set(self.categories) - set(categories))
        if unknown:
            raise _fail(
                unknown,
                f"{self.country} has no such holiday category; known: {', '.join(categories)}",
            )

    def is_holiday(self, day: date) -> bool:
        """Whether ``day`` is excluded."""
        return day in holiday_dates(self.country, self.subdivision, self.categories, day.year)

    def next(self, after: datetime) -> datetime | None:
        if not isinstance(after, datetime):
            raise TypeError(f"next() needs a datetime, got {after!r}")
        return tickwork.next_outside_dates(
            self.schedule, after, self.is_holiday, ZoneInfo(self.timezone)
        )

    def first_run(self, now: datetime) -> datetime | None:
        if not isinstance(self.schedule, FirstRunSchedule):
            return self.next(now)
        first = self.schedule.first_run(now)
        if first is None or not self.is_holiday(first.astimezone(ZoneInfo(self.timezone)).date()):
            return first
        return self.next(first)

    def end_reason(self, after: datetime) -> str:
        inner = self.schedule
        if inner.next(after) is None:
            why = inner.end_reason(after) if isinstance(inner, EndingSchedule) else repr(inner)
            return f"its inner schedule has ended: {why}"
        return (
            f"every remaining fire time after {after.isoformat()} falls on a holiday of "
            f"{self.country}"
        )
