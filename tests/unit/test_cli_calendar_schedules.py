"""Calendar intervals, bounds, unions, exclusions and holiday calendars from the
configuration file (``schedule = ...``) and the command line (``--schedule`` of
``jobs add`` and ``explain``): the same schedule as the API builds, and one-line errors
naming the job for bad ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tickwork import (
    BoundedSchedule,
    CalendarIntervalSchedule,
    CronSchedule,
    ExceptDatesSchedule,
    UnionSchedule,
    default_codec,
)
from tickwork.cli import main
from tickwork.cli._config import ConfigError, load_config
from tickwork_holidays import HolidayExclusionSchedule

HEAD = '[scheduler]\nhandler = "os:getcwd"\n'
FORTNIGHTLY = CalendarIntervalSchedule(
    every=2, unit="weeks", start="2025-01-06", at="09:00", timezone="Europe/Paris"
)


def _schedule(tmp_path: Path, job: str) -> object:
    path = tmp_path / "worker.toml"
    path.write_text(HEAD + '[[jobs]]\nid = "a"\n' + job, encoding="utf-8")
    return load_config(path).jobs[0].schedule


def test_a_calendar_interval_as_a_toml_table(tmp_path: Path) -> None:
    job = (
        'schedule = { type = "calendar_interval", config = { every = 2, unit = "weeks", '
        'start = 2025-01-06, at = 09:00:00, timezone = "Europe/Paris" } }\n'
    )
    assert _schedule(tmp_path, job) == FORTNIGHTLY


def test_bounds_union_and_exclusions_nest_as_tables(tmp_path: Path) -> None:
    job = """
[jobs.schedule]
type = "bounded"
[jobs.schedule.config]
start = 2025-01-01T00:00:00Z
max_runs = 10
[jobs.schedule.config.schedule]
type = "except_dates"
[jobs.schedule.config.schedule.config]
dates = ["2025-12-25"]
timezone = "Europe/Paris"
[jobs.schedule.config.schedule.config.schedule]
type = "union"
[[jobs.schedule.config.schedule.config.schedule.config.schedules]]
type = "cron"
config = "CRON_TZ=Europe/Paris 0 9 * * 1-5"
[[jobs.schedule.config.schedule.config.schedule.config.schedules]]
type = "except_holidays"
[jobs.schedule.config.schedule.config.schedule.config.schedules.config]
schedule = { type = "cron", config = "0 12 * * *" }
country = "FR"
subdivision = "974"
categories = ["public"]
timezone = "UTC"
"""
    expected = BoundedSchedule(
        schedule=ExceptDatesSchedule(
            schedule=UnionSchedule(
                [
                    CronSchedule("0 9 * * 1-5", "Europe/Paris"),
                    HolidayExclusionSchedule(
                        schedule=CronSchedule("0 12 * * *"), country="FR", subdivision="974"
                    ),
                ]
            ),
            dates=["2025-12-25"],
            timezone="Europe/Paris",
        ),
        start=datetime(2025, 1, 1, tzinfo=UTC),
        max_runs=10,
    )
    assert _schedule(tmp_path, job) == expected


def test_the_stored_form_as_a_string(tmp_path: Path) -> None:
    kind, config = default_codec().encode(FORTNIGHTLY)
    assert _schedule(tmp_path, f"schedule = '{kind}:{config}'\n") == FORTNIGHTLY


@pytest.mark.parametrize(
    ("job", "fragment"),
    [
        ('schedule = "calendar_interval"\n', "TYPE:CONFIG"),
        ('schedule = { type = "nope", config = "" }\n', "'nope'"),
        (
            'schedule = { type = "calendar_interval", config = { every = 0, unit = "days", '
            'start = 2025-01-01, at = "09:00", timezone = "UTC" } }\n',
            "every must be",
        ),
        ('schedule = "interval:5m"\ncron = "* * * * *"\n', "schedule goes alone"),
        (
            'schedule = { type = "bounded", config = { schedule = { type = "cron", config = '
            '"0 9 * * *" }, start = 2025-01-01T00:00:00 } }\n',
            "UTC offset",
        ),
    ],
)
def test_bad_schedules_are_one_line_errors_naming_the_job(
    tmp_path: Path, job: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _schedule(tmp_path, job)
    assert "\n" not in str(info.value)
    assert "job 'a'" in str(info.value)
    assert fragment in str(info.value)


def test_jobs_add_and_explain_take_the_stored_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    kind, config = default_codec().encode(FORTNIGHTLY)
    assert main(["jobs", "--store", db, "add", "report", "--schedule", f"{kind}:{config}"]) == 0
    assert "calendar_interval" in capsys.readouterr().out
    argv = ["explain", f"{kind}:{config}", "--after", "2025-03-01T00:00:00Z", "--count", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2025-03-03 09:00:00 CET" in out
    assert "2025-03-31 09:00:00 CEST" in out  # across the change, still 09:00
