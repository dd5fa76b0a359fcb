"""Property tests of calendar intervals, bounds, unions and date exclusions.

The oracle for a calendar interval is the definition, computed the slow way: fire dates
by plain month and day arithmetic, and each date's wall-clock time found by walking
UTC minute by minute and reading the zone's clock at each instant. Zones with 30- and
45-minute offsets and southern-hemisphere rules are sampled around their transitions.
The combinations are checked against their definitions over the inner schedules' own
fire times.
"""

from __future__ import annotations

import calendar
import itertools
import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickwork import (
    BoundedSchedule,
    CalendarIntervalSchedule,
    CronSchedule,
    ExceptDatesSchedule,
    InvalidScheduleConfigError,
    StartAtIntervalSchedule,
    UnionSchedule,
    UnsupportedScheduleError,
    default_codec,
)
from tickwork._compound_codec import CompoundScheduleCodec

MINUTE = timedelta(minutes=1)
ZONES = [
    "Australia/Lord_Howe",  # +10:30/+11, a 30-minute daylight-saving shift
    "Asia/Kathmandu",  # +5:45 (from +5:30 in 1986)
    "Australia/Eucla",  # +8:45
    "Pacific/Chatham",  # +12:45/+13:45, southern hemisphere
    "America/Sao_Paulo",  # southern rules until 2019
    "Europe/Paris",
    "America/New_York",
]
# Days around which those zones changed their clocks (UTC dates), and some ordinary ones.
AROUND = [
    date(2024, 4, 7),
    date(2024, 10, 6),
    date(2024, 9, 29),
    date(2025, 4, 6),
    date(2025, 3, 30),
    date(2025, 10, 26),
    date(2025, 3, 9),
    date(2025, 11, 2),
    date(1986, 1, 1),
    date(2018, 11, 4),
    date(2019, 2, 17),
    date(2025, 7, 1),
]
# Wall-clock times where the gaps and folds of those zones are.
INTERESTING_TIMES = [time(h, m) for h in (0, 1, 2, 3) for m in (0, 15, 30, 45)] + [
    time(9, 0),
    time(23, 59),
]
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=150, deadline=None)


# --- the oracle ----------------------------------------------------------------------------


def oracle_date(schedule: CalendarIntervalSchedule, k: int) -> date | None:
    """The k-th fire date, by plain arithmetic."""
    start = schedule.start
    if schedule.unit == "days":
        return start + timedelta(days=schedule.every * k)
    if schedule.unit == "weeks":
        return start + timedelta(days=7 * schedule.every * k)
    months = schedule.every * k * (12 if schedule.unit == "years" else 1)
    year = start.year + (start.month - 1 + months) // 12
    month = (start.month - 1 + months) % 12 + 1
    last = calendar.monthrange(year, month)[1]
    if start.day <= last:
        return date(year, month, start.day)
    if schedule.on_month_end == "skip":
        return None
    if schedule.on_month_end == "clip":
        return date(year, month, last)
    return date(year, month, 1) + timedelta(days=start.day - 1)


def oracle_instants(schedule: CalendarIntervalSchedule, day: date) -> list[datetime]:
    """Walk UTC minute by minute around ``day`` and read the zone's wall clock."""
    zone = ZoneInfo(schedule.timezone)
    wall = datetime.combine(day, schedule.at)
    instant = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=16)
    found: list[datetime] = []
    first_after: datetime | None = None
    for _ in range(48 * 60):
        local = instant.astimezone(zone).replace(tzinfo=None)
        if local == wall:
            found.append(instant)
        elif local > wall and first_after is None:
            first_after = instant
        instant += MINUTE
    if found:
        return found if schedule.on_fold == "both" else found[:1]
    assert first_after is not None
    # No such wall time that day (a gap): the first instant after it, or none.
    first_after = _first_second_after(zone, first_after, wall)
    return [first_after] if schedule.on_gap == "run_after" else []


def _first_second_after(zone: ZoneInfo, instant: datetime, wall: datetime) -> datetime:
    """Refine a minute found by the walk to the second the clock jumped at."""
    while (instant - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None) > wall:
        instant -= timedelta(seconds=1)
    return instant


