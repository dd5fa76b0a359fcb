"""``RRuleSchedule``: fire times from an RFC 5545 recurrence rule, via python-dateutil.

A recurrence rule describes wall-clock times (``FREQ=WEEKLY;BYDAY=MO,WE`` at the
time of day of DTSTART), so the rule is expanded on the wall clock of the schedule's
time zone and each wall-clock time is then mapped to one instant:

- a time that happens twice (a fall-back fold) fires at its first occurrence;
- a time that does not exist (a spring-forward gap) fires once, at the first instant
  after the gap.

These are the rules tickwork's own ``CronSchedule`` follows. They keep fire times in
the order of the rule, which is what lets :meth:`RRuleSchedule.next` stop at the first
occurrence it finds after ``after``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import attrs
from dateutil.rrule import rrule, rrulestr  # type: ignore[import-untyped, unused-ignore]

from tickwork import InvalidScheduleConfigError, InvalidScheduleTimeError

__all__ = ["MAX_RULE_LENGTH", "SCHEDULE_TYPE", "RRuleSchedule"]

SCHEDULE_TYPE = "rrule"
"""The schedule type name this plugin registers (what stores keep in ``schedule_type``)."""

MAX_RULE_LENGTH = 1000
"""Longer rules are refused before parsing: no real rule comes close."""

# Rule parts whose values are integers, and the range RFC 5545 allows for each. The
# checks matter: dateutil loops forever on INTERVAL=0 and walks to year 9999 on
# BYMONTH=13 before it answers "no more occurrences".
_INT_RANGES: dict[str, tuple[int, int, bool]] = {
    # name: (lowest, highest, negative values allowed)
    "INTERVAL": (1, 10**6, False),
    "COUNT": (1, 10**9, False),
    "BYMONTH": (1, 12, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYHOUR": (0, 23, False),
    "BYMINUTE": (0, 59, False),
    "BYSECOND": (0, 59, False),
    "BYSETPOS": (1, 366, True),
}

# For these frequencies a period has a fixed wall-clock length, so next() may restart
# the rule from a later DTSTART on the same grid instead of walking from the first one.
_PERIODS: dict[str, timedelta] = {
    "WEEKLY": timedelta(weeks=1),
    "DAILY": timedelta(days=1),
    "HOURLY": timedelta(hours=1),
    "MINUTELY": timedelta(minutes=1),
    "SECONDLY": timedelta(seconds=1),
}

_ONE_MICROSECOND = timedelta(microseconds=1)


class _Recurrence(Protocol):
    """The part of ``dateutil.rrule.rrule`` this module uses (dateutil has no types)."""

    def xafter(self, dt: datetime, count: int | None = None, inc: bool = False) -> Iterator[Any]:
        """Occurrences strictly after ``dt``, in order."""
        ...

    def replace(self, **kwargs: Any) -> _Recurrence:
        """The same rule with some arguments changed."""
        ...


def _invalid(value: Any, reason: str) -> InvalidScheduleConfigError:
    return InvalidScheduleConfigError(SCHEDULE_TYPE, value, reason)


def normalise_rule(rule: Any) -> str:
    """Check the shape of a rule and return it upper-cased, without an ``RRULE:`` prefix.

    :raises InvalidScheduleConfigError: not one RRULE value of RFC 5545.
    """
    if not isinstance(rule, str):
        raise _invalid(rule, "expected a string such as 'FREQ=WEEKLY;BYDAY=MO,WE'")
    text = rule.strip()
    if text[:6].upper() == "RRULE:":
        text = text[6:]
    if not text:
        raise _invalid(rule, "the rule is empty; write one such as 'FREQ=DAILY'")
    if len(text) > MAX_RULE_LENGTH:
        raise _invalid(rule, f"longer than {MAX_RULE_LENGTH} characters")
    if not text.isascii() or not text.isprintable() or any(c.isspace() or c == ":" for c in text):
        raise _invalid(
            rule,
            "expected the value of one RRULE line, such as 'FREQ=WEEKLY;BYDAY=MO' "
            "(pass DTSTART as dtstart=...; EXDATE and RDATE are not supported)",
        )
    text = text.upper()
    names: set[str] = set()
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if not equals or not name or not value:
            raise _invalid(rule, f"{part!r} is not a NAME=VALUE rule part")
        if name in names:
            raise _invalid(rule, f"{name} appears twice")
        names.add(name)
        if name == "DTSTART":
            raise _invalid(rule, "DTSTART is not a rule part; pass it as dtstart=...")
        if name in _INT_RANGES:
            _check_ints(rule, name, value)
    if "FREQ" not in names:
        raise _invalid(rule, "FREQ is required (SECONDLY, MINUTELY, ..., YEARLY)")
    if {"COUNT", "UNTIL"} <= names:
        raise _invalid(rule, "COUNT and UNTIL cannot be used together (RFC 5545)")
    return text


def _check_ints(rule: str, name: str, value: str) -> None:
    low, high, signed = _INT_RANGES[name]
    for item in value.split(","):
        digits = item[1:] if signed and item[:1] in "+-" else item
        if not digits.isdigit() or not low <= int(digits) <= high:
            sign = "±" if signed else ""
            raise _invalid(rule, f"{name} values must be integers in {sign}{low}..{high}")


def parse_zone(timezone: Any) -> ZoneInfo:
    """The zone for an IANA name (or a ``ZoneInfo``).

    :raises InvalidScheduleConfigError: unknown or malformed zone name.
    """
    if isinstance(timezone, ZoneInfo):
        return timezone
    if not isinstance(timezone, str) or not timezone:
        raise _invalid(timezone, "the time zone must be an IANA name such as 'Europe/Paris'")
    try:
        return ZoneInfo(timezone)
    except Exception:  # ZoneInfoNotFoundError, or ValueError for a malformed key
        raise _invalid(
            timezone, "unknown time zone; use an IANA name such as 'Europe/Paris'"
        ) from None


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time of an aware ``moment`` in ``zone``."""
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


