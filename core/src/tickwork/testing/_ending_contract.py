"""Contract suite for :class:`~tickwork.abc.EndingSchedule` (schedules that end by their
bounds and say why).

A schedule plugin whose schedules can end subclasses it and provides ``schedules``:
schedules that do end, within a few hundred fire times of each of ``moments``::

    class TestMyBoundedSchedule(EndingScheduleContract):
        @pytest.fixture
        def schedules(self):
            return [MySchedule(..., until=datetime(2026, 1, 1, tzinfo=UTC))]
"""

from __future__ import annotations

from datetime import datetime

import pytest

from ..abc import EndingSchedule, Schedule
from ._schedule_contract import _DEFAULT_MOMENTS

__all__ = ["EndingScheduleContract"]

#: Fire times walked before the suite concludes that a schedule does not end.
_WALK = 500


def _last_fire_time(schedule: Schedule, after: datetime) -> datetime:
    """The moment after which ``schedule`` has no fire time (``after`` if it has none)."""
    current = after
    for _ in range(_WALK):
        following = schedule.next(current)
        if following is None:
            return current
        assert following > current, (schedule, current, following)
        current = following
    raise AssertionError(
        f"{schedule!r} still fires {_WALK} times after {after}: give one that ends"
    )


class EndingScheduleContract:
    """:class:`~tickwork.abc.EndingSchedule`: once ``next`` returns None it keeps doing
    so, and ``end_reason`` then gives one non-empty line."""

    @pytest.fixture
    def moments(self) -> list[datetime]:
        """The times the walks start at (override for your schedules)."""
        return list(_DEFAULT_MOMENTS)

    def test_they_are_ending_schedules(self, schedules: list[Schedule]) -> None:
        assert schedules, "the fixture must give at least one schedule"
        for schedule in schedules:
            assert isinstance(schedule, EndingSchedule), schedule

    def test_an_ended_schedule_says_why_in_one_line(
        self, schedules: list[EndingSchedule], moments: list[datetime]
    ) -> None:
        for schedule in schedules:
            for after in moments:
                last = _last_fire_time(schedule, after)
                reason = schedule.end_reason(last)
                assert isinstance(reason, str), (schedule, reason)
                assert reason.strip(), (schedule, last)
                assert "\n" not in reason, (schedule, reason)

    def test_an_ended_schedule_stays_ended(
        self, schedules: list[EndingSchedule], moments: list[datetime]
    ) -> None:
        for schedule in schedules:
            for after in moments:
                last = _last_fire_time(schedule, after)
                assert schedule.next(last) is None
                assert schedule.end_reason(last) == schedule.end_reason(last)
