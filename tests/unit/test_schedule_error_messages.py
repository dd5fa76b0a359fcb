"""A stored schedule that cannot be decoded says what is wrong with it (issue 13).

A malformed cron expression, an unknown time zone and a bad interval are each reported
in their own words, naming the value, as :class:`InvalidScheduleConfigError`; "no codec
handles schedule X" (:class:`UnsupportedScheduleError`) is only for a type nothing
installed can read. A quarantined job's reason is this message, word for word.
"""

from __future__ import annotations

import pytest

from tickwork import InvalidScheduleConfigError, UnsupportedScheduleError, default_codec


@pytest.mark.parametrize(
    ("schedule_type", "config", "message"),
    [
        pytest.param(
            "cron",
            "not a cron",
            "invalid cron schedule configuration 'not a cron': expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 3",
            id="malformed-cron",
        ),
        pytest.param(
            "cron",
            "61 9 * * *",
            "invalid cron schedule configuration '61 9 * * *': minute value '61' is out of "
            "range 0-59",
            id="cron-out-of-range",
        ),
        pytest.param(
            "cron",
            "CRON_TZ=Mars/Base 0 9 * * *",
            "invalid cron schedule configuration 'CRON_TZ=Mars/Base 0 9 * * *': unknown time "
            "zone 'Mars/Base'; use an IANA name such as 'Europe/Paris'",
            id="unknown-zone",
        ),
        pytest.param(
            "interval",
            "banana",
            "invalid interval schedule configuration 'banana': invalid Go duration "
            "'banana': expected a number with a unit, e.g. 5m",
            id="bad-interval",
        ),
    ],
)
def test_a_bad_config_says_what_is_wrong_and_names_the_value(
    schedule_type: str, config: str, message: str
) -> None:
    with pytest.raises(InvalidScheduleConfigError) as caught:
        default_codec().decode(schedule_type, config)
    assert not isinstance(caught.value, UnsupportedScheduleError)
    assert str(caught.value) == message
    assert "no codec" not in message
    assert (caught.value.schedule_type, caught.value.config) == (schedule_type, config)


def test_only_an_unknown_type_is_no_codec() -> None:
    with pytest.raises(UnsupportedScheduleError) as caught:
        default_codec().decode("lunar", "full moon")
    assert not isinstance(caught.value, InvalidScheduleConfigError)
    assert str(caught.value).startswith("no codec handles schedule 'lunar'; known types: ")
