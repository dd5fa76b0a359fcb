"""Codec round trips for generated schedules, and fuzzing of what stores hand back."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork import (
    BasicScheduleCodec,
    CronSchedule,
    IntervalSchedule,
    InvalidScheduleConfigError,
    OnceSchedule,
    Schedule,
    StartAtIntervalSchedule,
)
from tickwork._durations import format_go_duration, parse_go_duration

CODEC = BasicScheduleCodec()
TYPES = ["interval", "start_at_interval", "once", "cron"]
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Argentina/Buenos_Aires",
    "Etc/GMT+5",
]
# What Go's Duration.String() can produce.
GO_DURATION = re.compile(
    r"-?(?:0s|[0-9]+(?:\.[0-9]+)?(?:ns|\u00b5s|ms)|(?:[0-9]+h)?(?:[0-9]+m)?[0-9]+(?:\.[0-9]+)?s)"
)

# Each example is well under a millisecond; the deadline leaves room for a loaded CI box.
FAST = settings(deadline=timedelta(milliseconds=500))
positive_intervals = st.timedeltas(min_value=timedelta(microseconds=1))
utc_datetimes = st.datetimes(timezones=st.just(UTC))


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    def field(low: int, high: int) -> str:
        kind = draw(st.integers(0, 4))
        if kind == 0:
            return "*"
        if kind == 1:
            return str(draw(st.integers(low, high)))
        if kind == 2:
            first = draw(st.integers(low, high))
            return f"{first}-{draw(st.integers(first, high))}"
        if kind == 3:
            return f"*/{draw(st.integers(1, high))}"
        values = draw(st.lists(st.integers(low, high), min_size=1, max_size=4, unique=True))
        return ",".join(map(str, values))

    return " ".join([field(0, 59), field(0, 23), field(1, 28), field(1, 12), field(0, 7)])


@st.composite
def cron_schedules(draw: st.DrawFn) -> CronSchedule:
    return CronSchedule(draw(cron_expressions()), draw(st.sampled_from(ZONES)))


schedules: st.SearchStrategy[Schedule] = st.one_of(
    st.builds(IntervalSchedule, positive_intervals),
    st.builds(StartAtIntervalSchedule, utc_datetimes, positive_intervals),
    st.builds(OnceSchedule, utc_datetimes),
    cron_schedules(),
)


def _decode_or_invalid(schedule_type: str, config: str) -> Schedule | None:
    """Decode, allowing only InvalidScheduleConfigError as a failure."""
    error: InvalidScheduleConfigError | None = None
    try:
        schedule = CODEC.decode(schedule_type, config)
    except InvalidScheduleConfigError as exc:
        error = exc
    if error is not None:
        assert error.schedule_type == schedule_type
        assert error.config == config
        return None
    # Whatever decodes must also round-trip.
    assert CODEC.decode(*CODEC.encode(schedule)) == schedule
    return schedule


@FAST
@given(schedules)
def test_round_trip(schedule: Schedule) -> None:
    schedule_type, config = CODEC.encode(schedule)
    assert schedule_type in TYPES
    assert config.isprintable()
    assert CODEC.decode(schedule_type, config) == schedule


@FAST
@given(st.sampled_from(TYPES), st.text())
def test_arbitrary_text_only_ever_fails_as_invalid_config(schedule_type: str, config: str) -> None:
    _decode_or_invalid(schedule_type, config)


@FAST
@given(st.sampled_from(TYPES), st.text(alphabet="0123456789-+:.TZz|* /,?hmsnuµ"))
def test_config_like_text_only_ever_fails_as_invalid_config(
    schedule_type: str, config: str
) -> None:
    _decode_or_invalid(schedule_type, config)


mutation_chars = st.sampled_from(
    [*"0123456789-+:.TZ|* /,?hmsµμ\t\n\x00é日", "9" * 40, "CRON_TZ=", "\ud800", "L", "#"]
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> tuple[str, str]:
    schedule_type, config = CODEC.encode(draw(schedules))
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(config)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "delete" and config:
            end = min(len(config), position + draw(st.integers(1, 3)))
            config = config[:position] + config[end:]
        elif action == "replace" and position < len(config):
            config = config[:position] + draw(mutation_chars) + config[position + 1 :]
        else:
            config = config[:position] + draw(mutation_chars) + config[position:]
    return schedule_type, config


@settings(max_examples=300, deadline=timedelta(milliseconds=500))
@given(mutated_configs())
def test_mutated_configs_only_ever_fail_as_invalid_config(case: tuple[str, str]) -> None:
    _decode_or_invalid(*case)


@FAST
@given(st.sampled_from(TYPES), st.text(min_size=1).map(lambda s: s * 2000))
def test_huge_configs_fail_fast(schedule_type: str, config: str) -> None:
    _decode_or_invalid(schedule_type, config)


# --- Go durations --------------------------------------------------------------------


@FAST
@given(st.timedeltas())
def test_go_duration_round_trip(value: timedelta) -> None:
    text = format_go_duration(value)
    assert GO_DURATION.fullmatch(text), text
    assert parse_go_duration(text) == value


@FAST
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.one_of(st.none(), st.text(alphabet="0123456789", min_size=0, max_size=12)),
            st.sampled_from(["ns", "us", "\u00b5s", "\u03bcs", "ms", "s", "m", "h"]),
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["", "-", "+"]),
)
def test_go_grammar_parses_and_normalises(
    segments: list[tuple[int, str | None, str]], sign: str
) -> None:
    text = sign + "".join(
        f"{whole}{'' if fraction is None else '.' + fraction}{unit}"
        for whole, fraction, unit in segments
    )
    value = parse_go_duration(text)
    # Parsing what we format gives the same value back: a fixed point after one pass.
    assert parse_go_duration(format_go_duration(value)) == value
    if sign == "-":
        assert value <= timedelta(0)
    else:
        assert value >= timedelta(0)


@FAST
@given(st.text())
def test_go_duration_parse_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_go_duration(text)


# --- spot checks the strategies might not reach ---------------------------------------


@pytest.mark.parametrize("zone", ZONES)
def test_every_zone_round_trips(zone: str) -> None:
    schedule = CronSchedule("*/5 9-17 * * 1-5", zone)
    assert CODEC.decode(*CODEC.encode(schedule)) == schedule


def test_extreme_datetimes_round_trip() -> None:
    for moment in (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)):
        assert CODEC.decode(*CODEC.encode(OnceSchedule(moment))) == OnceSchedule(moment)
