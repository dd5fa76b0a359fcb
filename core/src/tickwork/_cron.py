"""Cron schedules evaluated on the wall clock of a time zone.

croniter finds the matching wall-clock minutes; it is always given *naive* datetimes, so
its arithmetic never meets a time zone. Mapping each naive minute to a real instant is
done here, because that is where the daylight-saving rules of the contract live:

- a wall-clock time that does not exist (a spring-forward gap) fires once, at the first
  instant after the gap, however many matching minutes the gap swallowed;
- a wall-clock time that happens twice (a fall-back fold) fires at its first
  occurrence only, so the repeated stretch of the clock fires nothing the second time.

Both are defaults that a schedule can change: ``on_gap="skip"`` lets a nonexistent time
not fire at all that day, and ``on_fold="both"`` fires a repeated time on both passes.

Mapped this way, later wall-clock minutes never map to earlier instants, so the first
matching minute whose instant lies after ``t`` gives the smallest fire time after ``t``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import re
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from croniter import CroniterBadDateError, croniter

from ._errors import InvalidCronExpressionError, InvalidScheduleConfigError
from ._timeutil import UTC, as_utc

__all__ = ["CronSchedule", "CronSpec"]

_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DAY_NAMES = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_NAMES: tuple[dict[str, int], ...] = ({}, {}, {}, _MONTH_NAMES, _DAY_NAMES)
_DAY_OF_MONTH, _DAY_OF_WEEK = 2, 4

# One list item of a standard cron field. croniter also understands L, W, #, H and R;
# they are refused so an expression means the same thing to every cron reader (R is
# even random per parse).
_ITEM = re.compile(
    r"(?:(?P<star>\*)|(?P<any>\?)|(?P<low>[0-9]+|[a-z]+)(?:-(?P<high>[0-9]+|[a-z]+))?)"
    r"(?:/(?P<step>[0-9]+))?",
    re.IGNORECASE,
)
_SYNTAX_HINT = (
    "use numbers, names (jan, mon), *, ranges (1-5), lists (1,3,5) and steps (*/15); "
    "the extensions L, W, #, H and R are not supported"
)

# A fixed point from which to compute once, at construction, so an expression that can
# never match (30 February) fails where it is written, not in the scheduler later.
_PROBE = datetime(2000, 1, 1)
_ONE_SECOND = timedelta(seconds=1)
_TINY = timedelta(microseconds=1)


def _normalise_expression(expression: Any) -> str:
    """Check the shape of an expression and return it with single spaces."""
    if not isinstance(expression, str):
        raise InvalidCronExpressionError(expression, "expected a string such as '0 9 * * 1-5'")
    fields = expression.split()
    if not fields:
        raise InvalidCronExpressionError(expression, "it is empty")
    if fields[0].upper().startswith(("CRON_TZ=", "TZ=")):
        raise InvalidCronExpressionError(
            expression,
            "a time zone prefix is not part of the expression; pass timezone=... instead",
        )
    if len(fields) != 5:
        raise InvalidCronExpressionError(
            expression,
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}",
        )
    return " ".join(fields)


def _canonical(expression: str) -> str:
    """Spell each restricted field as an explicit list of numbers for croniter.

    croniter reads some standard spellings in its own way (an equal range such as
    ``5-5`` means the whole cycle to it), so it only ever sees plain lists, and ``*``
    for a field written ``*`` or ``?``. That keeps the classic day rule intact: the
    days are OR-ed only when neither day field is ``*``.
    """
    fields = []
    for index, field in enumerate(expression.split()):
        if field in ("*", "?") and (field == "*" or index in (_DAY_OF_MONTH, _DAY_OF_WEEK)):
            fields.append("*")
            continue
        values: set[int] = set()
        for item in field.split(","):
            values.update(_expand_item(expression, index, field, item))
        fields.append(",".join(str(value) for value in sorted(values)))
    return " ".join(fields)


def _expand_item(expression: str, index: int, field: str, item: str) -> range | set[int]:
    name = _FIELDS[index]
    match = _ITEM.fullmatch(item) if item.isascii() else None
    if match is None:
        raise InvalidCronExpressionError(
            expression, f"{name} field {field!r} is not valid: {_SYNTAX_HINT}"
        )
    if match["any"]:
        raise InvalidCronExpressionError(
            expression, "'?' may only stand alone in the day-of-month or day-of-week field"
        )
    step = 1
    if match["step"] is not None:
        step = _number(match["step"])
        if step == 0:
            raise InvalidCronExpressionError(
                expression, f"{name} step in {item!r} must be at least 1"
            )
    # Day-of-week accepts 7 for Sunday, but a "*" or "n/step" sweep stops at Saturday.
    low, high = _BOUNDS[index] if index != _DAY_OF_WEEK else (0, 6)
    if match["low"] is not None:
        low = _value(expression, index, match["low"])
        if match["high"] is not None:
            high = _value(expression, index, match["high"])
            if index == _DAY_OF_WEEK and match["high"].lower() == "sun":
                high = 7  # "mon-sun": Sunday closes the week here
            if low > high:
                raise InvalidCronExpressionError(
                    expression,
                    f"{name} range {item!r} runs backwards; "
                    "write it as a list (for example 22-23,0-2)",
                )
        elif match["step"] is None:
            high = low
    if index == _DAY_OF_WEEK:
        return {value % 7 for value in range(low, high + 1, step)}
    return range(low, high + 1, step)


def _number(digits: str) -> int:
    """Digits as an int; anything with more than four significant digits is just big."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 4 else 10**4


