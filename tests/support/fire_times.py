"""Fire times in tests: aware UTC datetimes, and a schedule's next ones chained the
way the scheduler chains them (each ``next()`` after the one before)."""

from __future__ import annotations

from datetime import UTC, datetime

from tickwork.abc import Schedule


def utc(*args: int) -> datetime:
    """``datetime(*args)`` in UTC."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def chain(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times after ``after``; fails if the schedule ends."""
    times: list[datetime] = []
    for _ in range(count):
        result = schedule.next(after)
        assert result is not None, f"{schedule!r} ended after {after.isoformat()}"
        times.append(result)
        after = result
    return times
