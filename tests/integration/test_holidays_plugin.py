"""The holiday-calendar plugin tickwork-holidays, as a user meets it.

It is found through its entry point, excludes exactly the dates the ``holidays``
package lists for a country and region (checked against the package directly, walking
the inner schedule's fire times one by one), round-trips through the default codec, and
reads any malformed config as a typed error.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tickwork
from tickwork import (
    BoundedSchedule,
    CalendarIntervalSchedule,
    CronSchedule,
    InvalidScheduleConfigError,
    default_codec,
)
from tickwork_holidays import HolidayExclusionSchedule

CALENDARS = [("DE", "BY"), ("US", "CA"), ("FR", None), ("AU", "NSW"), ("NZ", "CIT"), ("NP", None)]
INNER = [
    CronSchedule("0 9 * * 1-5", "Europe/Berlin"),
    CronSchedule("30 2 * * *", "Pacific/Chatham"),
    CronSchedule("0 0 * * *", "Asia/Kathmandu"),
    CalendarIntervalSchedule(
        every=1, unit="days", start="2024-01-01", at="02:00", timezone="Australia/Lord_Howe"
    ),
]
FAST = settings(max_examples=40, deadline=None)


def test_registered_through_its_entry_point() -> None:
    codecs = tickwork.available_plugins()["codecs"]
    assert "except_holidays" in codecs


@FAST
@given(
    st.sampled_from(CALENDARS),
    st.sampled_from(INNER),
    st.dates(date(2024, 1, 1), date(2026, 12, 31)),
)
def test_next_skips_exactly_the_packages_holidays(
    calendar: tuple[str, str | None], inner: CronSchedule, day: date
) -> None:
    country, region = calendar
    schedule = HolidayExclusionSchedule(schedule=inner, country=country, subdivision=region)
    zone = ZoneInfo(schedule.timezone)
    listed = holidays.country_holidays(country, subdiv=region)
    after = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    candidate = inner.next(after)
    while candidate is not None and candidate.astimezone(zone).date() in listed:
        candidate = inner.next(candidate)
    assert schedule.next(after) == candidate
    assert default_codec().decode(*default_codec().encode(schedule)) == schedule


def test_christmas_and_boxing_day_in_bavaria() -> None:
    weekdays = HolidayExclusionSchedule(
        schedule=CronSchedule("0 9 * * *", "Europe/Berlin"), country="DE", subdivision="BY"
    )
    fires = tickwork.preview(weekdays, datetime(2025, 12, 23, tzinfo=UTC), 3)
    assert [f.date() for f in fires] == [date(2025, 12, 23), date(2025, 12, 24), date(2025, 12, 27)]


def test_nests_inside_bounds_and_round_trips() -> None:
    inner = HolidayExclusionSchedule(schedule=INNER[0], country="US", subdivision="CA")
    bounded = BoundedSchedule(schedule=inner, start=datetime(2025, 1, 1, tzinfo=UTC), max_runs=10)
    codec = default_codec()
    kind, config = codec.encode(bounded)
    assert kind == "bounded"
    assert "except_holidays" in config
    assert codec.decode(kind, config) == bounded
    assert len(tickwork.preview(bounded, datetime(2024, 12, 1, tzinfo=UTC), 20)) == 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"country": "XX"}, "unknown country"),
        ({"country": "FR", "subdivision": "ZZ"}, "no subdivision"),
        ({"country": "FR", "categories": ["bank"]}, "no such holiday category"),
        ({"country": "FR", "timezone": "Nowhere/Land"}, "unknown time zone"),
        ({"country": 7}, "ISO 3166"),
    ],
)
def test_bad_calendars_are_typed_one_line_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidScheduleConfigError, match=match) as info:
        HolidayExclusionSchedule(schedule=INNER[0], **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


SAMPLE = json.loads(
    default_codec().encode(HolidayExclusionSchedule(schedule=INNER[0], country="DE"))[1]
)


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(sorted(SAMPLE)),
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.lists(st.text(max_size=6), max_size=3)
    | st.just({"type": "gone", "config": ""}),
    st.booleans(),
)
def test_malformed_configs_are_typed_errors(key: str, junk: object, drop: bool) -> None:
    config = dict(SAMPLE)
    if drop:
        del config[key]
    else:
        config[key] = junk
    try:
        default_codec().decode("except_holidays", json.dumps(config))
    except InvalidScheduleConfigError as exc:
        error: InvalidScheduleConfigError | None = exc
    else:
        error = None  # still valid (another real subdivision, say)
    if error is not None:
        assert error.schedule_type == "except_holidays"


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_random_text_is_a_typed_error(text: str) -> None:
    with pytest.raises(InvalidScheduleConfigError):
        default_codec().decode("except_holidays", text)


def test_holidays_end_where_the_package_stops_listing_them() -> None:
    """Every 1 January is a French holiday as far as the package lists them; the search
    jumps a year at a time and finds the first year past its range."""
    new_year = HolidayExclusionSchedule(schedule=CronSchedule("0 9 1 1 *"), country="FR")
    last_listed = holidays.country_holidays("FR").end_year
    found = new_year.next(datetime(2025, 6, 1, tzinfo=UTC))
    assert found == datetime(last_listed + 1, 1, 1, 9, tzinfo=UTC)
