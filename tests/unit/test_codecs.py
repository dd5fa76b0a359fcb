"""The basic and composite codecs: exact config strings, Go compatibility, and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

import tickwork
from tickwork import (
    BasicScheduleCodec,
    CompositeScheduleCodec,
    CronSchedule,
    IntervalSchedule,
    InvalidScheduleConfigError,
    OnceSchedule,
    PluginRegistrationError,
    Schedule,
    ScheduleCodec,
    StartAtIntervalSchedule,
    UnsupportedScheduleError,
)

T0 = datetime(2025, 10, 2, 15, 4, 5, tzinfo=UTC)
CODEC = BasicScheduleCodec()

ENCODED: list[tuple[Schedule, tuple[str, str]]] = [
    (IntervalSchedule(timedelta(minutes=5)), ("interval", "5m0s")),
    (IntervalSchedule(timedelta(hours=1, minutes=30)), ("interval", "1h30m0s")),
    (IntervalSchedule(timedelta(milliseconds=500)), ("interval", "500ms")),
    (IntervalSchedule(timedelta(microseconds=1)), ("interval", "1\u00b5s")),
    (IntervalSchedule(timedelta(days=2)), ("interval", "48h0m0s")),
    (OnceSchedule(T0), ("once", "2025-10-02T15:04:05Z")),
    (OnceSchedule(T0.replace(microsecond=123456)), ("once", "2025-10-02T15:04:05.123456Z")),
    (OnceSchedule(T0.replace(microsecond=120000)), ("once", "2025-10-02T15:04:05.12Z")),
    (OnceSchedule(T0.replace(microsecond=1)), ("once", "2025-10-02T15:04:05.000001Z")),
    (OnceSchedule(datetime(1, 1, 1, tzinfo=UTC)), ("once", "0001-01-01T00:00:00Z")),
    (
        OnceSchedule(datetime(2025, 10, 2, 17, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
        ("once", "2025-10-02T15:04:05Z"),
    ),
    (
        StartAtIntervalSchedule(T0, timedelta(hours=1)),
        ("start_at_interval", "2025-10-02T15:04:05Z|1h0m0s"),
    ),
    (
        StartAtIntervalSchedule(T0.replace(microsecond=500000), timedelta(seconds=1.5)),
        ("start_at_interval", "2025-10-02T15:04:05.5Z|1.5s"),
    ),
    (CronSchedule("0 9 * * *"), ("cron", "0 9 * * *")),
    (CronSchedule("0 9 * * *", UTC), ("cron", "0 9 * * *")),
    (CronSchedule("0 9 * * *", "Europe/Paris"), ("cron", "CRON_TZ=Europe/Paris 0 9 * * *")),
    (CronSchedule("*/5  * * * MON-FRI"), ("cron", "*/5 * * * MON-FRI")),
]


@pytest.mark.parametrize(("schedule", "encoded"), ENCODED, ids=[e[1] for _, e in ENCODED])
def test_encode_exact(schedule: Schedule, encoded: tuple[str, str]) -> None:
    assert CODEC.encode(schedule) == encoded


@pytest.mark.parametrize(("schedule", "encoded"), ENCODED, ids=[e[1] for _, e in ENCODED])
def test_decode_what_was_encoded(schedule: Schedule, encoded: tuple[str, str]) -> None:
    assert CODEC.decode(*encoded) == schedule


@pytest.mark.parametrize(
    ("config", "interval"),
    [
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("500ms", timedelta(milliseconds=500)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("2h45m30.5s", timedelta(hours=2, minutes=45, seconds=30.5)),
        ("300000000000ns", timedelta(minutes=5)),
        ("1\u03bcs", timedelta(microseconds=1)),
    ],
)
def test_decode_go_durations(config: str, interval: timedelta) -> None:
    assert CODEC.decode("interval", config) == IntervalSchedule(interval)


@pytest.mark.parametrize(
    ("config", "run_at"),
    [
        # What Go's RFC3339Nano writes: nine digits, truncated to microseconds here.
        ("2025-10-02T15:04:05.123456789Z", T0.replace(microsecond=123456)),
        ("2025-10-02T15:04:05.999999999Z", T0.replace(microsecond=999999)),
        ("2025-10-02T15:04:05.1Z", T0.replace(microsecond=100000)),
        ("2025-10-02T15:04:05Z", T0),
        ("2025-10-02T17:04:05+02:00", T0),  # Go writes the zone of a local time
        ("2025-10-02T10:04:05.5-05:00", T0.replace(microsecond=500000)),
        ("2025-10-02T15:04:05+00:00", T0),
        ("2025-10-02T15:04:05-00:00", T0),
        ("2025-10-02t15:04:05z", T0),
        ("2025-10-02T15:04:05.123456789123Z", T0.replace(microsecond=123456)),
    ],
)
def test_decode_rfc3339(config: str, run_at: datetime) -> None:
    schedule = CODEC.decode("once", config)
    assert schedule == OnceSchedule(run_at)
    assert isinstance(schedule, OnceSchedule)
    assert schedule.run_at.tzinfo is UTC


def test_decode_start_at_interval_from_go() -> None:
    schedule = CODEC.decode("start_at_interval", "2025-10-02T17:04:05.123456789+02:00|5m")
    assert schedule == StartAtIntervalSchedule(T0.replace(microsecond=123456), timedelta(minutes=5))


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("0 9 * * *", CronSchedule("0 9 * * *")),
        ("CRON_TZ=Europe/Paris 0 9 * * *", CronSchedule("0 9 * * *", "Europe/Paris")),
        ("TZ=America/New_York 30 2 * * *", CronSchedule("30 2 * * *", "America/New_York")),
        ("CRON_TZ=UTC 0 9 * * *", CronSchedule("0 9 * * *")),
        ("CRON_TZ=Asia/Kolkata\t0  9 * * *", CronSchedule("0 9 * * *", "Asia/Kolkata")),
    ],
)
def test_decode_cron(config: str, expected: CronSchedule) -> None:
    assert CODEC.decode("cron", config) == expected


BAD_CONFIGS = [
    ("interval", ""),
    ("interval", "5"),
    ("interval", "5 minutes"),
    ("interval", "0s"),
    ("interval", "0"),
    ("interval", "-5m"),
    ("interval", "1ns"),  # rounds to zero microseconds
    ("interval", "1d"),
    ("interval", "9" * 400 + "h"),
    ("interval", "PT5M"),
    ("interval", "\x00"),
    ("interval", "\ud800"),
    ("once", ""),
    ("once", "2025-10-02"),
    ("once", "2025-10-02 15:04:05Z"),
    ("once", "2025-10-02T15:04:05"),
    ("once", "2025-13-02T15:04:05Z"),
    ("once", "2025-02-30T15:04:05Z"),
    ("once", "2025-10-02T24:00:00Z"),
    ("once", "2025-10-02T15:04:60Z"),
    ("once", "2025-10-02T15:04:05.Z"),
    ("once", "2025-10-02T15:04:05+24:00"),
    ("once", "2025-10-02T15:04:05+02:60"),
    ("once", "0000-01-01T00:00:00Z"),
    ("once", "0001-01-01T00:00:00+01:00"),
    ("once", "9999-12-31T23:59:59-01:00"),
    ("once", "+12025-10-02T15:04:05Z"),
    ("once", "2025-10-02T15:04:05Z\n"),
    ("once", "\u0662025-10-02T15:04:05Z"),
    ("once", "1759417445"),
    ("start_at_interval", ""),
    ("start_at_interval", "|"),
    ("start_at_interval", "2025-10-02T15:04:05Z"),
    ("start_at_interval", "2025-10-02T15:04:05Z|"),
    ("start_at_interval", "|5m"),
    ("start_at_interval", "2025-10-02T15:04:05Z|0s"),
    ("start_at_interval", "2025-10-02T15:04:05Z|5m|5m"),
    ("start_at_interval", "5m|2025-10-02T15:04:05Z"),
    ("cron", ""),
    ("cron", "   "),
    ("cron", "* * * *"),
    ("cron", "@daily"),
    ("cron", "0 0 30 2 *"),
    ("cron", "CRON_TZ=Mars/Olympus 0 9 * * *"),
    ("cron", "CRON_TZ= 0 9 * * *"),
    ("cron", "CRON_TZ=Europe/Paris"),
    ("cron", "CRON_TZ=Europe/Paris CRON_TZ=Europe/Paris 0 9 * * *"),
    ("cron", "TZ=../../etc/passwd 0 9 * * *"),
    ("cron", "* * * * " + "1," * 3000 + "1"),
]


@pytest.mark.parametrize(("schedule_type", "config"), BAD_CONFIGS)
def test_malformed_configs(schedule_type: str, config: str) -> None:
    with pytest.raises(InvalidScheduleConfigError) as caught:
        CODEC.decode(schedule_type, config)
    error = caught.value
    assert error.schedule_type == schedule_type
    assert error.config == config
    assert repr(config)[:60] in str(error)


@pytest.mark.parametrize("config", [None, 5, b"5m", ["5m"], timedelta(minutes=5)])
@pytest.mark.parametrize("schedule_type", ["interval", "once", "start_at_interval", "cron"])
def test_non_string_configs(schedule_type: str, config: Any) -> None:
    with pytest.raises(InvalidScheduleConfigError, match="expected a string"):
        CODEC.decode(schedule_type, config)


@pytest.mark.parametrize("schedule_type", ["rrule", "", "Interval", "cron ", None, 1])
def test_unknown_type(schedule_type: Any) -> None:
    with pytest.raises(UnsupportedScheduleError) as caught:
        CODEC.decode(schedule_type, "5m")
    assert "interval" in str(caught.value)
    assert caught.value.known == [
        "cron",
        "cron_ext",
        "interval",
        "once",
        "start_at_interval",
    ]


@attrs.frozen
class Weekly:
    """A schedule type the core does not know."""

    weekday: int

    def next(self, after: datetime) -> datetime | None:
        return after + timedelta(days=7)


class WeeklyCodec:
    def encode(self, schedule: Schedule) -> tuple[str, str]:
        assert isinstance(schedule, Weekly)
        return "weekly", str(schedule.weekday)

    def decode(self, schedule_type: str, config: str) -> Schedule:
        return Weekly(int(config))  # a sloppy plugin: int() raises ValueError


class SubInterval(IntervalSchedule):
    pass


def test_unknown_schedule_class() -> None:
    with pytest.raises(UnsupportedScheduleError, match="Weekly"):
        CODEC.encode(Weekly(1))


def test_subclasses_encode_as_their_base() -> None:
    assert CODEC.encode(SubInterval(timedelta(minutes=5))) == ("interval", "5m0s")


def test_codecs_satisfy_the_protocol() -> None:
    assert isinstance(BasicScheduleCodec(), ScheduleCodec)
    assert isinstance(CompositeScheduleCodec(), ScheduleCodec)
    assert BasicScheduleCodec().known_types == (
        "cron",
        "cron_ext",
        "interval",
        "once",
        "start_at_interval",
    )


# --- CompositeScheduleCodec ----------------------------------------------------------


@pytest.fixture
def composite() -> CompositeScheduleCodec:
    codec = CompositeScheduleCodec()
    basic = BasicScheduleCodec()
    codec.register("interval", IntervalSchedule, basic)
    codec.register("start_at_interval", StartAtIntervalSchedule, basic)
    codec.register("once", OnceSchedule, basic)
    codec.register("cron", CronSchedule, basic)
    codec.register("weekly", Weekly, WeeklyCodec())
    return codec


def test_composite_dispatches_both_ways(composite: CompositeScheduleCodec) -> None:
    assert composite.known_types == ("cron", "interval", "once", "start_at_interval", "weekly")
    for schedule, encoded in ENCODED:
        assert composite.encode(schedule) == encoded
        assert composite.decode(*encoded) == schedule
    assert composite.encode(Weekly(3)) == ("weekly", "3")
    assert composite.decode("weekly", "3") == Weekly(3)


def test_composite_walks_the_mro(composite: CompositeScheduleCodec) -> None:
    assert composite.encode(SubInterval(timedelta(minutes=5))) == ("interval", "5m0s")


def test_composite_unknown_type_and_class(composite: CompositeScheduleCodec) -> None:
    with pytest.raises(UnsupportedScheduleError, match="weekly") as caught:
        composite.decode("rrule", "FREQ=DAILY")
    assert "rrule" in str(caught.value)
    assert caught.value.known == list(composite.known_types)

    class Stray:
        def next(self, after: datetime) -> datetime | None:
            return None

    with pytest.raises(UnsupportedScheduleError, match="Stray"):
        composite.encode(Stray())
    with pytest.raises(UnsupportedScheduleError):
        composite.decode(None, "x")  # type: ignore[arg-type]


def test_composite_keeps_the_decode_contract_for_sloppy_plugins(
    composite: CompositeScheduleCodec,
) -> None:
    with pytest.raises(InvalidScheduleConfigError, match="ValueError") as caught:
        composite.decode("weekly", "not a number")
    assert caught.value.schedule_type == "weekly"
    assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(InvalidScheduleConfigError):
        composite.decode("interval", "forever")


def test_composite_rejects_bad_registrations() -> None:
    codec = CompositeScheduleCodec()
    codec.register("weekly", Weekly, WeeklyCodec())
    with pytest.raises(PluginRegistrationError, match="already registered"):
        codec.register("weekly", Weekly, WeeklyCodec())
    with pytest.raises(PluginRegistrationError, match="non-empty"):
        codec.register("", Weekly, WeeklyCodec())
    with pytest.raises(PluginRegistrationError, match="needs a class"):
        codec.register("w2", Weekly(1), WeeklyCodec())  # type: ignore[arg-type]
    with pytest.raises(PluginRegistrationError, match="encode"):
        codec.register("w3", Weekly, object())  # type: ignore[arg-type]
    assert codec.known_types == ("weekly",)


def test_empty_composite() -> None:
    with pytest.raises(UnsupportedScheduleError, match="no schedule types are registered"):
        CompositeScheduleCodec().encode(IntervalSchedule(5))


def test_default_codec_handles_the_built_ins() -> None:
    codec = tickwork.default_codec()
    assert isinstance(codec, CompositeScheduleCodec)
    assert set(BasicScheduleCodec.known_types) <= set(codec.known_types)
    for schedule, encoded in ENCODED:
        assert codec.encode(schedule) == encoded
        assert codec.decode(*encoded) == schedule
