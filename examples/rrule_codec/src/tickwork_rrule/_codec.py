"""``RRuleCodec``: ``RRuleSchedule`` as iCalendar text, for tickwork's stores.

The config string is the two RFC 5545 lines any iCalendar library reads::

    DTSTART;TZID=Europe/Paris:20250106T090000
    RRULE:FREQ=WEEKLY;BYDAY=MO,WE

In UTC, DTSTART is written as a UTC time instead: ``DTSTART:20250106T080000Z``.
:meth:`RRuleCodec.encode` writes the lines in this order, separated by ``\\n``.
:meth:`RRuleCodec.decode` also accepts ``\\r\\n``, either order, lower-case property
names and a trailing line break. A DTSTART without a zone (a "floating" time) is
refused, because a scheduler must know which clock to follow.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tickwork import InvalidScheduleConfigError, UnsupportedScheduleError
from tickwork.abc import Schedule

from ._schedule import MAX_RULE_LENGTH, SCHEDULE_TYPE, RRuleSchedule, parse_zone

__all__ = ["RRuleCodec"]

_MAX_CONFIG_LENGTH = MAX_RULE_LENGTH + 200

_LINE_BREAK = re.compile(r"\r?\n")
_DTSTART = re.compile(
    r"DTSTART(?:;TZID=(?P<tzid>[^:;\s]+))?:"
    r"(?P<year>[0-9]{4})(?P<month>[0-9]{2})(?P<day>[0-9]{2})T"
    r"(?P<hour>[0-9]{2})(?P<minute>[0-9]{2})(?P<second>[0-9]{2})(?P<utc>Z?)",
    re.IGNORECASE,
)


def format_config(schedule: RRuleSchedule) -> str:
    """The iCalendar text of a schedule (what :meth:`RRuleCodec.encode` stores)."""
    if schedule.timezone == "UTC":
        return f"DTSTART:{_stamp(schedule.dtstart)}Z\nRRULE:{schedule.rule}"
    local = schedule.dtstart.astimezone(parse_zone(schedule.timezone))
    return f"DTSTART;TZID={schedule.timezone}:{_stamp(local)}\nRRULE:{schedule.rule}"


def _stamp(moment: datetime) -> str:
    return (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    )


def parse_config(config: str) -> RRuleSchedule:
    """Read what :func:`format_config` writes.

    :raises InvalidScheduleConfigError: a bad zone or rule (the schedule's own checks).
    :raises ValueError: the text is not one DTSTART line and one RRULE line.
    """
    lines = _LINE_BREAK.split(config.strip("\r\n"))
    found: dict[str, str] = {}
    for line in lines:
        name = re.split(r"[;:]", line, maxsplit=1)[0].upper()
        if name not in ("DTSTART", "RRULE"):
            raise ValueError(
                f"unsupported line {line[:40]!r}: expected a DTSTART and an RRULE line"
            )
        if name in found:
            raise ValueError(f"more than one {name} line")
        found[name] = line
    if set(found) != {"DTSTART", "RRULE"}:
        raise ValueError("expected a DTSTART line and an RRULE line")
    match = _DTSTART.fullmatch(found["DTSTART"])
    if match is None:
        raise ValueError(
            "DTSTART must look like DTSTART;TZID=Europe/Paris:20250106T090000 "
            "or DTSTART:20250106T080000Z"
        )
    tzid, utc = match["tzid"], bool(match["utc"])
    if tzid and utc:
        raise ValueError("DTSTART has both a TZID and a UTC time (Z); keep one")
    if not tzid and not utc:
        raise ValueError("DTSTART has no time zone: add ;TZID=<IANA zone> or a final Z")
    zone = parse_zone(tzid or "UTC")
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    wall = datetime(year, month, day, hour, minute, second, tzinfo=UTC if utc else zone)
    rule = found["RRULE"].split(":", 1)[1] if ":" in found["RRULE"] else ""
    return RRuleSchedule(rule, wall, zone)


class RRuleCodec:
    """Encodes :class:`RRuleSchedule` as schedule type ``rrule`` (see the module text).

    It implements :class:`tickwork.abc.ScheduleCodec`: decode raises
    :class:`~tickwork.InvalidScheduleConfigError` for any malformed config and nothing
    else, so a corrupt row reads as such.
    """

    schedule_type = SCHEDULE_TYPE

    def __repr__(self) -> str:
        return "RRuleCodec()"

    def encode(self, schedule: Schedule) -> tuple[str, str]:
        if not isinstance(schedule, RRuleSchedule):
            cls = type(schedule)
            raise UnsupportedScheduleError(
                f"{cls.__module__}.{cls.__qualname__}", known=(SCHEDULE_TYPE,)
            )
        return SCHEDULE_TYPE, format_config(schedule)

    def decode(self, schedule_type: str, config: str) -> Schedule:
        if schedule_type != SCHEDULE_TYPE:
            raise UnsupportedScheduleError(schedule_type, known=(SCHEDULE_TYPE,))
        if not isinstance(config, str):
            raise InvalidScheduleConfigError(SCHEDULE_TYPE, config, "expected a string")
        if len(config) > _MAX_CONFIG_LENGTH:
            raise InvalidScheduleConfigError(
                SCHEDULE_TYPE, config, f"longer than {_MAX_CONFIG_LENGTH} characters"
            )
        try:
            return parse_config(config)
        except InvalidScheduleConfigError as exc:
            # Name the whole stored text, not just the part that failed (a zone name).
            raise InvalidScheduleConfigError(SCHEDULE_TYPE, config, exc.reason) from None
        except Exception as exc:  # ValueError, InvalidScheduleTimeError, or a bug
            reason = str(exc) or type(exc).__name__
            raise InvalidScheduleConfigError(SCHEDULE_TYPE, config, reason) from exc
