"""The core's schedules with optional capabilities pass their reusable contracts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork import CronSchedule, OnceSchedule
from tickwork.abc import Schedule
from tickwork.testing import FirstRunScheduleContract, GapSkippingScheduleContract


class TestOnceSchedule(FirstRunScheduleContract):
    @pytest.fixture
    def schedules(self) -> list[Schedule]:
        t = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
        return [OnceSchedule(t), OnceSchedule(t + timedelta(days=400))]


class TestCronSkipsOnTheGap(GapSkippingScheduleContract):
    @pytest.fixture
    def schedules(self) -> list[Schedule]:
        return [
            CronSchedule("30 2 * * *", "Europe/Paris", on_gap="skip"),
            CronSchedule("*/15 2 * * *", "America/New_York", on_gap="skip"),
            CronSchedule("0 9 * * *", "Europe/Paris"),
        ]

    @pytest.fixture
    def moments(self) -> list[datetime]:
        return [
            datetime(2026, 3, 28, 12, tzinfo=UTC),  # Paris springs forward on the 29th
            datetime(2026, 3, 7, 12, tzinfo=UTC),  # New York on 8 March
            datetime(2026, 10, 24, 12, tzinfo=UTC),
        ]


def test_the_gap_suite_sees_a_real_skip() -> None:
    """(So that the suite above checks skips, not only empty lists.)"""
    cron = CronSchedule("30 2 * * *", "Europe/Paris", on_gap="skip")
    after = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert len(cron.skipped_between(after, after + timedelta(days=2))) == 1