def oracle_next(schedule: CalendarIntervalSchedule, after: datetime) -> datetime | None:
    for k in range(5000):
        day = oracle_date(schedule, k)
        if day is None or day < after.date() - timedelta(days=2):
            continue
        for instant in oracle_instants(schedule, day):
            if instant > after:
                return instant
    return None


# --- calendar intervals --------------------------------------------------------------------


@st.composite
def calendar_cases(draw: st.DrawFn) -> tuple[CalendarIntervalSchedule, datetime]:
    around = draw(st.sampled_from(AROUND))
    unit = draw(st.sampled_from(["days", "days", "weeks", "months", "years"]))
    every = draw(st.integers(1, 3))
    back = {"days": 40, "weeks": 200, "months": 900, "years": 3000}[unit]
    start = around - timedelta(days=draw(st.integers(0, back)))
    if unit in ("months", "years") and draw(st.booleans()):
        start = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    at = draw(
        st.sampled_from(INTERESTING_TIMES)
        | st.times().map(lambda t: t.replace(second=0, microsecond=0))
    )
    schedule = CalendarIntervalSchedule(
        every=every,
        unit=unit,
        start=start,
        at=at,
        timezone=draw(st.sampled_from(ZONES)),
        on_month_end=draw(st.sampled_from(["clip", "skip", "overflow"])),
        on_gap=draw(st.sampled_from(["run_after", "skip"])),
        on_fold=draw(st.sampled_from(["once", "both"])),
    )
    offset = timedelta(minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)))
    after = datetime.combine(around, time(12), tzinfo=UTC) + offset
    return schedule, after


@SLOW
@given(calendar_cases())
def test_calendar_interval_next_equals_the_wall_clock_walk(
    case: tuple[CalendarIntervalSchedule, datetime],
) -> None:
    schedule, after = case
    found = schedule.next(after)
    assert found == oracle_next(schedule, after)
    assert found is not None
    assert found > after  # never early, never the same instant
    following = schedule.next(found)
    assert following is not None
    assert following > found  # strictly increasing


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendar_cases())
def test_skipped_gap_times_are_listed_where_the_clock_jumped(
    case: tuple[CalendarIntervalSchedule, datetime],
) -> None:
    schedule, after = case
    skipping = attrs.evolve(schedule, on_gap="skip")
    running_after = attrs.evolve(schedule, on_gap="run_after")
    until = after + timedelta(days=3)
    expected = []
    for k in range(5000):
        day = oracle_date(schedule, k)
        if day is None or day < after.date() - timedelta(days=2):
            continue
        if day > until.date() + timedelta(days=2):
            break
        if oracle_instants(skipping, day) == [] and oracle_instants(running_after, day):
            (jump,) = oracle_instants(running_after, day)  # the gap: where the clock jumped
            if after < jump <= until:
                expected.append(jump)
    assert skipping.skipped_between(after, until) == expected
    assert running_after.skipped_between(after, until) == []


def test_a_time_in_the_lord_howe_half_hour_gap_is_skipped_and_listed() -> None:
    daily = CalendarIntervalSchedule(
        every=1,
        unit="days",
        start="2025-10-01",
        at="02:15",
        timezone="Australia/Lord_Howe",
        on_gap="skip",
    )
    # 5 October 2025: 02:00 becomes 02:30 (+10:30 to +11), at 15:30 UTC on the 4th.
    jump = datetime(2025, 10, 4, 15, 30, tzinfo=UTC)
    assert daily.skipped_between(
        datetime(2025, 10, 3, tzinfo=UTC), datetime(2025, 10, 7, tzinfo=UTC)
    ) == [jump]
    assert daily.next(jump - timedelta(hours=12)) == datetime(2025, 10, 5, 15, 15, tzinfo=UTC)


