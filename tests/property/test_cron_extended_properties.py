"""Properties of extended cron (seconds, L, W, #) against a brute-force oracle.

The oracle knows nothing of the implementation. Each day item is defined by brute
force over the real calendar ("the last Friday" is a Friday with no Friday a week
later, ``15W`` is the Monday-Friday day of the month closest to the 15th), and fire
times are found by walking UTC minute by minute (and each allowed second in a minute)
across every day that matches, reading the wall clock with zoneinfo and applying the
contract's daylight-saving rules: a matching time fires at its first occurrence (or at
both with ``on_fold="both"``), and a gap that swallowed a matching time fires at the
instant it ends (unless ``on_gap="skip"``).

The zones have 30- and 45-minute offsets or shifts, southern-hemisphere rules, and
daylight saving that starts at midnight (America/Santiago).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tickwork import (
    CronSchedule,
    InvalidCronExpressionError,
    InvalidScheduleConfigError,
    default_codec,
)

ZONES = [
    "Australia/Lord_Howe",  # +10:30, a 30-minute shift, southern hemisphere
    "Asia/Kathmandu",  # +5:45, no daylight saving
    "Australia/Eucla",  # +8:45, no daylight saving
    "Pacific/Chatham",  # +12:45 / +13:45, southern hemisphere
    "America/Santiago",  # changes at midnight, southern hemisphere
    "Europe/Paris",
]
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
ONE_SECOND = timedelta(seconds=1)
ONE_MINUTE = timedelta(minutes=1)
# Matching days further than this from the start are not searched by the oracle.
HORIZON_DAYS = 800
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow],
)


def _changes(zone_name: str) -> list[datetime]:
    """UTC days on which the zone's offset changes, 2015-2035 (found by probing)."""
    zone, found = ZoneInfo(zone_name), []
    day = datetime(2015, 1, 1, tzinfo=UTC)
    while day.year < 2036:
        if (
            day.astimezone(zone).utcoffset()
            != (day + timedelta(days=1)).astimezone(zone).utcoffset()
        ):
            found.append(day)
        day += timedelta(days=1)
    return found


CHANGES = {name: _changes(name) for name in ZONES}


