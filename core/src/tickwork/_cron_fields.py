"""The parsed fields of a cron expression, and the wall-clock times they match.

A :class:`CronFields` knows nothing of time zones: it answers "which naive wall-clock
second after this one matches?" (:meth:`CronFields.next_after`). The daylight-saving
rules that turn those wall times into instants live in ``_cron``.

The search never steps second by second, so sparse expressions stay cheap. It walks
months; in each month it takes the matching days from a table that depends only on the
month's length and the weekday it starts on (so at most 28 tables per expression, built
once); in a day it picks the time with a binary search per field. The Gregorian calendar
repeats every 400 years, weekdays included, so a search that finds nothing in 401 years
will never find anything: that is how an expression that can never fire is recognised.
"""

from __future__ import annotations

import bisect
import calendar
import functools
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import attrs

__all__ = ["CronFields", "DayRule"]

_CYCLE_MONTHS = 401 * 12  # a whole Gregorian cycle, plus slack for the starting year
_SATURDAY, _SUNDAY = 6, 0  # cron numbering: Sunday is 0


@attrs.frozen(cache_hash=True)
class DayRule:
    """Which days of a month match: the day-of-month and day-of-week fields together.

    When both fields are restricted a day matches if either does (classic cron);
    otherwise the restricted one decides, and with neither every day matches.

    :param days: plain days of the month (1-31).
    :param from_last: ``L`` is 0, ``L-3`` is 3: days counted back from the month's end.
    :param nearest_weekday: ``15W``: the weekday (Monday-Friday) nearest the 15th,
        never leaving the month.
    :param last_weekday: ``LW``: the month's last Monday-Friday.
    :param weekdays: plain days of the week, 0 (Sunday) to 6.
    :param last_of: ``5L``: the month's last Friday.
    :param nth_of: ``(1, 2)`` for ``MON#2``: the month's second Monday.
    """

    dom_restricted: bool
    dow_restricted: bool
    days: frozenset[int] = frozenset()
    from_last: frozenset[int] = frozenset()
    nearest_weekday: frozenset[int] = frozenset()
    last_weekday: bool = False
    weekdays: frozenset[int] = frozenset()
    last_of: frozenset[int] = frozenset()
    nth_of: frozenset[tuple[int, int]] = frozenset()

    def days_of_month(self, length: int, first_weekday: int) -> frozenset[int]:
        """The matching days of a month of ``length`` days starting on ``first_weekday``."""
        if not self.dom_restricted and not self.dow_restricted:
            return frozenset(range(1, length + 1))
        by_date = self._by_date(length, first_weekday) if self.dom_restricted else set()
        by_weekday = self._by_weekday(length, first_weekday) if self.dow_restricted else set()
        return frozenset(by_date | by_weekday)

    def _by_date(self, length: int, first_weekday: int) -> set[int]:
        found = {day for day in self.days if day <= length}
        found.update(length - back for back in self.from_last if back < length)
        for day in self.nearest_weekday:
            if day <= length:
                found.add(_nearest_weekday(day, length, first_weekday))
        if self.last_weekday:
            last = length
            while _weekday(last, first_weekday) in (_SATURDAY, _SUNDAY):
                last -= 1
            found.add(last)
        return found

    def _by_weekday(self, length: int, first_weekday: int) -> set[int]:
        found = {
            day for day in range(1, length + 1) if _weekday(day, first_weekday) in self.weekdays
        }
        for weekday in self.last_of:
            found.add(length - (_weekday(length, first_weekday) - weekday) % 7)
        for weekday, nth in self.nth_of:
            day = 1 + (weekday - first_weekday) % 7 + 7 * (nth - 1)
            if day <= length:
                found.add(day)
        return found


def _weekday(day: int, first_weekday: int) -> int:
    return (first_weekday + day - 1) % 7


def _nearest_weekday(day: int, length: int, first_weekday: int) -> int:
    """Quartz's ``W``: a Saturday moves to Friday, a Sunday to Monday, within the month."""
    weekday = _weekday(day, first_weekday)
    if weekday == _SATURDAY:
        return day - 1 if day > 1 else day + 2
    if weekday == _SUNDAY:
        return day + 1 if day < length else day - 2
    return day


@attrs.frozen(cache_hash=True)
class CronFields:
    """The values each field of a cron expression allows, as sorted tuples.

    :param extended: whether the expression used syntax beyond the standard 5-field
        grammar (a seconds field, ``L``, ``W``, ``#``); such expressions are stored
        under a type name of their own so older readers set them aside.
    """

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    day_rule: DayRule
    extended: bool

    def next_after(self, start: datetime) -> datetime | None:
        """The first matching naive wall-clock second strictly after ``start``.

        :return: ``None`` when nothing matches before the end of year 9999.
        """
        try:
            moment = start.replace(microsecond=0) + timedelta(seconds=1)
        except OverflowError:
            return None
        floor = (moment.hour, moment.minute, moment.second)
        for day in self._days_from(moment.date()):
            found = self._first_time(floor if day == moment.date() else (0, 0, 0))
            if found is not None:
                return datetime.combine(day, found)
        return None

    def matches(self, wall: datetime) -> bool:
        """Whether the naive wall-clock time ``wall`` (to the second) matches."""
        return (
            wall.microsecond == 0
            and wall.second in self.seconds
            and wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and wall.day in self._days(wall.year, wall.month)
        )

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        first_weekday, length = calendar.monthrange(year, month)
        return _month_table(self.day_rule, length, (first_weekday + 1) % 7)

    def _days_from(self, start: date) -> Iterator[date]:
        year, month = start.year, start.month
        for _ in range(_CYCLE_MONTHS):
            if month in self.months:
                for day in self._days(year, month):
                    if (year, month) != (start.year, start.month) or day >= start.day:
                        yield date(year, month, day)
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
            if year > 9999:
                return

    def _first_time(self, floor: tuple[int, int, int]) -> time | None:
        """The earliest matching time of day at or after ``floor`` (hour, minute, second)."""
        hour, minute, second = floor
        for h in self.hours[bisect.bisect_left(self.hours, hour) :]:
            if h > hour:
                return time(h, self.minutes[0], self.seconds[0])
            for m in self.minutes[bisect.bisect_left(self.minutes, minute) :]:
                if m > minute:
                    return time(h, m, self.seconds[0])
                index = bisect.bisect_left(self.seconds, second)
                if index < len(self.seconds):
                    return time(h, m, self.seconds[index])
        return None


@functools.lru_cache(maxsize=4096)
def _month_table(rule: DayRule, length: int, first_weekday: int) -> tuple[int, ...]:
    """The matching days of a month shape, in order; one rule has at most 28 shapes."""
    return tuple(sorted(rule.days_of_month(length, first_weekday)))
