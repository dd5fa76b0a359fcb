"""The third-party example plugin tickwork-rrule, as a user would meet it.

It is discovered through its entry point only, its schedules persist in a real store
(SQLite) and reload after a restart, in this process and across separate processes,
with no change to the core. Property tests compare ``RRuleSchedule.next`` with a slow
reference that walks the whole rule, and fuzz the codec.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr  # type: ignore[import-untyped, unused-ignore]
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.services import IN_CI

import tickwork
from tickwork import (
    AsyncScheduler,
    InvalidScheduleConfigError,
    InvalidScheduleTimeError,
    JobStatus,
    UnsupportedScheduleError,
)
from tickwork.cli import main as tickwork_cli
from tickwork_rrule import RRuleCodec, RRuleSchedule

PARIS = ZoneInfo("Europe/Paris")
JOB_ID = "rrule job"
# Every second, on Paris wall-clock time: fast enough to watch runs in a test.
EVERY_SECOND = RRuleSchedule("FREQ=SECONDLY", datetime(2025, 1, 1, tzinfo=UTC), "Europe/Paris")
EVERY_SECOND_CONFIG = "DTSTART;TZID=Europe/Paris:20250101T010000\nRRULE:FREQ=SECONDLY"

# Under CI=true the SQL store must be there: the tests then run (and fail without it).
needs_sqlite = pytest.mark.skipif(
    "sqlalchemy" not in tickwork.available_plugins()["stores"] and not IN_CI,
    reason="needs the SQL store: install tickwork-sqlalchemy-store (python3 dev.py setup)",
)


# --- discovery -------------------------------------------------------------------------


def test_the_distribution_declares_its_entry_point() -> None:
    (entry,) = [ep for ep in metadata.entry_points(group="tickwork") if ep.name == "rrule"]
    assert entry.value == "tickwork_rrule._plugin"
    assert entry.dist is not None
    assert entry.dist.name == "tickwork-rrule"


def test_discovered_through_its_entry_point() -> None:
    assert "rrule" in tickwork.available_plugins()["codecs"]
    codec = tickwork.default_codec()
    schedule_type, config = codec.encode(EVERY_SECOND)
    assert (schedule_type, config) == ("rrule", EVERY_SECOND_CONFIG)
    assert codec.decode(schedule_type, config) == EVERY_SECOND
    # The built-in types still go through the same composite codec.
    assert codec.encode(tickwork.IntervalSchedule(timedelta(minutes=5))) == ("interval", "5m0s")


def test_listed_by_tickwork_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert tickwork_cli(["plugins"]) == 0
    (line,) = [row for row in capsys.readouterr().out.splitlines() if " rrule " in row]
    # kind, name, the entry point that registered it, its distribution and version
    assert line.split() == ["codec", "rrule", "rrule", "tickwork-rrule", "0.1.0", "RRuleSchedule"]


def _python(code: str, *args: str, plugins: str | None = None, cwd: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter; return its stdout (fail on a non-zero exit)."""
    env = {k: v for k, v in os.environ.items() if k != "TICKWORK_PLUGINS"}
    if plugins is not None:
        env["TICKWORK_PLUGINS"] = plugins
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_importing_the_package_registers_nothing() -> None:
    code = "import tickwork, tickwork_rrule; print(tickwork.available_plugins()['codecs'])"
    assert "rrule" not in _python(code, plugins="")
    assert "rrule" in _python(code, plugins="rrule")


# --- the schedule ----------------------------------------------------------------------


