"""Cron schedules: parsing, zones, values, and exact fire times across DST changes."""

from __future__ import annotations

import copy
import pickle
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.fire_times import chain, utc

from tickwork import (
    CronSchedule,
    CronSpec,
    InvalidCronExpressionError,
    InvalidScheduleConfigError,
    Schedule,
)

# --- construction --------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",
        "0 10 * * 5",
        "30 14 * * *",
        "0 0 1 * *",
        "*/5 * * * *",
        "0 9 * * 1-5",
        "0 9 * * MON-FRI",
        "0 9 * * mon,wed,fri",
        "0 0 1 jan *",
        "0 0 1 JAN-JUN/2 *",
        "0 0 * * 0",
        "0 0 * * 7",
        "0 0 * * mon-sun",
        "0 0 ? * 1",
        "0 0 1 * ?",
        "5/15 * * * *",
        "1-59/2 0-23/3 1-31/7 1-12/5 0-6/2",
        "0,15,30,45 * * * *",
        "0 0 29 2 *",
        "00 09 01 01 *",
    ],
)
def test_valid_expressions(expression: str) -> None:
    schedule = CronSchedule(expression)
    assert schedule.expression == expression
    assert schedule.next(utc(2025, 1, 1)) is not None


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("* * * *", "5 fields"),
        ("* * * * * * *", "a year field is not supported"),
        ("0 0 1 1 * 2030", "day-of-week value '2030' is out of range"),
        ("@every 5m", "use an interval schedule"),
        ("@reboot", "unknown descriptor"),
        ("@daily 9", "unknown descriptor"),
        ("60 * * * *", "out of range"),
        ("* 24 * * *", "out of range"),
        ("* * 0 * *", "out of range"),
        ("* * 32 * *", "out of range"),
        ("* * * 13 *", "out of range"),
        ("* * * * 8", "out of range"),
        ("99999999999999999999 * * * *", "out of range"),
        ("-1 * * * *", "not valid"),
        ("5-1 * * * *", "backwards"),
        ("0 0 * * fri-mon", "backwards"),
        ("*/0 * * * *", "at least 1"),
        ("1,,2 * * * *", "not valid"),
        ("1- * * * *", "not valid"),
        ("*/ * * * *", "not valid"),
        ("/5 * * * *", "not valid"),
        ("? * * * *", "'?'"),
        ("0 0 ?/2 * *", "'?'"),
        ("0 0 * foo *", "unknown name"),
        ("0 0 * * jan", "unknown name"),
        ("0 0 * mon *", "unknown name"),
        ("0 0 * * L", "ambiguous"),
        ("0 0 L-31 * *", "more than 30"),
        ("0 0 32W * *", "out of range"),
        ("0 0 * * 5#6", "1 to 5"),
        ("0 0 * * 5#0", "1 to 5"),
        ("0 0 * * 8L", "out of range"),
        ("0 0 * * funL", "unknown name"),
        ("0 0 W * *", "unknown name"),
        ("0 0 L-29 2 *", "never matches"),
        ("1 2 3 4 5 6 7 8", "or 6 with a leading second field"),
        ("0 0 30W 2 *", "never matches"),
        ("H * * * *", "not supported"),
        ("R * * * *", "not supported"),
        ("\u0663 * * * *", "not valid"),  # an Arabic-Indic digit
        ("0 0 30 2 *", "never matches"),
        ("0 0 31 4,6,9,11 *", "never matches"),
        ("CRON_TZ=Europe/Paris 0 9 * * *", "timezone="),
    ],
)
def test_invalid_expressions(expression: str, reason: str) -> None:
    with pytest.raises(InvalidCronExpressionError, match=reason) as caught:
        CronSchedule(expression)
    assert repr(expression) in str(caught.value)
    assert caught.value.expression == expression
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("bad", [None, 5, b"* * * * *", ["*"] * 5])
def test_expression_must_be_a_string(bad: Any) -> None:
    with pytest.raises(InvalidCronExpressionError, match="string") as caught:
        CronSchedule(bad)
    assert repr(bad) in str(caught.value)


