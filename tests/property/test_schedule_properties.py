"""Properties of every schedule's next(), checked against independent oracles.

The cron oracle knows nothing of the implementation: it is handed the *sets* of values
each field allows (the strategy builds the expression text from them), walks UTC
minute by minute, and applies the contract's daylight-saving rules with zoneinfo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tickwork import (
    CronSchedule,
    IntervalSchedule,
    InvalidCronExpressionError,
    OnceSchedule,
    StartAtIntervalSchedule,
)

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# Local dates of DST changes, to aim inputs at gaps and folds.
DST_DAYS = {
    "Europe/Paris": ["2024-03-31", "2024-10-27", "2025-03-30", "2025-10-26", "2026-03-29"],
    "America/New_York": ["2024-03-10", "2024-11-03", "2025-03-09", "2025-11-02", "2026-11-01"],
    "Australia/Lord_Howe": ["2024-04-07", "2024-10-06", "2025-04-06", "2025-10-05"],
    "UTC": ["2025-03-30"],
    "Asia/Kolkata": ["2025-03-30"],
}
ONE_MINUTE = timedelta(minutes=1)
# How far the cron oracle walks, minute by minute, looking for an earlier fire time.
WINDOW = timedelta(days=2)
# An example walks up to WINDOW minute by minute (a few tens of ms); the deadline only
# catches a runaway, and the example count keeps each test near a second or two.
CRON_SETTINGS = settings(
    max_examples=100,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow],
)
FAST = settings(deadline=timedelta(milliseconds=500))


@st.composite
def moments(draw: st.DrawFn, min_year: int = 1900, max_year: int = 2200) -> datetime:
    """Datetimes in assorted zones, naive ones included (taken as local time)."""
    return draw(
        st.datetimes(
            min_value=datetime(min_year, 1, 1),
            max_value=datetime(max_year, 12, 31),
            timezones=st.one_of(
                st.none(), st.sampled_from([UTC, ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo")])
            ),
        )
    )


intervals = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400))


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _is_aware_utc(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


# --- elapsed-time schedules -----------------------------------------------------------


@FAST
@given(interval=intervals, after=moments())
def test_interval_next_is_after_plus_interval(interval: timedelta, after: datetime) -> None:
    result = IntervalSchedule(interval).next(after)
    assert result is not None
    assert _is_aware_utc(result)
    assert result == _as_utc(after) + interval
    assert result > _as_utc(after)


@FAST
@given(start_at=moments(), interval=intervals, after=moments())
@example(
    start_at=datetime(2025, 1, 1, tzinfo=UTC),
    interval=timedelta(microseconds=7),
    after=datetime(2025, 1, 1, tzinfo=UTC),
)
def test_start_at_interval_is_the_first_grid_point_after(
    start_at: datetime, interval: timedelta, after: datetime
) -> None:
    schedule = StartAtIntervalSchedule(start_at, interval)
    result = schedule.next(after)
    assert result is not None
    assert _is_aware_utc(result)
    moment = _as_utc(after)
    assert result > moment
    start = _as_utc(start_at)
    assert result >= start
    assert (result - start) % interval == timedelta(0)  # on the grid
    # Minimal: the grid point before it (if any) is not after the input.
    assert result == start or result - interval <= moment


@FAST
@given(run_at=moments(), after=moments())
def test_once_fires_once(run_at: datetime, after: datetime) -> None:
    schedule = OnceSchedule(run_at)
    result = schedule.next(after)
    if _as_utc(after) < _as_utc(run_at):
        assert result == _as_utc(run_at)
        assert result is not None
        assert _is_aware_utc(result)
        assert schedule.next(result) is None
    else:
        assert result is None
    assert schedule.first_run(after) == _as_utc(run_at)


# --- cron ----------------------------------------------------------------------------

BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@dataclass(frozen=True)
class Cron:
    """An expression and the value sets it stands for."""

    expression: str
    allowed: tuple[frozenset[int], ...]
    day_of_month_star: bool
    day_of_week_star: bool

    def matches(self, wall: datetime) -> bool:
        minutes, hours, days, months, weekdays = self.allowed
        if wall.minute not in minutes or wall.hour not in hours or wall.month not in months:
            return False
        by_day = wall.day in days
        by_weekday = wall.isoweekday() % 7 in weekdays
        if self.day_of_month_star or self.day_of_week_star:
            return by_day and by_weekday
        return by_day or by_weekday


def _spell(index: int, value: int, draw: st.DrawFn, *, allow_seven: bool = True) -> str:
    """A value as text: sometimes as a name, Sunday sometimes as 7."""
    if index == 3 and draw(st.booleans()):
        return draw(st.sampled_from([MONTHS[value - 1], MONTHS[value - 1].upper()]))
    if index == 4:
        if value == 0 and allow_seven and draw(st.booleans()):
            return "7"
        if draw(st.booleans()):
            return DAYS[value].title()
    return str(value)


@st.composite
def cron_field(draw: st.DrawFn, index: int, star_weight: int) -> tuple[str, frozenset[int], bool]:
    low, high = BOUNDS[index]
    full = frozenset(range(low, high + 1))
    form = draw(st.integers(0, 5 + star_weight))
    if form == 0:
        value = draw(st.integers(low, high))
        return _spell(index, value, draw), frozenset({value}), False
    if form == 1:
        values = sorted(draw(st.sets(st.integers(low, high), min_size=1, max_size=5)))
        return ",".join(_spell(index, v, draw) for v in values), frozenset(values), False
    if form == 2:
        first = draw(st.integers(low, high))
        last = draw(st.integers(first, high))
        text = f"{_spell(index, first, draw, allow_seven=False)}-{_spell(index, last, draw)}"
        if index == 4 and last == 0:  # "sun-sun" style: 7 may not close a range from 0
            text = f"{first}-{last}"
        return text, frozenset(range(first, last + 1)), False
    if form == 3:
        step = draw(st.integers(1, high - low + 2))
        return f"*/{step}", frozenset(range(low, high + 1, step)), False
    if form == 4:
        first = draw(st.integers(low, high))
        last = draw(st.integers(first, high))
        step = draw(st.integers(1, 10))
        return f"{first}-{last}/{step}", frozenset(range(first, last + 1, step)), False
    if form == 5 and index in (2, 4):
        return "?", full, True
    return "*", full, True


@st.composite
def crons(draw: st.DrawFn) -> Cron:
    # Day and month fields lean towards "*" so most fire times fall inside the window.
    parts = [
        draw(cron_field(0, 1)),
        draw(cron_field(1, 2)),
        draw(cron_field(2, 12)),
        draw(cron_field(3, 12)),
        draw(cron_field(4, 6)),
    ]
    return Cron(
        expression=" ".join(text for text, _, _ in parts),
        allowed=tuple(values for _, values, _ in parts),
        day_of_month_star=parts[2][2],
        day_of_week_star=parts[4][2],
    )


@st.composite
def cron_moments(draw: st.DrawFn, zone_name: str) -> datetime:
    """Inputs anywhere in 1975-2090, or within a day and a half of a DST change."""
    if draw(st.booleans()):
        day = datetime.fromisoformat(draw(st.sampled_from(DST_DAYS[zone_name])))
        local = day.replace(tzinfo=ZoneInfo(zone_name)) - timedelta(hours=12)
        offset = draw(st.integers(0, 36 * 60 * 60 * 1_000_000))
        return (local + timedelta(microseconds=offset)).astimezone(UTC)
    return draw(
        st.datetimes(
            min_value=datetime(1975, 1, 1),
            max_value=datetime(2090, 12, 31),
            timezones=st.just(UTC),
        )
    )


def _fires_at(cron: Cron, zone: ZoneInfo, instant: datetime) -> bool:
    """Whether the contract says ``cron`` fires at the whole UTC minute ``instant``.

    It does when the wall time there matches and is its first occurrence, or when
    ``instant`` ends a DST gap that swallowed a matching wall-clock minute.
    """
    local = instant.astimezone(zone)
    if local.fold == 0 and cron.matches(local.replace(tzinfo=None)):
        return True
    before = (instant - ONE_MINUTE).astimezone(zone)
    offset_now, offset_before = local.utcoffset(), before.utcoffset()
    assert offset_now is not None
    assert offset_before is not None
    if offset_now <= offset_before:
        return False
    wall = before.replace(tzinfo=None) + ONE_MINUTE
    end = local.replace(tzinfo=None)
    while wall < end:  # the wall-clock minutes that never happened
        if cron.matches(wall):
            return True
        wall += ONE_MINUTE
    return False


def _check_cron(cron: Cron, zone_name: str, after: datetime) -> None:
    zone = ZoneInfo(zone_name)
    try:
        schedule = CronSchedule(cron.expression, zone_name)
    except InvalidCronExpressionError as exc:
        assume(exc.reason != "it never matches a real date")  # 30 February and friends
        raise
    result = schedule.next(after)
    assert result is not None
    assert result.tzinfo is not None
    assert result.utcoffset() == timedelta(0)
    assert result > after
    assert result.second == 0
    assert result.microsecond == 0
    assert _fires_at(cron, zone, result), f"{result} is not a fire time of {cron.expression}"
    # Nothing was skipped: no earlier fire time between ``after`` and the result.
    instant = after.replace(second=0, microsecond=0) + ONE_MINUTE
    horizon = min(result, after + WINDOW)
    while instant < horizon:
        assert not _fires_at(cron, zone, instant), (
            f"{cron.expression} in {zone_name} fires at {instant}, before {result}"
        )
        instant += ONE_MINUTE


def _cron_test(zone_name: str) -> None:
    @CRON_SETTINGS
    @given(cron=crons(), after=cron_moments(zone_name))
    def check(cron: Cron, after: datetime) -> None:
        _check_cron(cron, zone_name, after)

    check()


def test_cron_utc() -> None:
    _cron_test("UTC")


def test_cron_europe_paris() -> None:
    _cron_test("Europe/Paris")


def test_cron_america_new_york() -> None:
    _cron_test("America/New_York")


def test_cron_australia_lord_howe() -> None:
    _cron_test("Australia/Lord_Howe")


def test_cron_asia_kolkata() -> None:
    _cron_test("Asia/Kolkata")


@CRON_SETTINGS
@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 3),
    zone_name=st.sampled_from(ZONES),
    data=st.data(),
)
def test_cron_daily_time_near_dst_changes(
    minute: int, hour: int, zone_name: str, data: st.DataObject
) -> None:
    """A fixed daily time fires exactly once on every day, DST days included."""
    cron = Cron(
        expression=f"{minute} {hour} * * *",
        allowed=(
            frozenset({minute}),
            frozenset({hour}),
            frozenset(range(1, 32)),
            frozenset(range(1, 13)),
            frozenset(range(7)),
        ),
        day_of_month_star=True,
        day_of_week_star=True,
    )
    after = data.draw(cron_moments(zone_name))
    _check_cron(cron, zone_name, after)
    schedule = CronSchedule(cron.expression, zone_name)
    first = schedule.next(after)
    second = schedule.next(first) if first else None
    assert first is not None
    assert second is not None
    zone = ZoneInfo(zone_name)
    assert second.astimezone(zone).date() > first.astimezone(zone).date()