def _paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_value_semantics() -> None:
    a = RRuleSchedule("rrule:freq=weekly;byday=mo,we", _paris(2025, 1, 6, 9), "Europe/Paris")
    b = RRuleSchedule("FREQ=WEEKLY;BYDAY=MO,WE", _utc(2025, 1, 6, 8, 0, 0), PARIS)
    assert a == b
    assert hash(a) == hash(b)
    assert a.rule == "FREQ=WEEKLY;BYDAY=MO,WE"
    assert a.dtstart == _utc(2025, 1, 6, 8)
    assert a.dtstart.tzinfo is UTC
    assert a.timezone == "Europe/Paris"
    assert repr(a) == (
        "RRuleSchedule('FREQ=WEEKLY;BYDAY=MO,WE', dtstart=2025-01-06T08:00:00Z, "
        "timezone='Europe/Paris')"
    )
    assert isinstance(a, tickwork.Schedule)
    with pytest.raises(AttributeError):
        a.rule = "FREQ=DAILY"  # type: ignore[misc]
    assert RRuleSchedule("FREQ=DAILY", _utc(2025, 1, 1, 0, 0, 0) + timedelta(microseconds=9)) == (
        RRuleSchedule("FREQ=DAILY", _utc(2025, 1, 1))
    )


def test_weekly_rule_on_paris_time() -> None:
    schedule = RRuleSchedule("FREQ=WEEKLY;BYDAY=MO,WE", _paris(2025, 1, 6, 9), "Europe/Paris")
    fired, moment = [], _utc(2025, 3, 25)
    for _ in range(4):
        moment = schedule.next(moment)  # type: ignore[assignment]
        fired.append(moment)
    # Daylight saving starts on Sunday 30 March: 09:00 Paris is 08:00 UTC, then 07:00.
    assert fired == [
        _utc(2025, 3, 26, 8),
        _utc(2025, 3, 31, 7),
        _utc(2025, 4, 2, 7),
        _utc(2025, 4, 7, 7),
    ]
    assert schedule.next(_utc(2025, 3, 31, 7)) == _utc(2025, 4, 2, 7)  # strictly after
    assert schedule.next(_utc(2025, 3, 31, 6, 59, 59)) == _utc(2025, 3, 31, 7)
    assert schedule.next(_utc(2020, 1, 1)) == _utc(2025, 1, 6, 8)  # dtstart comes first


def test_a_time_in_the_spring_gap_fires_once_when_the_gap_ends() -> None:
    daily = RRuleSchedule("FREQ=DAILY", _paris(2025, 3, 1, 2, 30), "Europe/Paris")
    assert daily.next(_utc(2025, 3, 29, 2)) == _utc(2025, 3, 30, 1)  # 03:00 CEST
    assert daily.next(_utc(2025, 3, 30, 1)) == _utc(2025, 3, 31, 0, 30)  # 02:30 CEST
    every_20_min = RRuleSchedule("FREQ=MINUTELY;INTERVAL=20", _paris(2025, 3, 30), "Europe/Paris")
    # 02:00, 02:20 and 02:40 do not exist that night: they collapse into one run at 03:00.
    assert every_20_min.next(_utc(2025, 3, 30, 0, 40)) == _utc(2025, 3, 30, 1)
    assert every_20_min.next(_utc(2025, 3, 30, 1)) == _utc(2025, 3, 30, 1, 20)


def test_a_repeated_time_fires_at_its_first_occurrence() -> None:
    daily = RRuleSchedule("FREQ=DAILY", _paris(2025, 10, 1, 2, 30), "Europe/Paris")
    assert daily.next(_utc(2025, 10, 25, 12)) == _utc(2025, 10, 26, 0, 30)  # 02:30 CEST
    assert daily.next(_utc(2025, 10, 26, 0, 30)) == _utc(2025, 10, 27, 1, 30)  # not 02:30 CET
    # A dtstart given as the second 02:30 is kept as the first one.
    second = _utc(2025, 10, 26, 1, 30)
    assert RRuleSchedule("FREQ=DAILY", second, "Europe/Paris").dtstart == _utc(2025, 10, 26, 0, 30)