def test_whitespace_is_normalised() -> None:
    schedule = CronSchedule("  0\t9   * *  1-5 ")
    assert schedule.expression == "0 9 * * 1-5"
    assert schedule == CronSchedule("0 9 * * 1-5")


# --- time zones ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "name"),
    [
        ("UTC", "UTC"),
        ("Europe/Paris", "Europe/Paris"),
        (ZoneInfo("America/New_York"), "America/New_York"),
        (UTC, "UTC"),
        (timezone(timedelta(0)), "UTC"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ],
)
def test_zone_accessors(zone: Any, name: str) -> None:
    schedule = CronSchedule("0 9 * * *", zone)
    assert schedule.timezone == name
    assert schedule.tzinfo == ZoneInfo(name)
    assert CronSchedule("0 9 * * *", timezone=zone) == schedule


def test_default_zone_is_utc() -> None:
    schedule = CronSchedule("0 9 * * *")
    assert schedule.timezone == "UTC"
    assert schedule.next(utc(2025, 6, 1)) == utc(2025, 6, 1, 9)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "utc ", "Europe", "../etc/passwd", "/etc/x"])
def test_unknown_zone(zone: str) -> None:
    with pytest.raises(InvalidScheduleConfigError, match="unknown time zone") as caught:
        CronSchedule("0 9 * * *", zone)
    assert caught.value.schedule_type == "cron"
    assert repr(zone) in str(caught.value)


@pytest.mark.parametrize(
    "zone", [timezone(timedelta(hours=1)), timezone(timedelta(hours=-5), "EST")]
)
def test_fixed_offsets_are_refused_with_a_hint(zone: Any) -> None:
    with pytest.raises(InvalidScheduleConfigError, match="IANA zone name"):
        CronSchedule("0 9 * * *", zone)


@pytest.mark.parametrize("zone", [None, 1, object()])
def test_zone_of_the_wrong_type(zone: Any) -> None:
    with pytest.raises(InvalidScheduleConfigError, match="IANA name"):
        CronSchedule("0 9 * * *", zone)


# --- CronSpec ------------------------------------------------------------------------


def test_cron_spec_defaults_and_expression() -> None:
    assert CronSpec().expression == "* * * * *"
    spec = CronSpec(minute="0", hour="10", day_of_week="5")
    assert spec.expression == "0 10 * * 5"
    assert CronSpec("30", "14").expression == "30 14 * * *"


def test_cron_spec_empty_fields_mean_any() -> None:
    spec = CronSpec(minute="*/5", hour="", day_of_month=" ", month=None, day_of_week="")  # type: ignore[arg-type]
    assert spec.expression == "*/5 * * * *"
    assert spec.hour == "*"


def test_cron_spec_accepts_integers() -> None:
    assert CronSpec(minute=0, hour=9).expression == "0 9 * * *"  # type: ignore[arg-type]


def test_cron_spec_rejects_other_types() -> None:
    with pytest.raises(InvalidCronExpressionError, match="CronSpec field"):
        CronSpec(minute=[0])  # type: ignore[arg-type]


def test_from_spec() -> None:
    spec = CronSpec(minute="0", hour="9", day_of_week="1-5")
    schedule = CronSchedule.from_spec(spec, "Europe/Paris")
    assert schedule == CronSchedule("0 9 * * 1-5", "Europe/Paris")
    assert CronSchedule.from_spec(CronSpec(minute="*/5")).timezone == "UTC"
    with pytest.raises(InvalidCronExpressionError, match="hour"):
        CronSchedule.from_spec(CronSpec(hour="25"))
    with pytest.raises(InvalidCronExpressionError, match="CronSpec"):
        CronSchedule.from_spec("0 9 * * *")  # type: ignore[arg-type]


def test_cron_spec_is_an_immutable_value() -> None:
    spec = CronSpec(minute="0")
    assert spec == CronSpec("0")
    assert hash(spec) == hash(CronSpec("0"))
    with pytest.raises(AttributeError):
        spec.minute = "5"  # type: ignore[misc]


