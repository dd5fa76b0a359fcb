"""Interval, start-at-interval and once schedules: validation, values, exact fire times."""

from __future__ import annotations

import copy
import pickle
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tickwork import (
    IntervalSchedule,
    InvalidIntervalError,
    InvalidScheduleTimeError,
    OnceSchedule,
    Schedule,
    StartAtIntervalSchedule,
    TickworkError,
)
from tickwork._durations import format_go_duration

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2025, 10, 2, 15, 4, 5, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "schedules.md"

BAD_INTERVALS: list[Any] = [
    None,
    0,
    -1,
    0.0,
    -0.5,
    1e-7,  # rounds to zero microseconds
    float("nan"),
    float("inf"),
    1e300,
    True,
    "5m",
    timedelta(0),
    -timedelta(seconds=1),
    [60],
]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _is_utc(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


# --- IntervalSchedule ----------------------------------------------------------------


def test_interval_accessor_positional_and_keyword() -> None:
    assert IntervalSchedule(timedelta(minutes=5)).interval == timedelta(minutes=5)
    assert IntervalSchedule(interval=timedelta(minutes=5)).interval == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(30, timedelta(seconds=30)), (0.5, timedelta(milliseconds=500)), (86400, timedelta(days=1))],
)
def test_interval_accepts_seconds_as_numbers(seconds: float, expected: timedelta) -> None:
    schedule = IntervalSchedule(seconds)
    assert schedule.interval == expected
    assert isinstance(schedule.interval, timedelta)


@pytest.mark.parametrize("bad", BAD_INTERVALS, ids=repr)
def test_interval_rejects_non_positive_or_non_durations(bad: Any) -> None:
    with pytest.raises(InvalidIntervalError) as caught:
        IntervalSchedule(bad)
    # A timedelta is shown as a duration (-5s), not as timedelta(days=-1, seconds=86395).
    shown = format_go_duration(bad) if isinstance(bad, timedelta) else repr(bad)
    assert shown in str(caught.value)
    assert caught.value.interval is bad or caught.value.interval == bad or bad != bad
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TickworkError)


def test_interval_next_adds_elapsed_time() -> None:
    schedule = IntervalSchedule(timedelta(minutes=5))
    assert schedule.next(T0) == T0 + timedelta(minutes=5)
    assert _is_utc(schedule.next(T0))


def test_interval_next_counts_elapsed_time_across_dst() -> None:
    # 01:30 CET + 1h is 03:30 CEST on the spring-forward day: one real hour.
    before = datetime(2025, 3, 30, 1, 30, tzinfo=PARIS)
    result = IntervalSchedule(timedelta(hours=1)).next(before)
    assert result == _utc(2025, 3, 30, 1, 30)
    assert result is not None
    assert result.astimezone(PARIS).hour == 3


def test_interval_next_takes_naive_datetimes_as_local_time() -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    expected = naive.astimezone(UTC) + timedelta(seconds=10)
    assert IntervalSchedule(10).next(naive) == expected


def test_interval_next_past_datetime_max_is_none() -> None:
    assert IntervalSchedule(timedelta(days=2)).next(datetime.max.replace(tzinfo=UTC)) is None


def test_next_needs_a_datetime() -> None:
    with pytest.raises(TypeError, match="datetime"):
        IntervalSchedule(5).next("2025-01-01")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="datetime"):
        OnceSchedule(T0).next(None)  # type: ignore[arg-type]


# --- StartAtIntervalSchedule ---------------------------------------------------------


def test_start_at_interval_accessors() -> None:
    schedule = StartAtIntervalSchedule(T0, timedelta(hours=1))
    assert schedule.start_at == T0
    assert schedule.interval == timedelta(hours=1)
    keyword = StartAtIntervalSchedule(start_at=T0, interval=timedelta(hours=1))
    assert keyword == schedule


@pytest.mark.parametrize("bad", [None, "2025-01-01T00:00:00Z", date(2025, 1, 1), 1735689600])
def test_start_at_must_be_a_datetime(bad: Any) -> None:
    with pytest.raises(InvalidScheduleTimeError, match="start_at") as caught:
        StartAtIntervalSchedule(bad, timedelta(hours=1))
    assert repr(bad) in str(caught.value)


@pytest.mark.parametrize("bad", BAD_INTERVALS, ids=repr)
def test_start_at_interval_validates_interval(bad: Any) -> None:
    with pytest.raises(InvalidIntervalError):
        StartAtIntervalSchedule(T0, bad)


def test_start_at_is_normalised_to_utc() -> None:
    schedule = StartAtIntervalSchedule(datetime(2025, 7, 1, 9, 0, tzinfo=PARIS), 60)
    assert schedule.start_at == _utc(2025, 7, 1, 7, 0)
    assert schedule.start_at.tzinfo is UTC
    naive = datetime(2025, 7, 1, 9, 0)
    assert StartAtIntervalSchedule(naive, 60).start_at == naive.astimezone(UTC)


def test_start_at_interval_next() -> None:
    schedule = StartAtIntervalSchedule(T0, timedelta(hours=1))
    assert schedule.next(T0 - timedelta(days=3)) == T0
    assert schedule.next(T0 - timedelta(microseconds=1)) == T0
    assert schedule.next(T0) == T0 + timedelta(hours=1)  # strictly after
    assert schedule.next(T0 + timedelta(minutes=59)) == T0 + timedelta(hours=1)
    assert schedule.next(T0 + timedelta(hours=1)) == T0 + timedelta(hours=2)
    assert schedule.next(T0 + timedelta(hours=5, seconds=1)) == T0 + timedelta(hours=6)
    assert _is_utc(schedule.next(T0))