def test_samoa_skipping_a_whole_day() -> None:
    # Apia jumped from UTC-10 to UTC+14 at the end of 29 December 2011.
    daily = RRuleSchedule(
        "FREQ=DAILY", datetime(2011, 12, 1, 9, tzinfo=ZoneInfo("Pacific/Apia")), "Pacific/Apia"
    )
    assert daily.next(_utc(2011, 12, 29, 19, 30)) == _utc(2011, 12, 30, 10)  # 30 Dec: gone
    assert daily.next(_utc(2011, 12, 30, 10)) == _utc(2011, 12, 30, 19)  # 31 Dec, 09:00


def test_count_and_until_exhaust_the_rule() -> None:
    counted = RRuleSchedule("FREQ=DAILY;COUNT=3", _utc(2025, 1, 1, 9))
    assert counted.next(_utc(2025, 1, 2, 9)) == _utc(2025, 1, 3, 9)
    assert counted.next(_utc(2025, 1, 3, 9)) is None
    until = RRuleSchedule(
        "FREQ=HOURLY;UNTIL=20250101T120000Z", _paris(2025, 1, 1, 9), "Europe/Paris"
    )
    assert until.next(_utc(2025, 1, 1, 10, 30)) == _utc(2025, 1, 1, 11)
    assert until.next(_utc(2025, 1, 1, 11)) == _utc(2025, 1, 1, 12)
    assert until.next(_utc(2025, 1, 1, 12)) is None


def test_naive_datetimes_are_local_time() -> None:
    naive = datetime(2025, 1, 1, 9)
    schedule = RRuleSchedule("FREQ=DAILY", naive)
    assert schedule.dtstart == naive.astimezone(UTC).replace(microsecond=0)
    assert schedule.next(naive) == schedule.next(naive.astimezone(UTC))


def test_far_ends_of_time() -> None:
    schedule = RRuleSchedule("FREQ=YEARLY", _utc(2025, 6, 1), "Pacific/Kiritimati")
    assert schedule.next(datetime.max.replace(tzinfo=UTC)) is None
    assert schedule.next(datetime.min.replace(tzinfo=UTC)) == _utc(2025, 6, 1)
    assert (
        RRuleSchedule("FREQ=YEARLY;INTERVAL=1000000", _utc(2025, 6, 1)).next(_utc(2026, 1, 1))
        is None
    )


def test_next_rejects_what_is_not_a_datetime() -> None:
    with pytest.raises(TypeError):
        EVERY_SECOND.next("2025-01-01")  # type: ignore[arg-type]


BAD_RULES: list[Any] = [
    None,
    42,
    "",
    "   ",
    "RRULE:",
    "DAILY",
    "FREQ=DAILY;",
    "FREQ=DAILY;INTERVAL",
    "FREQ=FORTNIGHTLY",
    "INTERVAL=2",
    "FREQ=DAILY;INTERVAL=0",  # dateutil would loop forever
    "FREQ=DAILY;INTERVAL=-1",
    "FREQ=DAILY;BYMONTH=13",  # dateutil would walk to year 9999
    "FREQ=MONTHLY;BYMONTHDAY=0",
    "FREQ=DAILY;BYHOUR=24",
    "FREQ=DAILY;BYSECOND=60",
    "FREQ=DAILY;COUNT=0",
    "FREQ=DAILY;FREQ=WEEKLY",
    "FREQ=DAILY;COUNT=3;UNTIL=20250101T000000Z",
    "FREQ=DAILY;UNTIL=20250101",  # RFC 5545: UTC when DTSTART has a zone
    "FREQ=DAILY;UNTIL=tomorrow",
    "FREQ=DAILY;WKST=XX",
    "FREQ=DAILY;BYDAY=FUNDAY",
    "FREQ=DAILY;X-NAME=1",
    "FREQ=DAILY;DTSTART=20250101T000000Z",
    "FREQ=DAILY\nEXDATE:20250102T000000Z",
    "FREQ=DAILY; BYHOUR=9",
    "FREQ=DÄILY",
    "FREQ=DAILY;BYHOUR=" + ",".join(["9"] * 600),
]


