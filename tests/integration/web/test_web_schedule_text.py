"""Schedules in words on the job page, and schedules typed into the forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork import (
    CronSchedule,
    IntervalSchedule,
    InvalidCronExpressionError,
    OnceSchedule,
    UnsupportedScheduleError,
)
from tickwork_web._schedule_text import describe, next_runs, parse_schedule


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (CronSchedule("0 9 * * 1-5", "Europe/Paris"), "at 09:00 on Mon-Fri (Europe/Paris)"),
        (CronSchedule("30 6 * * *"), "at 06:30 every day (UTC)"),
        (CronSchedule("*/15 * * * *"), "every 15 minutes (UTC)"),
        (CronSchedule("5 * * * 0,6"), "at minute 5 of every hour on Sun, Sat (UTC)"),
        (CronSchedule("0 0 1 * *"), "at 00:00 on day 1 of the month (UTC)"),
        (CronSchedule("@daily"), "at 00:00 every day (UTC)"),
        (CronSchedule("0 9-17 * * *"), "cron 0 9-17 * * * (UTC)"),
        (IntervalSchedule(timedelta(hours=1, minutes=30)), "every 1h30m after each run"),
        (
            OnceSchedule(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
            "once, at 2030-01-02 03:04:05 UTC",
        ),
    ],
)
def test_schedules_in_words(schedule: object, words: str) -> None:
    assert describe(schedule) == words


def test_next_runs_in_utc_and_the_schedules_zone() -> None:
    runs = next_runs(CronSchedule("0 9 * * *", "Asia/Tokyo"), 3)
    assert len(runs) == 3
    assert runs[0]["utc"].hour == 0
    assert runs[0]["local"].startswith(runs[0]["utc"].strftime("%Y-%m-%d 09:00:00 JST"))


def test_typed_schedules() -> None:
    assert parse_schedule("*/5 * * * *") == CronSchedule("*/5 * * * *")
    assert parse_schedule("0 9 * * *", "Europe/Oslo") == CronSchedule("0 9 * * *", "Europe/Oslo")
    assert parse_schedule("interval:15m") == IntervalSchedule(timedelta(minutes=15))
    with pytest.raises(UnsupportedScheduleError, match="nope"):
        parse_schedule("nope:1")
    with pytest.raises(InvalidCronExpressionError):
        parse_schedule("61 * * * *")
    with pytest.raises(ValueError, match="timezone goes with a cron expression"):
        parse_schedule("interval:15m", "UTC")
    with pytest.raises(ValueError, match="give a cron expression"):
        parse_schedule("   ")
    with pytest.raises(ValueError, match="longer than"):
        parse_schedule("x" * 2000)