# --- values --------------------------------------------------------------------------


def test_equality_and_hash() -> None:
    a = CronSchedule("0 9 * * *", "Europe/Paris")
    b = CronSchedule("0 9 * * *", ZoneInfo("Europe/Paris"))
    assert a == b
    assert hash(a) == hash(b)
    assert a != CronSchedule("0 9 * * *", "Europe/Berlin")
    assert a != CronSchedule("0 10 * * *", "Europe/Paris")
    assert CronSchedule("0 9 * * *", UTC) == CronSchedule("0 9 * * *")


def test_immutable() -> None:
    schedule = CronSchedule("0 9 * * *")
    with pytest.raises(AttributeError):
        schedule.expression = "* * * * *"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        schedule.timezone = "Europe/Paris"  # type: ignore[misc]


def test_copy_pickle_and_repr() -> None:
    schedule = CronSchedule("0 9 * * 1-5", "Europe/Paris")
    assert copy.deepcopy(schedule) == schedule
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert repr(schedule) == "CronSchedule(expression='0 9 * * 1-5', timezone='Europe/Paris')"
    assert isinstance(schedule, Schedule)


# --- fire times ----------------------------------------------------------------------


def test_every_friday_at_ten() -> None:
    schedule = CronSchedule("0 10 * * 5")
    assert chain(schedule, utc(2025, 10, 1), 3) == [
        utc(2025, 10, 3, 10),
        utc(2025, 10, 10, 10),
        utc(2025, 10, 17, 10),
    ]


def test_next_is_strictly_after() -> None:
    schedule = CronSchedule("*/5 * * * *")
    assert schedule.next(utc(2025, 1, 1, 0, 5)) == utc(2025, 1, 1, 0, 10)
    assert schedule.next(utc(2025, 1, 1, 0, 4, 59, 999_999)) == utc(2025, 1, 1, 0, 5)
    assert schedule.next(utc(2025, 1, 1, 0, 5, 0, 1)) == utc(2025, 1, 1, 0, 10)


def test_inputs_in_any_zone_and_naive_local() -> None:
    schedule = CronSchedule("0 9 * * *", "Europe/Paris")
    expected = utc(2025, 6, 2, 7)
    assert schedule.next(datetime(2025, 6, 2, 8, 59, tzinfo=ZoneInfo("Europe/Paris"))) == expected
    assert (
        schedule.next(datetime(2025, 6, 2, 2, 0, tzinfo=ZoneInfo("America/New_York"))) == expected
    )
    naive = datetime(2025, 6, 2, 6, 0)
    assert schedule.next(naive) == CronSchedule("0 9 * * *", "Europe/Paris").next(
        naive.astimezone(UTC)
    )


def test_results_are_aware_utc() -> None:
    result = CronSchedule("0 9 * * *", "Asia/Kolkata").next(utc(2025, 1, 1))
    assert result == utc(2025, 1, 1, 3, 30)
    assert result is not None
    assert result.tzinfo is UTC


def test_day_of_month_or_day_of_week() -> None:
    # Both restricted: the 13th, and every Friday (classic cron).
    schedule = CronSchedule("0 0 13 * 5")
    assert chain(schedule, utc(2025, 6, 1), 4) == [
        utc(2025, 6, 6),
        utc(2025, 6, 13),  # a Friday the 13th fires once
        utc(2025, 6, 20),
        utc(2025, 6, 27),
    ]
    # One side is "*": only the other restricts.
    assert CronSchedule("0 0 * * 5").next(utc(2025, 6, 7)) == utc(2025, 6, 13)


def test_sunday_is_0_and_7() -> None:
    after = utc(2025, 6, 2)
    assert CronSchedule("0 0 * * 0").next(after) == utc(2025, 6, 8)
    assert CronSchedule("0 0 * * 7").next(after) == utc(2025, 6, 8)
    assert CronSchedule("0 0 * * sun").next(after) == utc(2025, 6, 8)