def _value(expression: str, index: int, token: str) -> int:
    name = _FIELDS[index]
    if token.isdigit():
        number = _number(token)
    else:
        known = _NAMES[index]
        if token.lower() not in known:
            hint = f"; use one of {', '.join(known)}" if known else f"; {_SYNTAX_HINT}"
            raise InvalidCronExpressionError(
                expression, f"unknown name {token!r} in the {name} field{hint}"
            )
        number = known[token.lower()]
    low, high = _BOUNDS[index]
    if not low <= number <= high:
        raise InvalidCronExpressionError(
            expression, f"{name} value {token!r} is out of range {low}-{high}"
        )
    return number


@functools.lru_cache(maxsize=1024)
def _matcher(expression: str) -> croniter:
    """The parsed croniter for a normalised expression, built once and shared.

    croniter objects are stateful, so callers work on copies.

    :raises InvalidCronExpressionError: the expression is malformed or never matches.
    """
    canonical = _canonical(expression)
    try:
        matcher = croniter(canonical, _PROBE, ret_type=datetime)
        copy.copy(matcher).get_next(datetime, _PROBE)
    except CroniterBadDateError:
        raise InvalidCronExpressionError(expression, "it never matches a real date") from None
    except Exception as exc:  # croniter's failure modes are not a documented set
        raise InvalidCronExpressionError(expression, str(exc) or type(exc).__name__) from None
    return matcher


def _next_wall_minute(expression: str, start: datetime) -> datetime:
    """The first matching naive wall-clock minute after the minute ``start`` is in."""
    result: datetime = copy.copy(_matcher(expression)).get_next(datetime, start)
    return result


def _zone(value: Any) -> ZoneInfo:
    """Resolve an IANA name or a tzinfo to a ZoneInfo that knows its name.

    The name is what gets stored, so a tzinfo without one (a fixed offset, a zone read
    from a file) is refused rather than silently losing its rules.
    """
    name: str | None
    if isinstance(value, ZoneInfo):
        name = value.key
    elif isinstance(value, _dt.timezone) and value.utcoffset(None) == timedelta(0):
        name = "UTC"
    elif isinstance(value, str):
        name = value
    elif isinstance(value, tzinfo):
        # pytz zones call it .zone; other libraries follow zoneinfo's .key.
        found = getattr(value, "key", None) or getattr(value, "zone", None)
        name = found if isinstance(found, str) else None
    else:
        raise InvalidScheduleConfigError(
            "cron", value, "a time zone must be an IANA name such as 'Europe/Paris' or a tzinfo"
        )
    if name is None:
        raise InvalidScheduleConfigError(
            "cron",
            value,
            "this tzinfo has no IANA zone name; pass a name such as 'Europe/Paris' "
            "(or 'Etc/GMT-1' for a fixed UTC+1)",
        )
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for odd keys, OSError for dirs
        raise InvalidScheduleConfigError(
            "cron", value, f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'"
        ) from None