def _anchor(dtstart: Any, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """DTSTART as ``(wall-clock time in zone, its instant in UTC)``, to whole seconds.

    A ``dtstart`` carrying ``zone`` itself is read by its wall-clock fields, so a time
    in a daylight-saving gap is caught rather than shifted.
    """
    if not isinstance(dtstart, datetime):
        raise InvalidScheduleTimeError(dtstart, what="dtstart")
    try:
        if getattr(dtstart.tzinfo, "key", None) == zone.key:
            wall = dtstart.replace(tzinfo=None, fold=0)
        else:
            wall = _wall(dtstart, zone)  # naive values are local time, as everywhere
        wall = wall.replace(microsecond=0)
        instant = wall.replace(tzinfo=zone).astimezone(UTC)
        exists = _wall(instant, zone) == wall
    except (OverflowError, ValueError, OSError):
        raise InvalidScheduleTimeError(dtstart, what="dtstart") from None
    if not exists:
        raise _invalid(
            dtstart.isoformat(),
            f"dtstart {wall.isoformat()} does not exist in {zone.key} (a daylight-saving "
            "gap); pick a time outside the gap, or another day",
        )
    return wall, instant


def to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """Map a naive wall-clock time of ``zone`` to the instant it fires at (aware UTC).

    An ambiguous time gives its first occurrence; a time in a gap gives the first
    instant after the gap (found by bisection, since zoneinfo hides its transitions).
    """
    later = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(later, zone) == wall:
        return later
    # In a gap, fold=0 reads the time with the offset before the transition and fold=1
    # with the one after, so the transition lies in (earlier, later].
    earlier = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    while later - earlier > _ONE_MICROSECOND:
        middle = earlier + (later - earlier) // 2
        if _wall(middle, zone) >= wall:
            later = middle
        else:
            earlier = middle
    return later


def _compile(rule: str, start: datetime, zone: ZoneInfo) -> _Recurrence:
    try:
        recurrence = rrulestr(rule, dtstart=start.replace(tzinfo=zone))
    except Exception as exc:  # dateutil raises ValueError, but also TypeError, KeyError...
        raise _invalid(rule, str(exc) or type(exc).__name__) from None
    if not isinstance(recurrence, rrule):
        raise _invalid(rule, "expected a single recurrence rule")
    return cast(_Recurrence, recurrence)


@attrs.frozen(init=False, repr=False)
class RRuleSchedule:
    """Fires at the occurrences of an RFC 5545 recurrence rule (``RRULE``).

    :param rule: the value of an RRULE line, such as ``FREQ=WEEKLY;BYDAY=MO,WE``
        (a leading ``RRULE:`` is accepted). Kept upper-cased without the prefix.
        ``UNTIL`` must be written in UTC (``UNTIL=20251231T235959Z``), as RFC 5545
        requires when DTSTART has a time zone.
    :param dtstart: where the recurrence starts; it also gives the rule's defaults
        (the time of day, the weekday of a weekly rule...). Aware values in any zone;
        naive ones are local time. Kept as aware UTC, to the whole second. A wall-clock
        time that happens twice in ``timezone`` is taken at its first occurrence.
    :param timezone: the IANA zone whose wall clock the rule follows.
    :raises InvalidScheduleConfigError: malformed rule, unknown zone, or a ``dtstart``
        that does not exist on the zone's clock (a daylight-saving gap).
    :raises InvalidScheduleTimeError: ``dtstart`` is not a datetime.

    DTSTART itself is an occurrence only when it matches the rule (dateutil's reading
    of RFC 5545). ``COUNT`` counts from DTSTART.
    """

    rule: str
    dtstart: datetime
    timezone: str
    _zone: ZoneInfo = attrs.field(eq=False, hash=False)
    _start: datetime = attrs.field(eq=False, hash=False)
    _recurrence: _Recurrence = attrs.field(eq=False, hash=False)

    def __init__(self, rule: str, dtstart: datetime, timezone: str | ZoneInfo = "UTC") -> None:
        text = normalise_rule(rule)
        zone = parse_zone(timezone)
        start, instant = _anchor(dtstart, zone)
        self.__attrs_init__(text, instant, zone.key, zone, start, _compile(text, start, zone))

    def __repr__(self) -> str:
        start = self.dtstart.isoformat().replace("+00:00", "Z")
        return f"RRuleSchedule({self.rule!r}, dtstart={start}, timezone={self.timezone!r})"

    @property
    def tzinfo(self) -> ZoneInfo:
        """The zone whose wall clock the rule follows (``tickwork explain`` uses it to
        show local times, as it does for ``CronSchedule``)."""
        return self._zone

    def next(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after ``after`` (aware UTC), or ``None`` once
        ``COUNT`` or ``UNTIL`` has exhausted the rule."""
        if not isinstance(after, datetime):
            raise TypeError(f"next() needs a datetime, got {after!r}")
        zone = self._zone
        try:
            moment = after.astimezone(UTC)
            after_wall, include = _wall(moment, zone), False
        except OverflowError:  # within hours of datetime.min or datetime.max
            if after.year > 1:
                return None
            moment = datetime.min.replace(tzinfo=UTC)
            after_wall, include = self._start, True
        # Wall-clock times at or before after_wall fire at or before `after` (the map
        # keeps order), so the answer is the first later one whose instant is later
        # too; only times repeated by a fold are skipped on the way.
        try:
            recurrence = self._from(after_wall)
            for occurrence in recurrence.xafter(after_wall.replace(tzinfo=zone), inc=include):
                instant = to_instant(occurrence.replace(tzinfo=None), zone)
                if instant > moment:
                    return instant
        except (OverflowError, ValueError):  # dateutil ran past year 9999
            return None
        return None

    def _from(self, after_wall: datetime) -> _Recurrence:
        """The rule, restarted as close before ``after_wall`` as keeps it the same rule.

        dateutil always walks from DTSTART, which gets slow for a minutely rule that
        started months ago. When every period has the same wall-clock length and
        nothing is counted, a DTSTART moved forward by whole ``INTERVAL`` periods gives
        the same occurrences from there on (the rule's defaults, such as the time of
        day, come from DTSTART and do not change).
        """
        parts = dict(part.split("=", 1) for part in self.rule.split(";"))
        period = _PERIODS.get(parts["FREQ"])
        if period is None or "COUNT" in parts:
            return self._recurrence
        step = period * int(parts.get("INTERVAL", "1"))
        periods = (after_wall - self._start) // step
        if periods < 2:
            return self._recurrence
        start = self._start + step * periods
        return self._recurrence.replace(dtstart=start.replace(tzinfo=self._zone))
