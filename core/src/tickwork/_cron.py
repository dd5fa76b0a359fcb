"""Cron schedules evaluated on the wall clock of a time zone.

:class:`~tickwork._cron_fields.CronFields` finds the matching wall-clock seconds; it
only ever sees *naive* datetimes, so its arithmetic never meets a time zone. Mapping
each naive wall time to a real instant is done here, because that is where the
daylight-saving rules of the contract live:

- a wall-clock time that does not exist (a spring-forward gap) fires once, at the first
  instant after the gap, however many matching times the gap swallowed;
- a wall-clock time that happens twice (a fall-back fold) fires at its first
  occurrence only, so the repeated stretch of the clock fires nothing the second time.

Both are defaults that a schedule can change: ``on_gap="skip"`` lets a nonexistent time
not fire at all that day, and ``on_fold="both"`` fires a repeated time on both passes.

Mapped this way, later wall-clock times never map to earlier instants, so the first
matching time whose instant lies after ``t`` gives the smallest fire time after ``t``.
Every step below asks the fields for "the next match after", never walks the clock, so
a seconds field or a sparse expression costs no more than ``* * * * *``.
"""

from __future__ import annotations

import datetime as _dt
import functools
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ._cron_fields import CronFields
from ._cron_grammar import parse_expression
from ._errors import InvalidCronExpressionError, InvalidScheduleConfigError
from ._timeutil import UTC, as_utc

__all__ = ["CronSchedule", "CronSpec", "require_standard"]

# A fixed point from which to compute once, at construction, so an expression that can
# never match (30 February) fails where it is written, not in the scheduler later.
_PROBE = datetime(2000, 1, 1)
_ONE_SECOND = timedelta(seconds=1)
_TINY = timedelta(microseconds=1)
# How far on_fold="both" looks for a fold when the schedule has no later fire time.
_FOLD_HORIZON = timedelta(days=400)
# No zone has repeated more than two hours of its clock at once.
_LONGEST_FOLD = timedelta(hours=3)


@functools.lru_cache(maxsize=1024)
def _parse(expression: str) -> tuple[str, CronFields]:
    """The normalised text and fields of an expression, parsed once and shared.

    :raises InvalidCronExpressionError: the expression is malformed or never matches.
    """
    normalised, fields = parse_expression(expression, standard=False)
    if fields.next_after(_PROBE) is None:
        raise InvalidCronExpressionError(expression, "it never matches a real date")
    return normalised, fields


def require_standard(expression: str) -> None:
    """Refuse, with the messages of the 5-field grammar, what the ``cron`` type cannot hold.

    :raises InvalidCronExpressionError: not a standard 5-field expression.
    """
    parse_expression(expression, standard=True)
    _parse(expression)


def _normalised(expression: object) -> str:
    """The normalised text of a valid expression; anything else raises the grammar's error."""
    if isinstance(expression, str):
        return _parse(expression)[0]
    return parse_expression(expression, standard=False)[0]  # raises: not a string


def _fields(expression: str) -> CronFields:
    return _parse(expression)[1]


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
    """Where to search on from ``wall``: the last second of the gap or fold it sits in.

    Every time in a gap stands for the same instant, and every time in a fold's first
    pass was already met, so once one of them is too early the rest are too.
    """
    earlier, later = _readings(zone, wall)
    if earlier == later:
        return wall
    if earlier < later:  # a gap: the wall clock resumes at the change plus the new offset
        end = _transition(zone, wall - later, wall - earlier) + later
    else:  # a fold: the wall clock stops repeating at the change plus the old offset
        end = _transition(zone, wall - earlier, wall - later) + earlier
    return max(wall, (end - _TINY).replace(microsecond=0))


def _spec_field(value: Any) -> str:
    if value is None:
        return "*"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidCronExpressionError(
            value, "a CronSpec field must be a string such as '*/15', '1-5' or '0'"
        )
    return str(value).strip() or "*"


