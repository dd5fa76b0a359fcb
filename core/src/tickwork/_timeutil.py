"""Time helpers shared by every module: one place decides how datetimes are normalised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["UTC", "as_utc", "as_utc_or_none", "from_nanoseconds", "to_nanoseconds", "utcnow"]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime.

    Aware values are converted from whatever zone they carry; naive values are taken as
    local time, which is what ``datetime.astimezone`` assumes and what users expect from
    ``datetime.now()``.
    """
    if value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def as_utc_or_none(value: Any) -> datetime | None:
    """Like :func:`as_utc`, but lets ``None`` through (attrs converters use it)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime or None, got {value!r}")
    return as_utc(value)


def to_nanoseconds(value: timedelta) -> int:
    """Return a timedelta as whole nanoseconds, the unit the reference library stores."""
    return (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1_000


def from_nanoseconds(value: int) -> timedelta:
    """Return nanoseconds as a timedelta (truncated to microseconds, Python's resolution)."""
    return timedelta(microseconds=value // 1_000)
