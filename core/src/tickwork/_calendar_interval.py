"""Calendar intervals: every N days, weeks, months or years at a wall-clock time.

Unlike :class:`~tickwork.IntervalSchedule`, which counts elapsed time, these count
calendar steps in a time zone, so a 09:00 run stays at 09:00 when daylight saving
starts or ends. Each fire date is computed from the ``start`` date directly (the k-th
date is ``start + k * every`` units), never from the previous fire date, so a month
that had to be shortened does not shorten all the months after it.

A date that does not exist in a month (31 January plus one month) follows
``on_month_end``:

- ``"clip"`` (the default): the last day of the month (28 or 29 February);
- ``"skip"``: no run that month (the next is 31 March);
- ``"overflow"``: the extra days spill into the next month (2 or 3 March).

The wall-clock time is mapped to an instant with the same rules as cron (shared with
:mod:`tickwork._cron`): a time inside a spring-forward gap fires once at the first
instant after the gap (``on_gap="skip"``: not that day), a time inside a fall-back fold
fires at its first occurrence (``on_fold="both"``: on both passes).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ._cron import ON_FOLD, ON_GAP, _first_instant, _readings, _zone
from ._errors import InvalidScheduleConfigError
from ._timeutil import UTC, as_utc

__all__ = ["CALENDAR_INTERVAL", "CalendarIntervalSchedule"]

CALENDAR_INTERVAL = "calendar_interval"
UNITS = ("days", "weeks", "months", "years")
ON_MONTH_END = ("clip", "skip", "overflow")
_MAX_EVERY = 100_000
#: Periods looked at before giving up: "skip" on 29 February misses at most 7 years in
#: a row, so only a date range near datetime.max ends the search.
_MAX_PERIODS = 1_000
#: Periods looked at when listing daylight-saving skips in a window (a year of days
#: after ten years of downtime is the order of magnitude this allows for).
_MAX_SKIP_SCAN = 100_000
#: No UTC offset is wider than this: a wall time minus it is before its instant.
_WIDEST_OFFSET = timedelta(hours=26)


def _fail(value: Any, reason: str) -> InvalidScheduleConfigError:
    return InvalidScheduleConfigError(CALENDAR_INTERVAL, value, reason)


def _to_every(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_EVERY:
        raise _fail(value, f"every must be a whole number from 1 to {_MAX_EVERY}")
    return value


def _to_unit(value: Any) -> str:
    if value not in UNITS:
        raise _fail(value, f"unit must be one of {', '.join(UNITS)}")
    return str(value)


def _to_start(value: Any) -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise _fail(value, "start must be a date such as 2025-01-31") from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise _fail(value, "start must be a date (YYYY-MM-DD), not a time")
    return value


def _to_at(value: Any) -> time:
    if isinstance(value, str):
        try:
            value = time.fromisoformat(value)
        except ValueError:
            raise _fail(value, "at must be a wall-clock time such as 09:00 or 09:00:30") from None
    if not isinstance(value, time):
        raise _fail(value, "at must be a wall-clock time such as 09:00")
    if value.tzinfo is not None:
        raise _fail(value, "at is read in the schedule's timezone; give it without an offset")
    return value.replace(fold=0)


def _to_timezone(value: Any) -> str:
    try:
        return _zone(value).key
    except InvalidScheduleConfigError as exc:
        raise _fail(value, exc.reason) from None


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(value, f"{name} must be one of {', '.join(choices)}")
    return str(value)


def _to_on_month_end(value: Any) -> str:
    return _choice("on_month_end", value, ON_MONTH_END)


def _to_on_gap(value: Any) -> str:
    return _choice("on_gap", value, ON_GAP)


def _to_on_fold(value: Any) -> str:
    return _choice("on_fold", value, ON_FOLD)


def add_months(start: date, months: int, on_month_end: str) -> date | None:
    """``start`` moved by ``months`` calendar months, or None when ``on_month_end`` is
    ``"skip"`` and that month lacks the day.

    :raises OverflowError: the date is past year 9999.
    """
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("past the last representable date")
    length = calendar.monthrange(year, month + 1)[1]
    if start.day <= length:
        return date(year, month + 1, start.day)
    if on_month_end == "skip":
        return None
    if on_month_end == "clip":
        return date(year, month + 1, length)
    return date(year, month + 1, length) + timedelta(days=start.day - length)


def _day_before(moment: datetime, zone: ZoneInfo) -> date:
    """The local date a day before the naive UTC ``moment`` (a lower bound for the
    search, so near the ends of the calendar any earlier date will do)."""
    try:
        return (moment - timedelta(days=1)).replace(tzinfo=UTC).astimezone(zone).date()
    except OverflowError:
        return date.min


@attrs.frozen(kw_only=True, repr=False)
class CalendarIntervalSchedule:
    """Fires every ``every`` ``unit`` (days, weeks, months, years) from ``start`` at the
    wall-clock time ``at`` in ``timezone``.

    ``start`` is the first fire date; later ones are ``start + k * every`` units. See
    the module notes for ``on_month_end``, ``on_gap`` and ``on_fold``.
    """

    every: int = attrs.field(converter=_to_every)
    unit: str = attrs.field(converter=_to_unit)
    start: date = attrs.field(converter=_to_start)
    at: time = attrs.field(default=time(0), converter=_to_at)
    timezone: str = attrs.field(default="UTC", converter=_to_timezone)
    on_month_end: str = attrs.field(default="clip", converter=_to_on_month_end)
    on_gap: str = attrs.field(default="run_after", converter=_to_on_gap)
    on_fold: str = attrs.field(default="once", converter=_to_on_fold)

    @classmethod
    def create(
        cls,
        every: int,
        unit: str,
        start: date | str,
        at: time | str = time(0),
        timezone: str | tzinfo = "UTC",
        **options: str,
    ) -> CalendarIntervalSchedule:
        """Positional shorthand: ``create(2, "weeks", "2025-01-06", "09:00", "Europe/Paris")``."""
        return cls(every=every, unit=unit, start=start, at=at, timezone=timezone, **options)

    def __repr__(self) -> str:
        options = {
            "on_month_end": (self.on_month_end, "clip"),
            "on_gap": (self.on_gap, "run_after"),
            "on_fold": (self.on_fold, "once"),
        }
        extra = "".join(f", {k}={v!r}" for k, (v, default) in options.items() if v != default)
        return (
            f"CalendarIntervalSchedule(every={self.every}, unit={self.unit!r}, "
            f"start={self.start.isoformat()}, at={self.at.isoformat()}, "
            f"timezone={self.timezone!r}{extra})"
        )

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def fire_date(self, k: int) -> date | None:
        """The k-th fire date (k >= 0), or None when ``on_month_end="skip"`` drops it.

        :raises OverflowError: the date is past year 9999.
        """
        if self.unit in ("days", "weeks"):
            step = self.every * (7 if self.unit == "weeks" else 1)
            return self.start + timedelta(days=step * k)
        months = self.every * k * (12 if self.unit == "years" else 1)
        return add_months(self.start, months, self.on_month_end)

    def _period_before(self, local_day: date) -> int:
        """A period index whose fire date is no later than ``local_day`` (or 0).

        Only a lower bound is needed: the search walks forward from it.
        """
        if local_day <= self.start:
            return 0
        if self.unit in ("days", "weeks"):
            step = self.every * (7 if self.unit == "weeks" else 1)
            return max(0, (local_day - self.start).days // step - 1)
        months = (local_day.year - self.start.year) * 12 + local_day.month - self.start.month
        per = self.every * (12 if self.unit == "years" else 1)
        return max(0, months // per - 1)

    def instants(self, day: date) -> Iterator[datetime]:
        """The instants (naive UTC) at which the wall time ``at`` on ``day`` fires."""
        zone = self.tzinfo
        wall = datetime.combine(day, self.at)
        earlier, later = _readings(zone, wall)
        if earlier < later:  # the time does not exist that day
            if self.on_gap == "run_after":
                yield _first_instant(zone, wall)
            return
        yield wall - earlier
        if earlier > later and self.on_fold == "both":
            yield wall - later

    def next(self, after: datetime) -> datetime | None:
        if not isinstance(after, datetime):
            raise TypeError(f"next() needs a datetime, got {after!r}")
        moment = as_utc(after).replace(tzinfo=None)
        try:
            k = self._period_before(_day_before(moment, self.tzinfo))
            for _ in range(_MAX_PERIODS):
                day = self.fire_date(k)
                k += 1
                if day is None:
                    continue
                for instant in self.instants(day):
                    if instant > moment:
                        return instant.replace(tzinfo=UTC)
        except (OverflowError, ValueError):
            return None  # past the last representable date
        return None

    def skipped_between(self, after: datetime, until: datetime) -> list[datetime]:
        """With ``on_gap="skip"``: the fire times in ``(after, until]`` that did not
        happen because their wall-clock time did not exist that day, each at the
        instant the clock jumped (the scheduler records them as ``dst_skipped``)."""
        if self.on_gap != "skip":
            return []
        low, high = as_utc(after).replace(tzinfo=None), as_utc(until).replace(tzinfo=None)
        zone, skipped = self.tzinfo, []
        try:
            k = self._period_before(_day_before(low, zone))
            for _ in range(_MAX_SKIP_SCAN):
                day = self.fire_date(k)
                k += 1
                if day is None:
                    continue
                wall = datetime.combine(day, self.at)
                if wall - _WIDEST_OFFSET > high:
                    break  # this date and every later one fire after ``until``
                earlier, later = _readings(zone, wall)
                jump = _first_instant(zone, wall) if earlier < later else None
                if jump is not None and low < jump <= high:
                    skipped.append(jump.replace(tzinfo=UTC))
        except (OverflowError, ValueError):
            pass  # past the last representable date
        return skipped
