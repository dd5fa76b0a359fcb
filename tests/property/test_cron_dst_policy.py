"""Property tests of cron's daylight-saving options against brute force.

Brute force here is the definition itself: walk UTC minute by minute and read each
instant's wall clock in the zone. ``on_gap="skip"`` with ``on_fold="both"`` fires at
exactly the instants whose wall-clock minute matches; ``on_fold="once"`` keeps only the
first occurrence of a repeated wall-clock minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork import CronSchedule

ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe"]
# Transition days of 2025 in those zones (spring forward and fall back, UTC dates).
DST_DAYS = [
    datetime(2025, 3, 30, tzinfo=UTC),
    datetime(2025, 10, 26, tzinfo=UTC),
    datetime(2025, 3, 9, tzinfo=UTC),
    datetime(2025, 11, 2, tzinfo=UTC),
    datetime(2025, 4, 5, tzinfo=UTC),
    datetime(2025, 10, 4, tzinfo=UTC),
]
# Daily expressions, as (minute set, hour set), so the oracle can match by lookup.
EXPRESSIONS = {
    "30 2 * * *": ({30}, {2}),
    "0,30 1,2 * * *": ({0, 30}, {1, 2}),
    "*/15 * * * *": ({0, 15, 30, 45}, set(range(24))),
    "45 1 * * *": ({45}, {1}),
    "0 3 * * *": ({0}, {3}),
    "5 0-3 * * *": ({5}, {0, 1, 2, 3}),
}

MINUTE = timedelta(minutes=1)


def brute_force(schedule: CronSchedule, after: datetime, *, first_pass_only: bool) -> datetime:
    minutes, hours = EXPRESSIONS[schedule.expression]
    zone = ZoneInfo(schedule.timezone)
    instant = after.replace(second=0, microsecond=0) + MINUTE
    for _ in range(3 * 24 * 60):
        local = instant.astimezone(zone)
        if (
            local.minute in minutes
            and local.hour in hours
            and (not first_pass_only or local.fold == 0)
        ):
            return instant
        instant += MINUTE
    raise AssertionError("no match within three days")


moments = st.builds(
    lambda day, minutes, zone: (day - timedelta(hours=12) + timedelta(minutes=minutes), zone),
    st.sampled_from(DST_DAYS),
    st.integers(min_value=0, max_value=36 * 60),
    st.sampled_from(ZONES),
)


@settings(max_examples=150, deadline=None, report_multiple_bugs=False)
@given(moments, st.sampled_from(sorted(EXPRESSIONS)))
def test_skip_and_both_fire_exactly_at_matching_wall_minutes(
    moment: tuple[datetime, str], expression: str
) -> None:
    after, zone = moment
    schedule = CronSchedule(expression, zone, on_gap="skip", on_fold="both")
    assert schedule.next(after) == brute_force(schedule, after, first_pass_only=False)


@settings(max_examples=150, deadline=None, report_multiple_bugs=False)
@given(moments, st.sampled_from(sorted(EXPRESSIONS)))
def test_skip_and_once_fire_at_first_occurrences_only(
    moment: tuple[datetime, str], expression: str
) -> None:
    after, zone = moment
    schedule = CronSchedule(expression, zone, on_gap="skip", on_fold="once")
    assert schedule.next(after) == brute_force(schedule, after, first_pass_only=True)


@settings(max_examples=150, deadline=None, report_multiple_bugs=False)
@given(moments, st.sampled_from(sorted(EXPRESSIONS)))
def test_run_after_with_both_is_the_earlier_of_the_two_rules(
    moment: tuple[datetime, str], expression: str
) -> None:
    # run_after adds the collapsed gap instants to what "skip" fires; "both" adds the
    # second passes to what "once" fires. Combined, the next fire time is the earlier
    # of the default rule's and the skip+both rule's.
    after, zone = moment
    combined = CronSchedule(expression, zone, on_fold="both").next(after)
    default = CronSchedule(expression, zone).next(after)
    exact = CronSchedule(expression, zone, on_gap="skip", on_fold="both").next(after)
    assert default is not None
    assert exact is not None
    assert combined == min(default, exact)


def test_paris_examples() -> None:
    paris = "Europe/Paris"
    spring = datetime(2025, 3, 29, 12, tzinfo=UTC)
    skip = CronSchedule("30 2 * * *", paris, on_gap="skip")
    # 2025-03-30 02:30 does not exist in Paris: the next run is on the 31st.
    assert skip.next(spring) == datetime(2025, 3, 31, 0, 30, tzinfo=UTC)
    assert skip.skipped_between(spring, datetime(2025, 3, 31, tzinfo=UTC)) == [
        datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    ]
    assert (
        CronSchedule("30 2 * * *", paris).skipped_between(spring, spring + timedelta(days=2)) == []
    )
    autumn = datetime(2025, 10, 25, 12, tzinfo=UTC)
    both = CronSchedule("30 2 * * *", paris, on_fold="both")
    first = both.next(autumn)
    assert first == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert both.next(first) == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET
    once = CronSchedule("30 2 * * *", paris)
    assert once.next(first) == datetime(2025, 10, 27, 1, 30, tzinfo=UTC)


def test_policy_round_trips_through_the_codec() -> None:
    from tickwork import default_codec

    codec = default_codec()
    schedule = CronSchedule("30 2 * * *", "Europe/Paris", on_gap="skip", on_fold="both")
    kind, config = codec.encode(schedule)
    assert (kind, config) == ("cron", "CRON_TZ=Europe/Paris DST_GAP=skip DST_FOLD=both 30 2 * * *")
    assert codec.decode(kind, config) == schedule
    assert codec.encode(CronSchedule("30 2 * * *", "Europe/Paris"))[1] == (
        "CRON_TZ=Europe/Paris 30 2 * * *"
    )