def test_calendar_interval_keeps_nine_oclock_across_daylight_saving() -> None:
    daily = CalendarIntervalSchedule(
        every=1, unit="days", start="2025-03-28", at="09:00", timezone="Europe/Paris"
    )
    fires = [daily.next(datetime(2025, 3, 28, tzinfo=UTC))]
    for _ in range(3):
        fires.append(daily.next(fires[-1]))  # type: ignore[arg-type]
    assert [f.astimezone(ZoneInfo("Europe/Paris")).hour for f in fires if f] == [9, 9, 9, 9]
    assert [f.hour for f in fires if f] == [8, 8, 7, 7]  # UTC moves, the wall clock does not


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("clip", [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]),
        ("skip", [date(2025, 1, 31), date(2025, 3, 31), date(2025, 5, 31), date(2025, 7, 31)]),
        ("overflow", [date(2025, 1, 31), date(2025, 3, 3), date(2025, 3, 31), date(2025, 5, 1)]),
    ],
)
def test_month_end_rules_for_31_january_plus_one_month(rule: str, expected: list[date]) -> None:
    monthly = CalendarIntervalSchedule(
        every=1, unit="months", start="2025-01-31", at="09:00", on_month_end=rule
    )
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    days = []
    for _ in range(4):
        moment = monthly.next(moment)  # type: ignore[assignment]
        days.append(moment.date())
    assert days == expected


# --- bounds, unions, exclusions ------------------------------------------------------------


def fire_times(schedule: object, after: datetime, count: int) -> list[datetime]:
    out: list[datetime] = []
    current = schedule.next(after)  # type: ignore[attr-defined]
    while current is not None and len(out) < count:
        out.append(current)
        current = schedule.next(current)  # type: ignore[attr-defined]
    return out


BASE = datetime(2025, 3, 1, tzinfo=UTC)
inner_schedules = st.one_of(
    st.builds(
        lambda minutes: StartAtIntervalSchedule(BASE, timedelta(minutes=minutes)),
        st.integers(7, 3000),
    ),
    st.sampled_from(
        [
            CronSchedule("30 2 * * *", "Australia/Lord_Howe"),
            CronSchedule("0 9 * * 1-5", "Pacific/Chatham"),
            CronSchedule("*/45 * * * *", "Asia/Kathmandu"),
        ]
    ),
    st.builds(
        lambda every, unit, zone: CalendarIntervalSchedule(
            every=every, unit=unit, start="2025-01-31", at="02:30", timezone=zone
        ),
        st.integers(1, 3),
        st.sampled_from(["days", "weeks", "months"]),
        st.sampled_from(ZONES),
    ),
)
offsets = st.integers(-5 * 24 * 60, 90 * 24 * 60).map(lambda m: BASE + timedelta(minutes=m))


@FAST
@given(
    inner_schedules,
    offsets,
    st.none() | offsets,
    st.none() | st.integers(1, 40),
    offsets,
)
def test_bounded_next_equals_its_definition(
    inner: object, start: datetime, end: datetime | None, max_runs: int | None, after: datetime
) -> None:
    if end is not None and end < start:
        start, end = end, start
    bounded = BoundedSchedule(schedule=inner, start=start, end=end, max_runs=max_runs)  # type: ignore[arg-type]
    expected = None
    current, seen = inner.next(start - timedelta(microseconds=1)), 0  # type: ignore[attr-defined]
    while current is not None and seen < 20_000:
        seen += 1
        if (max_runs is not None and seen > max_runs) or (end is not None and current > end):
            break
        if current > after:
            expected = current
            break
        current = inner.next(current)  # type: ignore[attr-defined]
    found = bounded.next(after)
    assert found == expected
    if found is not None:  # never early, and strictly increasing
        following = bounded.next(found)
        assert following is None or following > found > after
    assert default_codec().decode(*default_codec().encode(bounded)) == bounded


@FAST
@given(st.lists(inner_schedules, min_size=1, max_size=4), offsets)
def test_union_next_is_the_earliest_part(parts: list[object], after: datetime) -> None:
    union = UnionSchedule(parts)  # type: ignore[arg-type]
    merged = sorted({t for p in parts for t in fire_times(p, after, 5)})
    found = fire_times(union, after, 5)
    assert found == merged[:5]
    assert all(a < b for a, b in itertools.pairwise(found))
    assert default_codec().decode(*default_codec().encode(union)) == union