def test_leap_day() -> None:
    assert CronSchedule("0 0 29 2 *").next(utc(2025, 3, 1)) == utc(2028, 2, 29)


def test_near_datetime_max_is_none() -> None:
    assert CronSchedule("0 0 1 1 *").next(utc(9999, 6, 1)) is None
    assert CronSchedule("* * * * *", "Pacific/Kiritimati").next(utc(9999, 12, 31, 23)) is None
    assert CronSchedule("* * * * *").next(utc(9999, 12, 31, 23, 58)) == utc(9999, 12, 31, 23, 59)


# --- daylight saving -----------------------------------------------------------------
# Europe/Paris: 2025-03-30 02:00 CET -> 03:00 CEST (01:00 UTC); 2025-10-26 03:00 CEST ->
# 02:00 CET (01:00 UTC). America/New_York: 2025-03-09 02:00 EST -> 03:00 EDT (07:00 UTC);
# 2025-11-02 02:00 EDT -> 01:00 EST (06:00 UTC).


def test_paris_spring_forward_daily_run_moves_to_0300() -> None:
    schedule = CronSchedule("30 2 * * *", "Europe/Paris")
    assert chain(schedule, utc(2025, 3, 28, 12), 4) == [
        utc(2025, 3, 29, 1, 30),  # 02:30 CET
        utc(2025, 3, 30, 1, 0),  # 02:30 does not exist: 03:00 CEST
        utc(2025, 3, 31, 0, 30),  # 02:30 CEST
        utc(2025, 4, 1, 0, 30),
    ]


def test_paris_spring_forward_gap_collapses_into_one_run() -> None:
    schedule = CronSchedule("*/15 * * * *", "Europe/Paris")
    assert chain(schedule, utc(2025, 3, 30, 0, 20), 5) == [
        utc(2025, 3, 30, 0, 30),  # 01:30 CET
        utc(2025, 3, 30, 0, 45),  # 01:45 CET
        utc(2025, 3, 30, 1, 0),  # 02:00-02:45 collapse with 03:00 CEST: one run
        utc(2025, 3, 30, 1, 15),  # 03:15 CEST
        utc(2025, 3, 30, 1, 30),
    ]


def test_paris_fall_back_daily_run_fires_once_at_first_occurrence() -> None:
    schedule = CronSchedule("30 2 * * *", "Europe/Paris")
    assert chain(schedule, utc(2025, 10, 25, 12), 2) == [
        utc(2025, 10, 26, 0, 30),  # 02:30 CEST, the first 02:30
        utc(2025, 10, 27, 1, 30),  # next day's 02:30 CET; the second 02:30 is skipped
    ]


def test_paris_fall_back_repeated_hour_fires_only_on_its_first_pass() -> None:
    schedule = CronSchedule("*/20 * * * *", "Europe/Paris")
    assert chain(schedule, utc(2025, 10, 25, 23, 30), 7) == [
        utc(2025, 10, 25, 23, 40),  # 01:40 CEST
        utc(2025, 10, 26, 0, 0),  # 02:00 CEST
        utc(2025, 10, 26, 0, 20),
        utc(2025, 10, 26, 0, 40),  # 02:40 CEST
        utc(2025, 10, 26, 2, 0),  # 03:00 CET: 02:00-02:40 CET do not fire again
        utc(2025, 10, 26, 2, 20),
        utc(2025, 10, 26, 2, 40),
    ]


def test_paris_from_inside_the_second_pass() -> None:
    schedule = CronSchedule("*/20 * * * *", "Europe/Paris")
    assert schedule.next(utc(2025, 10, 26, 1, 30)) == utc(2025, 10, 26, 2, 0)
    daily = CronSchedule("0 2 * * *", "Europe/Paris")
    assert daily.next(utc(2025, 10, 26, 1, 0)) == utc(2025, 10, 27, 1, 0)