@pytest.mark.parametrize("rule", BAD_RULES)
def test_bad_rules(rule: Any) -> None:
    with pytest.raises(InvalidScheduleConfigError) as info:
        RRuleSchedule(rule, _utc(2025, 1, 1))
    assert isinstance(info.value, ValueError)
    assert info.value.schedule_type == "rrule"


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", "../../etc/passwd", "UTC ", None, 5])
def test_bad_time_zones(timezone: Any) -> None:
    with pytest.raises(InvalidScheduleConfigError, match="time zone"):
        RRuleSchedule("FREQ=DAILY", _utc(2025, 1, 1), timezone)


@pytest.mark.parametrize(
    "dtstart", [None, "2025-01-01T00:00:00Z", 1735689600, _utc(2025, 1, 1).date()]
)
def test_dtstart_must_be_a_datetime(dtstart: Any) -> None:
    with pytest.raises(InvalidScheduleTimeError):
        RRuleSchedule("FREQ=DAILY", dtstart)


def test_dtstart_in_a_gap_is_refused() -> None:
    with pytest.raises(InvalidScheduleConfigError, match="does not exist in Europe/Paris"):
        RRuleSchedule("FREQ=DAILY", _paris(2025, 3, 30, 2, 30), "Europe/Paris")


# --- the codec -------------------------------------------------------------------------

ROUND_TRIPS = [
    EVERY_SECOND,
    RRuleSchedule("FREQ=WEEKLY;BYDAY=MO,WE", _paris(2025, 1, 6, 9), "Europe/Paris"),
    RRuleSchedule(
        "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20261231T230000Z", _utc(2025, 1, 1, 17), "America/New_York"
    ),
    RRuleSchedule("FREQ=YEARLY;COUNT=5", _utc(1, 1, 1)),
    RRuleSchedule("FREQ=DAILY", _utc(9999, 12, 31, 23, 59, 59)),
    RRuleSchedule("FREQ=DAILY", _utc(2025, 10, 26, 1, 30), "Europe/Paris"),  # a fold
    RRuleSchedule("FREQ=HOURLY;INTERVAL=3", _utc(2025, 1, 1), "Etc/GMT+5"),
]


@pytest.mark.parametrize("schedule", ROUND_TRIPS, ids=repr)
def test_codec_round_trips(schedule: RRuleSchedule) -> None:
    codec = RRuleCodec()
    schedule_type, config = codec.encode(schedule)
    assert schedule_type == "rrule"
    again = codec.decode(schedule_type, config)
    assert again == schedule
    assert codec.encode(again) == (schedule_type, config)


def test_codec_format() -> None:
    codec = RRuleCodec()
    paris = RRuleSchedule("FREQ=WEEKLY;BYDAY=MO,WE", _paris(2025, 1, 6, 9), "Europe/Paris")
    assert codec.encode(paris) == (
        "rrule",
        "DTSTART;TZID=Europe/Paris:20250106T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE",
    )
    utc = RRuleSchedule("FREQ=DAILY", _utc(2025, 1, 6, 8))
    assert codec.encode(utc) == ("rrule", "DTSTART:20250106T080000Z\nRRULE:FREQ=DAILY")
    for text in (
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE\r\nDTSTART;TZID=Europe/Paris:20250106T090000\r\n",
        "dtstart;tzid=Europe/Paris:20250106t090000\nrrule:freq=weekly;byday=mo,we",
    ):
        assert codec.decode("rrule", text) == paris


def test_codec_refuses_other_types_and_classes() -> None:
    codec = RRuleCodec()
    with pytest.raises(UnsupportedScheduleError):
        codec.encode(tickwork.IntervalSchedule(timedelta(seconds=1)))
    with pytest.raises(UnsupportedScheduleError):
        codec.decode("cron", "0 9 * * *")