@dataclass(frozen=True)
class Spec:
    """An expression and what each of its fields means, spelled out for the oracle."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    dom: tuple[tuple[str, int], ...] | None  # None: "*" or "?"
    dow: tuple[tuple[str, int, int], ...] | None

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_dom = self.dom is None or any(_dom_item(item, day) for item in self.dom)
        by_dow = self.dow is None or any(_dow_item(item, day) for item in self.dow)
        if self.dom is None or self.dow is None:
            return by_dom and by_dow
        return by_dom or by_dow

    def minute_matches(self, wall: datetime) -> bool:
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and self.day_matches(wall.date())
        )

    def matches(self, wall: datetime) -> bool:
        return wall.second in self.seconds and self.minute_matches(wall)


def _length(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _is_weekday(day: date, number: int) -> bool:
    return date(day.year, day.month, number).weekday() < 5


def _dom_item(item: tuple[str, int], day: date) -> bool:
    kind, value = item
    length = _length(day)
    if kind == "day":
        return day.day == value
    if kind == "last":
        return day.day == length - value
    if kind == "lastweekday":
        later = range(day.day + 1, length + 1)
        return _is_weekday(day, day.day) and not any(_is_weekday(day, n) for n in later)
    # nearest weekday: the Monday-Friday day of this month closest to ``value``
    if value > length:
        return False
    weekdays = [n for n in range(1, length + 1) if _is_weekday(day, n)]
    distances = sorted((abs(n - value), n) for n in weekdays)
    assert distances[0][0] != distances[1][0], "the rule is never a tie"
    return day.day == distances[0][1]


def _dow_item(item: tuple[str, int, int], day: date) -> bool:
    kind, weekday, nth = item
    if day.isoweekday() % 7 != weekday:
        return False
    if kind == "weekday":
        return True
    if kind == "last":
        return day.day + 7 > _length(day)
    return (day.day - 1) // 7 + 1 == nth


# --- the oracle ----------------------------------------------------------------------


def _fires(spec: Spec, zone: ZoneInfo, instant: datetime, on_gap: str, on_fold: str) -> bool:
    """Whether the contract says ``spec`` fires at the whole UTC second ``instant``."""
    local = instant.astimezone(zone)
    if spec.matches(local.replace(tzinfo=None)) and (local.fold == 0 or on_fold == "both"):
        return True
    before = (instant - ONE_SECOND).astimezone(zone)
    now_offset, before_offset = local.utcoffset(), before.utcoffset()
    assert now_offset is not None
    assert before_offset is not None
    if on_gap == "skip" or now_offset <= before_offset:
        return False
    wall = before.replace(tzinfo=None) + ONE_SECOND
    while wall < local.replace(tzinfo=None):  # the wall-clock seconds that never happened
        if spec.matches(wall):
            return True
        wall += ONE_SECOND
    return False


def _oracle(
    spec: Spec, zone: ZoneInfo, after: datetime, on_gap: str, on_fold: str
) -> datetime | None:
    """The first fire time after ``after``, or None within the horizon."""
    first = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(HORIZON_DAYS):
        day = first + timedelta(days=offset)
        if not spec.day_matches(day):
            continue
        start = datetime.combine(day, time(0), zone).astimezone(UTC) - timedelta(hours=3)
        end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        minute = max(start, after.replace(second=0, microsecond=0))
        while minute < end + timedelta(hours=3):
            found = _first_in_minute(spec, zone, minute, after, on_gap, on_fold)
            if found is not None:
                return found
            minute += ONE_MINUTE
    return None


def _first_in_minute(
    spec: Spec, zone: ZoneInfo, minute: datetime, after: datetime, on_gap: str, on_fold: str
) -> datetime | None:
    local = minute.astimezone(zone)
    changed = local.utcoffset() != (minute - ONE_SECOND).astimezone(zone).utcoffset()
    if not changed and not spec.minute_matches(local.replace(tzinfo=None)):
        return None
    for second in [0, *sorted(spec.seconds)] if changed else sorted(spec.seconds):
        instant = minute + timedelta(seconds=second)
        if instant > after and _fires(spec, zone, instant, on_gap, on_fold):
            return instant
    return None


# --- strategies ----------------------------------------------------------------------


@st.composite
def plain_field(
    draw: st.DrawFn, low: int, high: int, star_weight: int, *, whole: bool = True
) -> tuple[str, frozenset[int]]:
    """A field without extensions; ``whole=False`` when low-high is not the field's range."""
    form = draw(st.integers(0, 3 + star_weight))
    sweep = "*" if whole else f"{low}-{high}"
    if form == 0:
        value = draw(st.integers(low, high))
        return str(value), frozenset({value})
    if form == 1:
        values = sorted(draw(st.sets(st.integers(low, high), min_size=1, max_size=4)))
        return ",".join(map(str, values)), frozenset(values)
    if form == 2:
        step = draw(st.integers(1, high - low + 1))
        return f"{sweep}/{step}", frozenset(range(low, high + 1, step))
    if form == 3:
        first = draw(st.integers(low, high))
        last = draw(st.integers(first, high))
        return f"{first}-{last}", frozenset(range(first, last + 1))
    return sweep, frozenset(range(low, high + 1))


@st.composite
def dom_items(draw: st.DrawFn) -> tuple[str, tuple[tuple[str, int], ...] | None]:
    if draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["*", "?"])), None
    texts, items = [], []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["day", "last", "lastweekday", "nearest"]))
        if kind == "day":
            value = draw(st.integers(1, 31))
            texts.append(str(value))
        elif kind == "last":
            value = draw(st.sampled_from([0, 0, 1, 2, 5, 27, 30]))
            texts.append("L" if value == 0 and draw(st.booleans()) else f"L-{value}")
        elif kind == "lastweekday":
            value = 0
            texts.append("LW")
        else:
            value = draw(st.sampled_from([1, 2, 15, 28, 29, 30, 31]))
            texts.append(f"{value}W")
        items.append((kind, value))
    return ",".join(texts), tuple(items)


@st.composite
def dow_items(draw: st.DrawFn) -> tuple[str, tuple[tuple[str, int, int], ...] | None]:
    if draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(["*", "?"])), None
    texts, items = [], []
    for _ in range(draw(st.integers(1, 2))):
        weekday = draw(st.integers(0, 6))
        spelled = draw(
            st.sampled_from([str(weekday), DAY_NAMES[weekday], DAY_NAMES[weekday].upper()])
        )
        if weekday == 0 and draw(st.booleans()):
            spelled = "7"
        kind = draw(st.sampled_from(["weekday", "last", "nth"]))
        nth = draw(st.integers(1, 5)) if kind == "nth" else 0
        suffix = {"weekday": "", "last": "L", "nth": f"#{nth}"}[kind]
        texts.append(spelled + suffix)
        items.append((kind, weekday, nth))
    return ",".join(texts), tuple(items)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    with_seconds = draw(st.booleans())
    second_text, seconds = draw(plain_field(0, 59, 1)) if with_seconds else ("", frozenset({0}))
    minute_text, minutes = draw(plain_field(0, 59, 1))
    hour_text, hours = draw(st.one_of(plain_field(0, 23, 2), plain_field(0, 3, 1, whole=False)))
    month_text, months = draw(plain_field(1, 12, 8))
    dom_text, dom = draw(dom_items())
    dow_text, dow = draw(dow_items())
    fields = [minute_text, hour_text, dom_text, month_text, dow_text]
    return Spec(
        expression=" ".join([second_text, *fields] if with_seconds else fields),
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        months=months,
        dom=dom,
        dow=dow,
    )