def test_new_york_spring_forward() -> None:
    assert CronSchedule("30 2 * * *", "America/New_York").next(utc(2025, 3, 8, 12)) == utc(
        2025, 3, 9, 7, 0
    )
    # 02:30 collapses into 03:00 EDT, which also matches: still one run there.
    schedule = CronSchedule("30 2 * * *", "America/New_York")
    assert chain(schedule, utc(2025, 3, 8, 12), 2) == [
        utc(2025, 3, 9, 7),
        utc(2025, 3, 10, 6, 30),
    ]
    both = CronSchedule("0,30 2,3 * * *", "America/New_York")
    assert chain(both, utc(2025, 3, 9, 6, 0), 3) == [
        utc(2025, 3, 9, 7, 0),  # 02:00 and 02:30 EST do not exist; 03:00 EDT
        utc(2025, 3, 9, 7, 30),  # 03:30 EDT
        utc(2025, 3, 10, 6, 0),  # 02:00 EDT next day
    ]


def test_new_york_hourly_across_both_changes() -> None:
    hourly = CronSchedule("0 * * * *", "America/New_York")
    assert chain(hourly, utc(2025, 3, 9, 5, 30), 3) == [
        utc(2025, 3, 9, 6),  # 01:00 EST
        utc(2025, 3, 9, 7),  # 03:00 EDT (02:00 does not exist)
        utc(2025, 3, 9, 8),
    ]
    assert chain(hourly, utc(2025, 11, 2, 4, 30), 3) == [
        utc(2025, 11, 2, 5),  # 01:00 EDT
        utc(2025, 11, 2, 7),  # 02:00 EST; 01:00 EST (06:00 UTC) is the repeat
        utc(2025, 11, 2, 8),
    ]


def test_new_york_fall_back() -> None:
    schedule = CronSchedule("30 1 * * *", "America/New_York")
    assert chain(schedule, utc(2025, 10, 31, 12), 3) == [
        utc(2025, 11, 1, 5, 30),  # 01:30 EDT
        utc(2025, 11, 2, 5, 30),  # the first 01:30, EDT
        utc(2025, 11, 3, 6, 30),  # 01:30 EST
    ]


def test_lord_howe_half_hour_shift() -> None:
    # Australia/Lord_Howe moves by 30 minutes: +10:30 <-> +11:00 at 02:00 local.
    spring = CronSchedule("15 2 * * *", "Australia/Lord_Howe")
    assert chain(spring, utc(2025, 10, 3, 12), 3) == [
        utc(2025, 10, 3, 15, 45),  # 02:15 +10:30
        utc(2025, 10, 4, 15, 30),  # 02:15 does not exist on 5 October: 02:30 +11:00
        utc(2025, 10, 5, 15, 15),  # 02:15 +11:00
    ]
    autumn = CronSchedule("45 1 * * *", "Australia/Lord_Howe")
    assert chain(autumn, utc(2025, 4, 4, 12), 3) == [
        utc(2025, 4, 4, 14, 45),
        utc(2025, 4, 5, 14, 45),  # the first 01:45 (+11:00) of 6 April
        utc(2025, 4, 6, 15, 15),  # 01:45 +10:30
    ]


def test_zone_without_dst() -> None:
    schedule = CronSchedule("0 9 * * *", "Asia/Kolkata")
    assert chain(schedule, utc(2025, 3, 29), 2) == [
        utc(2025, 3, 29, 3, 30),
        utc(2025, 3, 30, 3, 30),
    ]


# --- operational ---------------------------------------------------------------------


def test_next_is_fast() -> None:
    schedule = CronSchedule("0 9 * * 1-5", "Europe/Paris")
    after = utc(2025, 6, 1)
    schedule.next(after)
    started = time.perf_counter()
    for _ in range(500):
        schedule.next(after)
    per_call = (time.perf_counter() - started) / 500
    assert per_call < 0.002, f"next() took {per_call * 1e3:.2f} ms"


def test_next_is_thread_safe() -> None:
    schedule = CronSchedule("*/7 1-5 * * *", "America/New_York")
    starts = [utc(2025, 1, 1) + timedelta(minutes=13 * i) for i in range(400)]
    expected = [schedule.next(start) for start in starts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(schedule.next, starts)) == expected