BAD_CONFIGS: list[Any] = [
    None,
    b"DTSTART:20250101T000000Z\nRRULE:FREQ=DAILY",
    "",
    "RRULE:FREQ=DAILY",
    "DTSTART:20250101T000000Z",
    "DTSTART:20250101T000000\nRRULE:FREQ=DAILY",  # floating time
    "DTSTART;TZID=Europe/Paris:20250101T000000Z\nRRULE:FREQ=DAILY",
    "DTSTART;TZID=Nowhere/Land:20250101T000000\nRRULE:FREQ=DAILY",
    "DTSTART:20251301T000000Z\nRRULE:FREQ=DAILY",
    "DTSTART:00000101T000000Z\nRRULE:FREQ=DAILY",
    "DTSTART:20250101T250000Z\nRRULE:FREQ=DAILY",
    "DTSTART;TZID=Europe/Paris:20250330T023000\nRRULE:FREQ=DAILY",  # in the gap
    "DTSTART:20250101T000000Z\nRRULE:FREQ=DAILY\nEXDATE:20250102T000000Z",
    "DTSTART:20250101T000000Z\nDTSTART:20250102T000000Z\nRRULE:FREQ=DAILY",
    "DTSTART:20250101T000000Z\nRRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY",
    "DTSTART:20250101T000000Z\nRRULE",
    "DTSTART:20250101T000000Z\nRRULE:INTERVAL=0;FREQ=DAILY",
    "DTSTART:20250101T000000Z\n\nRRULE:FREQ=DAILY",
    "DTSTART:２０２５0101T000000Z\nRRULE:FREQ=DAILY",
    "DTSTART:20250101T000000Z\nRRULE:FREQ=DAILY" + " " * 5000,
]


@pytest.mark.parametrize("config", BAD_CONFIGS)
def test_bad_configs_raise_only_invalid_schedule_config(config: Any) -> None:
    with pytest.raises(InvalidScheduleConfigError) as info:
        RRuleCodec().decode("rrule", config)
    assert info.value.config == config
    assert info.value.schedule_type == "rrule"


# --- properties ------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# How far after dtstart `after` may fall, so the slow reference stays quick.
SPANS = {
    "YEARLY": timedelta(days=365 * 30),
    "MONTHLY": timedelta(days=365 * 10),
    "WEEKLY": timedelta(days=365 * 4),
    "DAILY": timedelta(days=365 * 2),
    "HOURLY": timedelta(days=40),
    "MINUTELY": timedelta(days=1),
    "SECONDLY": timedelta(hours=1),
}
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rules(draw: st.DrawFn) -> str:
    """Rules that always fire again (no impossible day), with or without an end."""
    freq = draw(st.sampled_from(list(SPANS)))
    parts = [f"FREQ={freq}"]
    interval = draw(st.integers(1, 5))
    if interval > 1:
        parts.append(f"INTERVAL={interval}")

    def some(name: str, values: list[Any], most: int) -> None:
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=most, unique=True))
            parts.append(f"{name}={','.join(map(str, chosen))}")

    if freq in ("WEEKLY", "DAILY", "HOURLY"):
        some("BYDAY", DAYS, 3)
    if freq == "MONTHLY":
        some("BYMONTHDAY", [*range(1, 29), -1], 3)
    if freq in ("DAILY", "HOURLY", "WEEKLY"):
        some("BYHOUR", list(range(24)), 3)
    if freq in ("DAILY", "HOURLY", "MINUTELY"):
        some("BYMINUTE", list(range(0, 60, 5)), 3)
    if freq in ("MINUTELY", "SECONDLY"):
        some("BYSECOND", list(range(0, 60, 3)), 3)
    end = draw(st.sampled_from(["", "COUNT", "UNTIL"]))
    if end == "COUNT":
        parts.append(f"COUNT={draw(st.integers(1, 50))}")
    elif end == "UNTIL":
        parts.append("UNTIL=" + draw(st.sampled_from(["20250301T000000Z", "20260101T120000Z"])))
    return ";".join(parts)