@FAST
@given(
    inner_schedules,
    st.sets(st.integers(-3, 80).map(lambda d: BASE.date() + timedelta(days=d)), max_size=40),
    offsets,
)
def test_except_dates_skips_exactly_the_excluded_local_dates(
    inner: object, dates: set[date], after: datetime
) -> None:
    excluded = ExceptDatesSchedule(schedule=inner, dates=dates)  # type: ignore[arg-type]
    zone = ZoneInfo(excluded.timezone)
    expected: list[datetime] = []
    current = inner.next(after)  # type: ignore[attr-defined]
    for _ in range(50_000):  # one fire time at a time, however many are excluded
        if current is None or len(expected) == 3:
            break
        if current.astimezone(zone).date() not in dates:
            expected.append(current)
        current = inner.next(current)  # type: ignore[attr-defined]
    found = fire_times(excluded, after, 3)
    assert found == expected
    assert all(a < b for a, b in itertools.pairwise([after, *found]))
    assert default_codec().decode(*default_codec().encode(excluded)) == excluded


def test_an_all_excluded_schedule_ends_instead_of_looping() -> None:
    christmas = CronSchedule("0 9 25 12 *")
    every_christmas = [date(y, 12, 25) for y in range(2025, 2025 + 1200)]
    never = ExceptDatesSchedule(schedule=christmas, dates=every_christmas)
    assert never.next(datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert "excluded" in never.end_reason(datetime(2025, 1, 1, tzinfo=UTC))


def test_max_runs_counts_fire_times_from_start() -> None:
    hourly = StartAtIntervalSchedule(BASE, timedelta(hours=1))
    three = BoundedSchedule(schedule=hourly, start=BASE, max_runs=3)
    assert fire_times(three, BASE - timedelta(days=1), 10) == [
        BASE,
        BASE + timedelta(hours=1),
        BASE + timedelta(hours=2),
    ]
    assert "max_runs=3 reached" in three.end_reason(BASE + timedelta(hours=2))
    ended = BoundedSchedule(schedule=hourly, end=BASE + timedelta(minutes=90))
    assert "end" in ended.end_reason(BASE + timedelta(hours=1))


# --- codecs --------------------------------------------------------------------------------


calendar_values = st.builds(
    CalendarIntervalSchedule,
    every=st.integers(1, 100_000),
    unit=st.sampled_from(["days", "weeks", "months", "years"]),
    start=st.dates(),
    at=st.times(),
    timezone=st.sampled_from([*ZONES, "UTC"]),
    on_month_end=st.sampled_from(["clip", "skip", "overflow"]),
    on_gap=st.sampled_from(["run_after", "skip"]),
    on_fold=st.sampled_from(["once", "both"]),
)


@FAST
@given(calendar_values, st.datetimes(timezones=st.just(UTC)))
def test_calendar_interval_next_is_total_over_the_whole_calendar(
    schedule: CalendarIntervalSchedule, after: datetime
) -> None:
    """Any date, any time, near year 1 or 9999: a later fire time or None, never an
    exception."""
    found = schedule.next(after)
    assert found is None or found > after


@FAST
@given(calendar_values)
def test_calendar_interval_round_trips(schedule: CalendarIntervalSchedule) -> None:
    codec = default_codec()
    assert codec.decode(*codec.encode(schedule)) == schedule
    # A codec given explicitly (not the default one) reads it the same way.
    assert CompoundScheduleCodec(codec).decode(*codec.encode(schedule)) == schedule


SAMPLES = [
    (
        "calendar_interval",
        '{"at":"09:00:00","every":2,"start":"2025-01-06","timezone":"UTC","unit":"weeks"}',
    ),
    (
        "bounded",
        '{"max_runs":3,"schedule":{"config":"0 9 * * *","type":"cron"},'
        '"start":"2025-01-01T00:00:00Z"}',
    ),
    (
        "union",
        '{"schedules":[{"config":"0 9 * * *","type":"cron"},{"config":"5m0s","type":"interval"}]}',
    ),
    (
        "except_dates",
        '{"dates":["2025-12-25"],"schedule":{"config":"0 9 * * *","type":"cron"},"timezone":"UTC"}',
    ),
]


@FAST
@given(st.sampled_from(SAMPLES), st.data())
def test_malformed_configs_are_typed_errors(sample: tuple[str, str], data: st.DataObject) -> None:
    kind, text = sample
    config = json.loads(text)
    key = data.draw(st.sampled_from(sorted(config)))
    junk = data.draw(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=20)
        | st.lists(st.integers(), max_size=3)
        | st.just({"type": "nope", "config": ""})
        | st.just({"type": "cron", "config": "99 * * * *"})
    )
    if data.draw(st.booleans()):
        config[key] = junk
    else:
        del config[key]
    try:
        default_codec().decode(kind, json.dumps(config))
    except InvalidScheduleConfigError as exc:
        error: InvalidScheduleConfigError | None = exc
    else:
        error = None  # some junk is still valid (another valid zone name, say)
    if error is not None:
        assert error.schedule_type == kind
        assert "\n" not in str(error)