def _offset_at(zone: ZoneInfo, instant: datetime) -> timedelta | None:
    return instant.replace(tzinfo=UTC).astimezone(zone).utcoffset()


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first whole second in ``(before, after]`` (naive UTC) with a new UTC offset.

    The two wall-clock readings of a gap or fold bracket exactly one offset change, so
    a binary search between them finds it to the second (tzdata has no finer changes).
    """
    old = _offset_at(zone, before)
    low, high = 0, (after - before) // _ONE_SECOND
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, before + middle * _ONE_SECOND) == old:
            low = middle
        else:
            high = middle
    return before + high * _ONE_SECOND


def _readings(zone: ZoneInfo, wall: datetime) -> tuple[timedelta, timedelta]:
    """The UTC offsets of a naive wall time read as its first and as its second occurrence."""
    earlier = wall.replace(tzinfo=zone).utcoffset()
    later = wall.replace(tzinfo=zone, fold=1).utcoffset()
    if earlier is None or later is None:  # pragma: no cover - ZoneInfo always answers
        raise AssertionError(f"{zone!r} gave no UTC offset for {wall}")
    return earlier, later


def _first_instant(zone: ZoneInfo, wall: datetime) -> datetime:
    """The naive UTC instant at which the naive wall-clock minute ``wall`` fires."""
    earlier, later = _readings(zone, wall)
    if earlier >= later:
        # Unambiguous (equal), or a fold whose first occurrence uses the earlier offset.
        return wall - earlier
    # A gap: zoneinfo reads the missing time with the offsets before (fold=0) and
    # after (fold=1) the change; the real instants on either side bracket it.
    return _transition(zone, wall - later, wall - earlier)


def _resume_after(zone: ZoneInfo, wall: datetime) -> datetime:
    """Where to search on when ``wall`` fired too early: past the fold it sits in."""
    earlier, later = _readings(zone, wall)
    if earlier <= later:
        return wall
    change = _transition(zone, wall - earlier, wall - later)
    fold_end = change + earlier  # the wall clock stops repeating here
    return max(wall, (fold_end - _TINY).replace(second=0, microsecond=0))


def _spec_field(value: Any) -> str:
    if value is None:
        return "*"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidCronExpressionError(
            value, "a CronSpec field must be a string such as '*/15', '1-5' or '0'"
        )
    return str(value).strip() or "*"


@attrs.frozen
class CronSpec:
    """A cron expression spelled field by field; an empty field means ``*``."""

    minute: str = attrs.field(default="*", converter=_spec_field)
    hour: str = attrs.field(default="*", converter=_spec_field)
    day_of_month: str = attrs.field(default="*", converter=_spec_field)
    month: str = attrs.field(default="*", converter=_spec_field)
    day_of_week: str = attrs.field(default="*", converter=_spec_field)

    @property
    def expression(self) -> str:
        return " ".join((self.minute, self.hour, self.day_of_month, self.month, self.day_of_week))


ON_GAP = ("run_after", "skip")
ON_FOLD = ("once", "both")


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidScheduleConfigError(
            "cron", value, f"{name} must be one of {', '.join(choices)}"
        )
    return str(value)


@attrs.frozen(init=False, repr=False)
class CronSchedule:
    """Fires at every minute matching a standard 5-field cron expression in a time zone.

    The expression is validated (and whitespace normalised to single spaces) at
    construction. When both day-of-month and day-of-week are restricted (neither is
    ``*`` or ``?``), a day matches if either field matches, as in classic cron.

    :param on_gap: what a matching wall-clock time that does not exist (the hour
        skipped when clocks spring forward) does: ``"run_after"`` fires once at the
        first instant after the gap (the default), ``"skip"`` does not fire that day.
    :param on_fold: what a matching wall-clock time that happens twice (the hour
        repeated when clocks fall back) does: ``"once"`` fires at its first occurrence
        (the default), ``"both"`` fires on both passes.
    """

    expression: str
    timezone: str
    on_gap: str = "run_after"
    on_fold: str = "once"

    def __init__(
        self,
        expression: str,
        timezone: str | tzinfo = "UTC",
        *,
        on_gap: str = "run_after",
        on_fold: str = "once",
    ) -> None:
        normalised = _normalise_expression(expression)
        _matcher(normalised)
        zone = _zone(timezone)
        self.__attrs_init__(
            normalised,
            zone.key,
            _choice("on_gap", on_gap, ON_GAP),
            _choice("on_fold", on_fold, ON_FOLD),
        )

    @classmethod
    def from_spec(
        cls,
        spec: CronSpec,
        timezone: str | tzinfo = "UTC",
        *,
        on_gap: str = "run_after",
        on_fold: str = "once",
    ) -> CronSchedule:
        """Build the schedule for ``spec.expression`` (the reference's NewCronScheduleFromSpec)."""
        if not isinstance(spec, CronSpec):
            raise InvalidCronExpressionError(spec, "from_spec() needs a CronSpec")
        return cls(spec.expression, timezone, on_gap=on_gap, on_fold=on_fold)

    def __repr__(self) -> str:
        extra = "" if self.on_gap == "run_after" else f", on_gap={self.on_gap!r}"
        extra += "" if self.on_fold == "once" else f", on_fold={self.on_fold!r}"
        return f"CronSchedule(expression={self.expression!r}, timezone={self.timezone!r}{extra})"

    @property
    def default_dst_policy(self) -> bool:
        """Whether the schedule uses the contract's default daylight-saving rules."""
        return self.on_gap == "run_after" and self.on_fold == "once"

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next(self, after: datetime) -> datetime | None:
        if not isinstance(after, datetime):
            raise TypeError(f"next() needs a datetime, got {after!r}")
        zone = self.tzinfo
        try:
            moment = as_utc(after)
            naive_moment = moment.replace(tzinfo=None)
            found = self._next_naive(zone, naive_moment)
            if self.on_fold == "both":
                found = self._second_pass(zone, naive_moment, found)
        except (CroniterBadDateError, OverflowError, ValueError):
            return None  # no matching minute before datetime.max
        return None if found is None else found.replace(tzinfo=UTC)

    def _next_naive(self, zone: ZoneInfo, naive_moment: datetime) -> datetime | None:
        """The next fire time (naive UTC) by walking matching wall-clock minutes."""
        wall = (
            naive_moment.replace(tzinfo=UTC)
            .astimezone(zone)
            .replace(tzinfo=None, second=0, microsecond=0)
        )
        # Each pass moves strictly forward on the wall clock; only a candidate in the
        # second pass of a fold fires too early, and then the fold is skipped.
        for _ in range(100_000):
            candidate = _next_wall_minute(self.expression, wall)
            earlier, later = _readings(zone, candidate)
            if earlier < later and self.on_gap == "skip":
                wall = candidate  # a time that does not exist today: not fired
                continue
            instant = _first_instant(zone, candidate)
            if instant > naive_moment:
                return instant
            wall = _resume_after(zone, candidate)
        raise RuntimeError(f"{self!r} found no fire time after {naive_moment}; this is a bug")

    def _second_pass(
        self, zone: ZoneInfo, naive_moment: datetime, found: datetime | None
    ) -> datetime | None:
        """With ``on_fold="both"``: an earlier fire time in a repeated stretch of clock.

        Walking wall-clock minutes only meets each repeated minute once, at its first
        occurrence. The second occurrences form one contiguous span of instants right
        after the offset change; look there, minute by minute (at most a few hours).
        """
        limit = found if found is not None else naive_moment + timedelta(days=400)
        before = _offset_at(zone, naive_moment)
        after = _offset_at(zone, limit)
        if before is None or after is None or after >= before:
            return found
        change = _transition(zone, naive_moment, limit)
        new_offset = _offset_at(zone, change)
        old_offset = _offset_at(zone, change - _ONE_SECOND)
        if new_offset is None or old_offset is None or new_offset >= old_offset:
            return found
        instant = max(
            change, (naive_moment + timedelta(minutes=1)).replace(second=0, microsecond=0)
        )
        end = change + (old_offset - new_offset)
        while instant < end and instant < limit:
            if instant > naive_moment and self._matches(instant + new_offset):
                return instant
            instant += timedelta(minutes=1)
        return found

    def _matches(self, wall: datetime) -> bool:
        return _next_wall_minute(self.expression, wall - timedelta(minutes=1)) == wall

    def skipped_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Fire times that did not happen in ``(after, until]`` because of ``on_gap="skip"``.

        Each is reported at the instant the clock jumped (where the run would have gone
        with ``on_gap="run_after"``). The scheduler records them as ``dst_skipped``.
        """
        if self.on_gap != "skip":
            return []
        relaxed = CronSchedule(self.expression, self.timezone, on_fold=self.on_fold)
        skipped: list[datetime] = []
        current = relaxed.next(after)
        end = as_utc(until)
        while current is not None and current <= end and len(skipped) < 1000:
            if self._is_gap_instant(current):
                skipped.append(current)
            current = relaxed.next(current)
        return skipped

    def _is_gap_instant(self, instant: datetime) -> bool:
        """Whether a fire time of the run-after rule stands in for a nonexistent time."""
        zone = self.tzinfo
        naive = instant.replace(tzinfo=None)
        before = _offset_at(zone, naive - _ONE_SECOND)
        now = _offset_at(zone, naive)
        if before is None or now is None or now <= before:
            return False
        # The clock jumped at this instant: did a matching wall time fall in the gap?
        gap_start = naive + before
        wall = gap_start.replace(second=0, microsecond=0)
        while wall < naive + now:
            if self._matches(wall) and _readings(zone, wall)[0] < _readings(zone, wall)[1]:
                return True
            wall += timedelta(minutes=1)
        return False