def _reference_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a wall-clock time fires at, computed the slow and obvious way."""
    readings = {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    real = [r for r in readings if r.astimezone(zone).replace(tzinfo=None) == wall]
    if real:
        return min(real)
    # In a gap: the first whole minute that exists (transitions fall on whole minutes).
    minute = wall.replace(second=0, microsecond=0)
    while True:
        minute += timedelta(minutes=1)
        instant = minute.replace(tzinfo=zone).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == minute:
            return instant


def _reference_next(schedule: RRuleSchedule, after: datetime) -> datetime | None:
    """Walk every occurrence from DTSTART; keep the earliest instant after ``after``."""
    zone = ZoneInfo(schedule.timezone)
    start = schedule.dtstart.astimezone(zone).replace(tzinfo=None, fold=0)
    best: datetime | None = None
    best_wall = datetime.min
    for occurrence in rrulestr(schedule.rule, dtstart=start.replace(tzinfo=zone)):
        wall = occurrence.replace(tzinfo=None)
        if best is not None and wall > best_wall + timedelta(hours=3):
            break  # these zones move by an hour at most: nothing later can fire earlier
        instant = _reference_instant(wall, zone)
        if instant > after and (best is None or instant < best):
            best, best_wall = instant, wall
    return best


def _schedule_or_reject(rule: str, dtstart: datetime, zone: str) -> RRuleSchedule:
    """The schedule, or a rejected example when dateutil finds the rule can never fire
    (an hourly rule whose INTERVAL never lands on its BYHOUR)."""
    try:
        return RRuleSchedule(rule, dtstart, zone)
    except InvalidScheduleConfigError as exc:
        assume("empty set" not in exc.reason)
        raise


# Daylight-saving transitions of the zones above in 2025 (Paris, New York, Lord Howe).
TRANSITIONS = [
    _utc(2025, 3, 30, 1),
    _utc(2025, 10, 26, 1),
    _utc(2025, 3, 9, 7),
    _utc(2025, 11, 2, 6),
    _utc(2025, 4, 5, 15),
    _utc(2025, 10, 4, 15, 30),
]
starts = st.one_of(
    st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.builds(  # shortly before a transition, so short spans cross it too
        lambda moment, minutes: moment - timedelta(minutes=minutes),
        st.sampled_from(TRANSITIONS),
        st.integers(0, 36 * 60),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule=rules(),
    zone=st.sampled_from(ZONES),
    dtstart=starts,
    offset=st.floats(-0.05, 1.0),
    data=st.data(),
)
def test_next_is_the_first_occurrence_strictly_after(
    rule: str, zone: str, dtstart: datetime, offset: float, data: st.DataObject
) -> None:
    schedule = _schedule_or_reject(rule, dtstart, zone)
    span = SPANS[rule.split(";")[0].removeprefix("FREQ=")]
    after = schedule.dtstart + span * offset
    after += timedelta(microseconds=data.draw(st.integers(-1, 1)))
    got = schedule.next(after)
    assert got == _reference_next(schedule, after)
    if got is not None:
        assert got > after
        assert got.tzinfo is UTC
        assert got.microsecond == 0


schedules = st.builds(
    _schedule_or_reject,
    rules(),
    st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from([*ZONES, "Pacific/Apia", "Etc/GMT-14"]),
)


@settings(max_examples=150, deadline=None)
@given(schedule=schedules)
def test_every_schedule_round_trips(schedule: RRuleSchedule) -> None:
    codec = tickwork.default_codec()
    assert codec.decode(*codec.encode(schedule)) == schedule


RULE_PART_NAMES = [
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYHOUR",
    "BYMONTH",
    "BYMONTHDAY",
    "BYSETPOS",
    "BYWEEKNO",
    "BYYEARDAY",
    "WKST",
    "X-FOO",
    "",
]
RULE_VALUES = st.one_of(
    st.sampled_from(
        [
            "DAILY",
            "SECONDLY",
            "YEARLY",
            "MO",
            "-1FR",
            "+2TU",
            "0",
            "-0",
            "13",
            "1,2",
            "20250101T000000Z",
            "20250101",
            "99999999999999999999",
            "",
        ]
    ),
    st.text(alphabet="0123456789+-,;=:TZMOWEFRSU \n", max_size=12),
)


@st.composite
def configs(draw: st.DrawFn) -> str:
    """Text that looks like a config, often valid, often slightly off."""
    tzid = draw(st.sampled_from(["", ";TZID=Europe/Paris", ";TZID=UTC", ";TZID=Nowhere", ";TZID="]))
    stamp = draw(
        st.sampled_from(
            [
                "20250330T023000",
                "20251026T023000",
                "20250101T000000",
                "99991231T235959",
                "20250229T000000",
            ]
        )
    )
    stamp = draw(st.one_of(st.just(stamp), st.text(alphabet="0123456789TZ", max_size=17)))
    zulu = draw(st.sampled_from(["", "Z"]))
    parts = draw(st.lists(st.tuples(st.sampled_from(RULE_PART_NAMES), RULE_VALUES), max_size=5))
    rule = ";".join(f"{name}={value}" for name, value in parts)
    lines = [f"DTSTART{tzid}:{stamp}{zulu}", f"RRULE:{rule}"]
    if draw(st.booleans()):
        lines.reverse()
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


@settings(max_examples=400, deadline=None)
@given(config=st.one_of(st.text(max_size=80), configs()))
def test_decode_fuzz_raises_only_invalid_schedule_config(config: str) -> None:
    codec = RRuleCodec()
    try:
        schedule = codec.decode("rrule", config)
    except InvalidScheduleConfigError:
        return
    assert isinstance(schedule, RRuleSchedule)
    assert codec.decode(*codec.encode(schedule)) == schedule


# --- persistence through a real store ----------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


class Recorder:
    """A coroutine handler that keeps the events and lets a test wait for a count."""

    def __init__(self) -> None:
        self.events: list[tickwork.JobEvent] = []
        self._arrived = asyncio.Event()

    async def __call__(self, event: tickwork.JobEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()


@needs_sqlite
async def test_persists_in_sqlite_and_reloads_after_a_restart(sqlite_url: str) -> None:
    first = Recorder()
    scheduler = AsyncScheduler(sqlite_url, first)
    await scheduler.add_job(JOB_ID, EVERY_SECOND, {"team": "ops"})
    async with scheduler:
        await first.wait_for(1)
    stored = await _stored_job(sqlite_url)
    assert (stored.schedule_type, stored.schedule_config) == ("rrule", EVERY_SECOND_CONFIG)

    second = Recorder()
    async with AsyncScheduler(sqlite_url, second) as restarted:  # no add_job this time
        job = await restarted.get_job(JOB_ID)
        assert job.schedule == EVERY_SECOND
        assert job.metadata == {"team": "ops"}
        await second.wait_for(2)
        # A handler returns before its record is saved: wait for the records themselves.
        deadline = asyncio.get_running_loop().time() + 10
        history = await restarted.run_history(JOB_ID)
        while len(history) < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
            history = await restarted.run_history(JOB_ID)
    assert len(history) >= 3
    assert {r.status for r in history} == {JobStatus.COMPLETED}
    for event in second.events:
        assert event.schedule == EVERY_SECOND
        assert event.scheduled_at.microsecond == 0  # a whole second: an occurrence


async def _stored_job(url: str) -> tickwork.JobData:
    store = tickwork.create_store(url)
    await store.initialize()
    try:
        return await store.get_job(JOB_ID)
    finally:
        await store.close()


WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from datetime import UTC, datetime
    import tickwork
    from tickwork_rrule import RRuleSchedule

    url, mode, wanted = sys.argv[1], sys.argv[2], int(sys.argv[3])
    schedule = RRuleSchedule("FREQ=SECONDLY", datetime(2025, 1, 1, tzinfo=UTC), "Europe/Paris")
    runs = []

    async def handle(event):
        runs.append([event.scheduled_at.isoformat(), event.started_at.isoformat()])

    async def main():
        scheduler = tickwork.AsyncScheduler(url, handle)
        if mode == "add":
            await scheduler.add_job("rrule job", schedule, {"team": "ops"})
        started = datetime.now(UTC)
        async with scheduler:
            jobs = await scheduler.list_jobs()
            async with asyncio.timeout(10):
                while len(runs) < wanted:
                    await asyncio.sleep(0.01)
            coalesced = 0
            for job in jobs:
                history = await scheduler.run_history(job.id)
                coalesced += sum(r.status == "coalesced" for r in history)
        print(json.dumps({
            "codecs": tickwork.available_plugins()["codecs"],
            "jobs": [job.id for job in jobs],
            "quarantined": [job.quarantined is not None for job in jobs],
            "same_schedule": [job.schedule == schedule for job in jobs],
            "started": started.isoformat(),
            "coalesced": coalesced,
            "runs": runs,
        }))

    asyncio.run(main())
    """
)