@st.composite
def starts(draw: st.DrawFn, zone_name: str) -> datetime:
    """A moment within a day and a half of an offset change, or anywhere in 1990-2060."""
    changes = CHANGES[zone_name]
    if changes and draw(st.booleans()):
        day = draw(st.sampled_from(changes))
        seconds = draw(st.integers(-36 * 3600, 36 * 3600))
        return day + timedelta(seconds=seconds, microseconds=draw(st.sampled_from([0, 1, 500_000])))
    return draw(
        st.datetimes(
            min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
        )
    )


def _schedule(spec: Spec, zone_name: str, on_gap: str, on_fold: str) -> CronSchedule:
    try:
        return CronSchedule(spec.expression, zone_name, on_gap=on_gap, on_fold=on_fold)
    except InvalidCronExpressionError as exc:
        assume(exc.reason != "it never matches a real date")  # 30W in February and friends
        raise


def _check(spec: Spec, zone_name: str, after: datetime, on_gap: str, on_fold: str) -> None:
    zone = ZoneInfo(zone_name)
    schedule = _schedule(spec, zone_name, on_gap, on_fold)
    for _ in range(3):  # chained like the scheduler: strictly increasing, each the oracle's
        expected = _oracle(spec, zone, after, on_gap, on_fold)
        result = schedule.next(after)
        if expected is None:
            assert (
                result is None or result.date() > (after + timedelta(days=HORIZON_DAYS - 2)).date()
            )
            return
        assert result == expected, f"{spec.expression} in {zone_name} after {after}"
        assert result > after
        after = result


def _property_test(zone_name: str) -> None:
    @PROPERTY_SETTINGS
    @given(
        spec=specs(),
        after=starts(zone_name),
        on_gap=st.sampled_from(["run_after", "run_after", "skip"]),
        on_fold=st.sampled_from(["once", "once", "both"]),
    )
    def check(spec: Spec, after: datetime, on_gap: str, on_fold: str) -> None:
        _check(spec, zone_name, after, on_gap, on_fold)

    check()


def test_lord_howe() -> None:
    _property_test("Australia/Lord_Howe")


def test_kathmandu() -> None:
    _property_test("Asia/Kathmandu")


def test_eucla() -> None:
    _property_test("Australia/Eucla")


def test_chatham() -> None:
    _property_test("Pacific/Chatham")


def test_santiago() -> None:
    _property_test("America/Santiago")


def test_paris() -> None:
    _property_test("Europe/Paris")


# --- targeted: every day rule over whole years, every policy at every change ------------


@settings(max_examples=150, deadline=timedelta(seconds=2))
@given(
    dom=dom_items(),
    dow=dow_items(),
    month=plain_field(1, 12, 2),
    year=st.integers(1990, 2100),
)
def test_day_rules_match_the_calendar(
    dom: tuple[str, tuple[tuple[str, int], ...] | None],
    dow: tuple[str, tuple[tuple[str, int, int], ...] | None],
    month: tuple[str, frozenset[int]],
    year: int,
) -> None:
    """At midnight UTC the fire times are exactly the matching days, two years running."""
    spec = Spec(
        expression=f"0 0 {dom[0]} {month[0]} {dow[0]}",
        seconds=frozenset({0}),
        minutes=frozenset({0}),
        hours=frozenset({0}),
        months=month[1],
        dom=dom[1],
        dow=dow[1],
    )
    schedule = _schedule(spec, "UTC", "run_after", "once")
    start, end = date(year, 1, 1), date(year + 2, 1, 1)
    expected = [
        start + timedelta(days=n)
        for n in range((end - start).days)
        if spec.day_matches(start + timedelta(days=n))
    ]
    found: list[date] = []
    moment = datetime(year - 1, 12, 31, 12, tzinfo=UTC)
    while (result := schedule.next(moment)) is not None and result.date() < end:
        found.append(result.date())
        moment = result
    assert found == expected, spec.expression


def _change_instant(zone: ZoneInfo, day: datetime) -> datetime:
    """The second in ``day`` (UTC) at which the zone's offset changes, by bisection."""
    low, high = day, day + timedelta(days=1)
    before = low.astimezone(zone).utcoffset()
    while high - low > ONE_SECOND:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