def test_start_at_interval_is_exact_far_from_start() -> None:
    # 7 µs never divides a second evenly; float arithmetic would drift off the grid.
    start = _utc(2000, 1, 1)
    schedule = StartAtIntervalSchedule(start, timedelta(microseconds=7))
    after = _utc(2999, 12, 31, 23, 59, 59, 999_999)
    result = schedule.next(after)
    assert result is not None
    assert result > after
    assert (result - start) % timedelta(microseconds=7) == timedelta(0)
    assert result - timedelta(microseconds=7) <= after


def test_start_at_interval_near_datetime_max_is_none() -> None:
    schedule = StartAtIntervalSchedule(T0, timedelta(days=365))
    assert schedule.next(datetime.max.replace(tzinfo=UTC) - timedelta(days=1)) is None


# --- OnceSchedule --------------------------------------------------------------------


def test_once_accessor_and_next() -> None:
    schedule = OnceSchedule(T0)
    assert schedule.run_at == T0
    assert OnceSchedule(run_at=T0) == schedule
    assert schedule.next(T0 - timedelta(seconds=1)) == T0
    assert schedule.next(T0) is None
    assert schedule.next(T0 + timedelta(days=1)) is None


def test_once_first_run_is_run_at_even_in_the_past() -> None:
    schedule = OnceSchedule(T0)
    assert schedule.first_run(T0 + timedelta(days=30)) == T0
    assert schedule.first_run(T0 - timedelta(days=30)) == T0


@pytest.mark.parametrize("bad", [None, "2025-10-02T15:04:05Z", date(2025, 10, 2), 0.0])
def test_once_run_at_must_be_a_datetime(bad: Any) -> None:
    with pytest.raises(InvalidScheduleTimeError, match="run_at") as caught:
        OnceSchedule(bad)
    assert repr(bad) in str(caught.value)


def test_once_run_at_is_normalised_to_utc() -> None:
    schedule = OnceSchedule(datetime(2025, 1, 1, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata")))
    assert schedule.run_at == _utc(2025, 1, 1, 6, 30)
    assert schedule.run_at.tzinfo is UTC


def test_unrepresentable_times_are_rejected_not_overflowing() -> None:
    too_early = datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(InvalidScheduleTimeError):
        OnceSchedule(too_early)


# --- values --------------------------------------------------------------------------


def test_equal_schedules_are_equal_and_hash_alike() -> None:
    pairs = [
        (IntervalSchedule(timedelta(seconds=60)), IntervalSchedule(60)),
        (
            StartAtIntervalSchedule(T0, timedelta(hours=1)),
            StartAtIntervalSchedule(T0.astimezone(PARIS), 3600),
        ),
        (OnceSchedule(T0), OnceSchedule(T0.astimezone(ZoneInfo("America/New_York")))),
    ]
    for left, right in pairs:
        assert left == right
        assert hash(left) == hash(right)
        assert len({left, right}) == 1


def test_different_schedules_differ() -> None:
    values = [
        IntervalSchedule(60),
        IntervalSchedule(61),
        StartAtIntervalSchedule(T0, 60),
        StartAtIntervalSchedule(T0 + timedelta(seconds=1), 60),
        OnceSchedule(T0),
        OnceSchedule(T0 + timedelta(microseconds=1)),
    ]
    assert len(set(values)) == len(values)
    assert IntervalSchedule(60) != 60


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        (IntervalSchedule(60), "interval"),
        (StartAtIntervalSchedule(T0, 60), "start_at"),
        (StartAtIntervalSchedule(T0, 60), "interval"),
        (OnceSchedule(T0), "run_at"),
    ],
)
def test_schedules_are_immutable(schedule: Any, field: str) -> None:
    with pytest.raises(AttributeError):
        setattr(schedule, field, getattr(schedule, field))
    with pytest.raises(AttributeError):
        schedule.anything_else = 1


def test_schedules_copy_and_pickle() -> None:
    for schedule in (IntervalSchedule(60), StartAtIntervalSchedule(T0, 60), OnceSchedule(T0)):
        assert copy.deepcopy(schedule) == schedule
        assert pickle.loads(pickle.dumps(schedule)) == schedule


def test_schedules_satisfy_the_protocol() -> None:
    for schedule in (IntervalSchedule(60), StartAtIntervalSchedule(T0, 60), OnceSchedule(T0)):
        assert isinstance(schedule, Schedule)


def test_reprs_are_readable() -> None:
    assert repr(IntervalSchedule(timedelta(minutes=5))) == "IntervalSchedule(interval=5m0s)"
    assert repr(StartAtIntervalSchedule(T0, timedelta(hours=1))) == (
        "StartAtIntervalSchedule(start_at=2025-10-02T15:04:05Z, interval=1h0m0s)"
    )
    assert repr(OnceSchedule(T0 + timedelta(microseconds=5))) == (
        "OnceSchedule(run_at=2025-10-02T15:04:05.000005Z)"
    )


# --- docs ----------------------------------------------------------------------------


def test_docs_examples_run() -> None:
    """Every Python block of docs/schedules.md runs (their asserts are the checks)."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, f"no python examples found in {DOCS}"
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {})