def _worker(
    url: str, mode: str, runs: int, plugins: str = "sqlalchemy_store,rrule"
) -> dict[str, Any]:
    out = _python(WORKER, url, mode, str(runs), plugins=plugins)
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


@needs_sqlite
def test_a_second_process_loads_the_job_and_runs_it_on_time(sqlite_url: str) -> None:
    added = _worker(sqlite_url, "add", runs=1)
    assert "rrule" in added["codecs"]
    assert added["jobs"] == [JOB_ID]
    before = asyncio.run(_stored_job(sqlite_url))
    assert (before.schedule_type, before.schedule_config) == ("rrule", EVERY_SECOND_CONFIG)
    assert before.next_run is not None

    # Without the plugin the job cannot be read: it is quarantined, never run, and left
    # untouched in the store.
    blind = _worker(sqlite_url, "load", runs=0, plugins="sqlalchemy_store")
    assert "rrule" not in blind["codecs"]
    assert blind["jobs"] == [JOB_ID]
    assert blind["quarantined"] == [True]
    assert blind["runs"] == []
    assert asyncio.run(_stored_job(sqlite_url)) == before

    # Two more of the rule's ticks pass while no process that can read the job is up
    # (the blind worker alone can take less than a second).
    wait = (before.next_run + timedelta(seconds=2) - datetime.now(UTC)).total_seconds()
    time.sleep(max(0.0, wait))
    loaded = _worker(sqlite_url, "load", runs=2)
    assert loaded["jobs"] == [JOB_ID]
    assert loaded["quarantined"] == [False]
    assert loaded["same_schedule"] == [True]
    started = datetime.fromisoformat(loaded["started"])
    assert started - before.next_run > timedelta(seconds=1)  # ticks were missed meanwhile
    runs = [(datetime.fromisoformat(s), datetime.fromisoformat(r)) for s, r in loaded["runs"]]
    # The ticks missed while no process was up make one catch-up run (for the latest of
    # them, by default); the others are recorded as coalesced...
    (catch_up_for, catch_up_ran), *on_schedule = runs
    assert before.next_run < catch_up_for <= catch_up_ran
    assert EVERY_SECOND.next(catch_up_for - timedelta(seconds=1)) == catch_up_for
    assert loaded["coalesced"] >= 1
    # ...and then come the rule's own occurrences, each on time.
    assert on_schedule
    for scheduled, ran in on_schedule:
        assert scheduled > catch_up_ran
        assert EVERY_SECOND.next(scheduled - timedelta(seconds=1)) == scheduled
        assert timedelta(0) <= ran - scheduled < timedelta(milliseconds=500)