def _second_field(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _spec_field(value)


@attrs.frozen
class CronSpec:
    """A cron expression spelled field by field; an empty field means ``*``."""

    minute: str = attrs.field(default="*", converter=_spec_field)
    hour: str = attrs.field(default="*", converter=_spec_field)
    day_of_month: str = attrs.field(default="*", converter=_spec_field)
    month: str = attrs.field(default="*", converter=_spec_field)
    day_of_week: str = attrs.field(default="*", converter=_spec_field)
    #: A leading seconds field; ``None`` (or empty) leaves the expression at 5 fields,
    #: firing on whole minutes.
    second: str | None = attrs.field(default=None, converter=_second_field)

    @property
    def expression(self) -> str:
        fields = (self.minute, self.hour, self.day_of_month, self.month, self.day_of_week)
        return " ".join(fields if self.second is None else (self.second, *fields))


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
    """Fires at every wall-clock time matching a cron expression in a time zone.

    The expression is validated (whitespace normalised to single spaces, a descriptor
    such as ``@daily`` replaced by its 5 fields) at construction. Five fields match
    whole minutes; a sixth, leading field gives the seconds. When both day-of-month
    and day-of-week are restricted (neither is ``*`` or ``?``), a day matches if
    either field matches, as in classic cron.

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
        normalised = _normalised(expression)
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
    def extended(self) -> bool:
        """Whether the expression needs more than the standard 5-field grammar.

        Such a schedule is stored as type ``cron_ext``, which a reader that only knows
        5-field cron (the reference library, older tickwork) sets aside unread.
        """
        return _fields(self.expression).extended

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
        except (OverflowError, ValueError):
            return None  # no matching time before datetime.max
        return None if found is None else found.replace(tzinfo=UTC)

    def _next_naive(self, zone: ZoneInfo, naive_moment: datetime) -> datetime | None:
        """The next fire time (naive UTC), asking the fields for matching wall times."""
        fields = _fields(self.expression)
        wall = naive_moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
        # Each pass moves strictly forward on the wall clock; a candidate fires too
        # early only in the second pass of a fold or in a gap already reported, and
        # then the rest of that fold or gap is passed over in one step.
        for _ in range(10_000):
            candidate = fields.next_after(wall)
            if candidate is None:
                return None
            earlier, later = _readings(zone, candidate)
            if earlier < later and self.on_gap == "skip":
                wall = _resume_after(zone, candidate)  # times that do not exist: not fired
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

        Walking wall-clock times only meets each repeated time once, at its first
        occurrence. The second occurrences of a fold form one contiguous span of
        instants right after the offset change; each fold before ``found`` is asked
        for its first matching time there.
        """
        limit = found if found is not None else naive_moment + _FOLD_HORIZON
        # A fold that began before naive_moment may still be in its second pass.
        for change, old, new in _falls_back(zone, naive_moment - _LONGEST_FOLD, limit):
            # Second-pass instants are [change, change + old - new), read as instant + new.
            start = max(naive_moment, change - _ONE_SECOND) + new
            candidate = _fields(self.expression).next_after(start)
            if candidate is not None and candidate < change + old and candidate - new < limit:
                return candidate - new
        return found

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
        fields = _fields(self.expression)
        if fields.matches(naive + now):
            return False  # the first time after the gap matches itself: it fires anyway
        # The clock jumped at this instant: did a matching wall time fall in the gap?
        match = fields.next_after(naive + before - _ONE_SECOND)
        return match is not None and match < naive + now


def _falls_back(
    zone: ZoneInfo, start: datetime, limit: datetime
) -> list[tuple[datetime, timedelta, timedelta]]:
    """The offset decreases in ``(start, limit]`` (naive UTC): (instant, old, new) each.

    Probed a day at a time (no zone changes its offset twice in a day), then each
    change found is pinned to the second.
    """
    found: list[tuple[datetime, timedelta, timedelta]] = []
    low = start
    while low < limit:
        high = min(low + timedelta(days=1), limit)
        old, new = _offset_at(zone, low), _offset_at(zone, high)
        if old is not None and new is not None and new < old:
            found.append((_transition(zone, low, high), old, new))
        low = high
    return found