@st.composite
def around_changes(draw: st.DrawFn, zone_name: str) -> tuple[Spec, datetime]:
    """A daily expression whose hours straddle an offset change, and a start near it."""
    zone = ZoneInfo(zone_name)
    change = _change_instant(zone, draw(st.sampled_from(CHANGES[zone_name])))
    hours = {(change - ONE_SECOND).astimezone(zone).hour, change.astimezone(zone).hour}
    hours |= draw(st.sets(st.integers(0, 23), max_size=2))
    with_seconds = draw(st.booleans())
    second_text, seconds = draw(plain_field(0, 59, 1)) if with_seconds else ("", frozenset({0}))
    minute_text, minutes = draw(plain_field(0, 59, 2))
    fields = [minute_text, ",".join(map(str, sorted(hours))), draw(st.sampled_from(["*", "?"]))]
    fields += ["*", "*"]
    spec = Spec(
        expression=" ".join([second_text, *fields] if with_seconds else fields),
        seconds=seconds,
        minutes=minutes,
        hours=frozenset(hours),
        months=frozenset(range(1, 13)),
        dom=None,
        dow=None,
    )
    after = change + timedelta(seconds=draw(st.integers(-3 * 3600, 3600)))
    return spec, after + timedelta(microseconds=draw(st.sampled_from([0, 1, 500_000])))


@pytest.mark.parametrize("zone_name", [z for z in ZONES if CHANGES[z]])
def test_every_policy_at_offset_changes(zone_name: str) -> None:
    @settings(max_examples=60, deadline=timedelta(seconds=3))
    @given(
        case=around_changes(zone_name),
        on_gap=st.sampled_from(["run_after", "skip"]),
        on_fold=st.sampled_from(["once", "both"]),
    )
    def check(case: tuple[Spec, datetime], on_gap: str, on_fold: str) -> None:
        _check(case[0], zone_name, case[1], on_gap, on_fold)

    check()


# --- codec ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=timedelta(seconds=1))
@given(
    spec=specs(),
    zone_name=st.sampled_from([*ZONES, "UTC"]),
    on_gap=st.sampled_from(["run_after", "skip"]),
    on_fold=st.sampled_from(["once", "both"]),
)
def test_every_valid_expression_round_trips(
    spec: Spec, zone_name: str, on_gap: str, on_fold: str
) -> None:
    schedule = _schedule(spec, zone_name, on_gap, on_fold)
    codec = default_codec()
    schedule_type, config = codec.encode(schedule)
    assert codec.decode(schedule_type, config) == schedule
    uses_extensions = any(kind != "day" for kind, _ in spec.dom or ()) or any(
        kind != "weekday" for kind, _, _ in spec.dow or ()
    )
    extended = len(spec.expression.split()) == 6 or uses_extensions
    assert schedule_type == ("cron_ext" if extended else "cron")
    assert config.endswith(spec.expression)  # the text as written, after any prefixes


TOKENS = [*"0123456789*/,-?LW#@ \t", "L-", "mon", "JAN", "sun", "CRON_TZ=UTC ", "DST_GAP=skip "]
CRONISH = st.lists(st.sampled_from(TOKENS), max_size=25).map("".join)


def _decoded(schedule_type: str, text: str) -> object:
    try:
        return default_codec().decode(schedule_type, text)
    except InvalidScheduleConfigError as exc:
        return exc


def _built(text: str) -> object:
    try:
        return CronSchedule(text)
    except InvalidCronExpressionError as exc:
        return exc


@settings(max_examples=300, deadline=timedelta(seconds=1))
@given(text=CRONISH, schedule_type=st.sampled_from(["cron", "cron_ext"]))
def test_fuzzed_configs_decode_or_fail_with_the_typed_error(text: str, schedule_type: str) -> None:
    result = _decoded(schedule_type, text)
    if isinstance(result, InvalidScheduleConfigError):
        assert (result.schedule_type, result.config) == (schedule_type, text)
        return
    assert isinstance(result, CronSchedule)
    assert schedule_type == "cron_ext" or not result.extended


@settings(max_examples=300, deadline=timedelta(seconds=1))
@given(text=CRONISH)
def test_fuzzed_expressions_build_or_fail_with_the_typed_error(text: str) -> None:
    result = _built(text)
    if isinstance(result, InvalidCronExpressionError):
        assert result.expression == text
        return
    assert isinstance(result, CronSchedule)
    assert result.next(datetime(2025, 1, 1, tzinfo=UTC)) is not None
