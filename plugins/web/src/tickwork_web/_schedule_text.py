"""Schedules in words, and schedules typed into a form.

The job page says what a schedule does before it lists its next fire times (as
``tickwork explain`` does); the "change schedule" form and the API take a schedule as
a store keeps it (``TYPE:CONFIG``, for any registered type) or as a bare cron
expression with a time zone.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tickwork import (
    CronSchedule,
    IntervalSchedule,
    OnceSchedule,
    Schedule,
    StartAtIntervalSchedule,
    UnsupportedScheduleError,
    available_plugins,
    default_codec,
    preview,
    zone_of,
)

__all__ = ["describe", "next_runs", "parse_schedule"]

# A type name, then a colon (no cron expression holds a colon).
_TYPED = re.compile(r"(?P<type>[A-Za-z_][A-Za-z0-9_.-]*):(?P<config>.*)", re.DOTALL)
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MAX_TEXT = 1000


def parse_schedule(text: str, timezone: str | None = None) -> Schedule:
    """``TYPE:CONFIG`` decoded by the registered codecs, else a cron expression in
    ``timezone`` (default UTC).

    :raises ValueError: (a :class:`~tickwork.TickworkError` for a bad schedule) with a
        one-line message naming what is wrong.
    """
    text = text.strip()
    if not text:
        raise ValueError("schedule: give a cron expression or TYPE:CONFIG")
    if len(text) > _MAX_TEXT:
        raise ValueError(f"schedule: longer than {_MAX_TEXT} characters")
    match = _TYPED.fullmatch(text)
    if match is None:
        return CronSchedule(text, (timezone or "").strip() or "UTC")
    if timezone:
        raise ValueError("timezone goes with a cron expression; TYPE:CONFIG carries its own")
    known = available_plugins()["codecs"]
    if match["type"] not in known:
        raise UnsupportedScheduleError(match["type"], known=known)
    schedule: Schedule = default_codec().decode(match["type"], match["config"])
    return schedule


def describe(schedule: Any) -> str:
    """One sentence for the schedules the core knows, the ``repr`` for the others."""
    if isinstance(schedule, CronSchedule):
        return f"{_cron_words(schedule.expression)} ({schedule.timezone})"
    if isinstance(schedule, IntervalSchedule):
        return f"every {_span(schedule.interval)} after each run"
    if isinstance(schedule, StartAtIntervalSchedule):
        return f"every {_span(schedule.interval)} from {schedule.start_at:%Y-%m-%d %H:%M:%S %Z}"
    if isinstance(schedule, OnceSchedule):
        return f"once, at {schedule.run_at:%Y-%m-%d %H:%M:%S %Z}"
    return repr(schedule)


def next_runs(schedule: Schedule, count: int = 10) -> list[dict[str, Any]]:
    """The next ``count`` fire times, in UTC and in the schedule's zone."""
    zone = ZoneInfo(zone_of(schedule))
    out = []
    for when in preview(schedule, None, count):
        local = when.astimezone(zone)
        out.append({"utc": when, "local": local.strftime("%Y-%m-%d %H:%M:%S %Z (%a)")})
    return out


def _span(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or f"{value.total_seconds():g}s"


def _cron_words(expression: str) -> str:
    """Plain cron expressions in words ("at 09:00 on Mon-Fri"); others as they are."""
    fields = expression.split()
    if len(fields) != 5 or not all(re.fullmatch(r"[0-9*,/-]+", f) for f in fields):
        return f"cron {expression}"
    minute, hour, day, month, weekday = fields
    if minute.isdigit() and hour.isdigit():
        when = f"at {int(hour):02d}:{int(minute):02d}"
    elif minute.isdigit() and hour == "*":
        when = f"at minute {int(minute)} of every hour"
    elif minute == "*" and hour == "*":
        when = "every minute"
    elif minute.startswith("*/") and hour == "*":
        when = f"every {minute[2:]} minutes"
    else:
        return f"cron {expression}"
    parts = [when]
    if day != "*":
        parts.append(f"on day {day} of the month")
    if month != "*":
        parts.append(f"in month {month}")
    if weekday != "*":
        parts.append(f"on {_weekdays(weekday)}")
    elif day == "*" and month == "*" and not when.startswith("every"):
        parts.append("every day")
    return " ".join(parts)


def _weekdays(field: str) -> str:
    def name(text: str) -> str:
        return _DAYS[int(text)] if text.isdigit() and int(text) <= 7 else text

    words = []
    for part in field.split(","):
        low, dash, high = part.partition("-")
        words.append(f"{name(low)}-{name(high)}" if dash else name(low))
    return ", ".join(words)
