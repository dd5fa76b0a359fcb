"""The optional schedule capabilities of bounds, unions, exclusions and holiday
calendars, checked with the contract suites plugins use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork import (
    BoundedSchedule,
    CalendarIntervalSchedule,
    CronSchedule,
    ExceptDatesSchedule,
    OnceSchedule,
    UnionSchedule,
)
from tickwork.abc import Schedule
from tickwork.testing import (
    EndingScheduleContract,
    FirstRunScheduleContract,
    GapSkippingScheduleContract,
)
from tickwork_holidays import HolidayExclusionSchedule

START = datetime(2019, 12, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
DAILY = CalendarIntervalSchedule(
    every=1, unit="days", start="2019-01-01", at="02:30", timezone="Europe/Paris", on_gap="skip"
)
SKIPPING_CRON = CronSchedule("30 2 * * *", "Europe/Paris", on_gap="skip")


def _ending() -> list[Schedule]:
    weekly = CronSchedule("0 9 * * 1")
    bounded = BoundedSchedule(schedule=weekly, end=END)
    counted = BoundedSchedule(schedule=DAILY, start=START, max_runs=5)
    every_christmas = [datetime(y, 12, 25).date() for y in range(2019, 2030)]
    return [
        bounded,
        counted,
        UnionSchedule([counted, BoundedSchedule(schedule=weekly, end=END)]),
        ExceptDatesSchedule(schedule=BoundedSchedule(schedule=weekly, end=END), dates=[]),
        HolidayExclusionSchedule(schedule=bounded, country="FR"),
        ExceptDatesSchedule(
            schedule=CronSchedule("0 9 25 12 *"),
            dates=[*every_christmas, *(datetime(y, 12, 25).date() for y in range(2030, 3100))],
        ),
    ]


class TestEndingSchedules(EndingScheduleContract):
    @pytest.fixture
    def schedules(self) -> list[Schedule]:
        return _ending()

    @pytest.fixture
    def moments(self) -> list[datetime]:
        return [datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 31, 12, tzinfo=UTC)]


class TestFirstRun(FirstRunScheduleContract):
    @pytest.fixture
    def schedules(self) -> list[Schedule]:
        once = OnceSchedule(datetime(2024, 1, 1, tzinfo=UTC))
        return [
            BoundedSchedule(schedule=once, start=START),
            BoundedSchedule(schedule=once, end=START + timedelta(days=3650)),
            UnionSchedule([once, DAILY]),
            ExceptDatesSchedule(schedule=once, dates=["2024-01-01"]),
        ]


class TestGapSkipping(GapSkippingScheduleContract):
    @pytest.fixture
    def schedules(self) -> list[Schedule]:
        return [
            DAILY,
            BoundedSchedule(schedule=DAILY, start=START, end=END),
            BoundedSchedule(schedule=SKIPPING_CRON, start=START, end=END),
            UnionSchedule([SKIPPING_CRON, CronSchedule("0 12 * * *")]),
        ]


def test_the_tick_log_is_told_why_only_by_ending_schedules() -> None:
    from tickwork._tick_log import TickLog

    async def write(records: object) -> None:
        return None

    log = TickLog("w", write)
    after = END + timedelta(days=1)
    (record,) = log.ended(
        "job", BoundedSchedule(schedule=CronSchedule("0 9 * * *"), end=END), after
    )
    assert record.status == "schedule_ended"
    assert "has passed" in record.metadata["note"]
    assert log.ended("job", OnceSchedule(START), after) == []