@FAST
@given(
    st.sampled_from([s[0] for s in SAMPLES]),
    st.text(max_size=200) | st.binary(max_size=50).map(repr),
)
def test_random_text_decodes_to_a_typed_error(kind: str, text: str) -> None:
    with pytest.raises(InvalidScheduleConfigError):
        default_codec().decode(kind, text)


def test_samples_decode() -> None:
    for kind, text in SAMPLES:
        assert default_codec().encode(default_codec().decode(kind, text))[0] == kind


def test_deep_or_huge_configs_are_refused_cleanly() -> None:
    with pytest.raises(InvalidScheduleConfigError, match="longer than"):
        default_codec().decode("union", "[" * 20_000)
    with pytest.raises(InvalidScheduleConfigError, match="not valid JSON"):
        default_codec().decode("union", "[" * 10_000)


def test_a_nested_type_nobody_registered_reads_as_malformed() -> None:
    text = '{"schedules":[{"config":"x","type":"from_a_missing_plugin"}]}'
    with pytest.raises(InvalidScheduleConfigError, match="from_a_missing_plugin"):
        default_codec().decode("union", text)


def test_an_older_reader_does_not_misread_a_bounded_row() -> None:
    from tickwork import BasicScheduleCodec

    kind, text = SAMPLES[1]
    with pytest.raises(UnsupportedScheduleError):
        BasicScheduleCodec().decode(kind, text)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": 0, "unit": "days", "start": "2025-01-01"}, "every"),
        ({"every": 1, "unit": "fortnights", "start": "2025-01-01"}, "unit"),
        ({"every": 1, "unit": "days", "start": "2025-02-30"}, "start"),
        ({"every": 1, "unit": "days", "start": "2025-01-01", "at": "25:00"}, "at"),
        ({"every": 1, "unit": "days", "start": "2025-01-01", "timezone": "Mars/Base"}, "time zone"),
        ({"every": 1, "unit": "days", "start": "2025-01-01", "on_month_end": "x"}, "on_month_end"),
    ],
)
def test_bad_calendar_intervals_name_the_field(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidScheduleConfigError, match=match):
        CalendarIntervalSchedule(**kwargs)  # type: ignore[arg-type]


def test_bad_bounds_say_what_is_wrong() -> None:
    hourly = StartAtIntervalSchedule(BASE, timedelta(hours=1))
    with pytest.raises(InvalidScheduleConfigError, match="give start too"):
        BoundedSchedule(schedule=hourly, max_runs=3)
    with pytest.raises(InvalidScheduleConfigError, match="end is before start"):
        BoundedSchedule(schedule=hourly, start=BASE, end=BASE - timedelta(1))
    with pytest.raises(InvalidScheduleConfigError, match="at least one"):
        BoundedSchedule(schedule=hourly)
    from tickwork import IntervalSchedule

    with pytest.raises(InvalidScheduleConfigError, match="StartAtIntervalSchedule"):
        BoundedSchedule(schedule=IntervalSchedule(60), start=BASE, max_runs=2)
