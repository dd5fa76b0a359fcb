"""Go duration text, both ways, matched against what Go itself writes and reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tickwork._durations import format_go_duration, parse_go_duration

# (timedelta, what Go's Duration.String() prints for it)
FORMATTED = [
    (timedelta(0), "0s"),
    (timedelta(minutes=5), "5m0s"),
    (timedelta(hours=1, minutes=30), "1h30m0s"),
    (timedelta(hours=2), "2h0m0s"),
    (timedelta(milliseconds=500), "500ms"),
    (timedelta(seconds=1.5), "1.5s"),
    (timedelta(microseconds=1), "1\u00b5s"),
    (timedelta(microseconds=999), "999\u00b5s"),
    (timedelta(microseconds=1500), "1.5ms"),
    (timedelta(microseconds=1001), "1.001ms"),
    (timedelta(seconds=1), "1s"),
    (timedelta(seconds=59, microseconds=999_999), "59.999999s"),
    (timedelta(minutes=1, seconds=1, milliseconds=1), "1m1.001s"),
    (timedelta(days=1), "24h0m0s"),
    (timedelta(hours=100, seconds=5), "100h0m5s"),
    (timedelta(days=1, microseconds=1), "24h0m0.000001s"),
    (-timedelta(minutes=5), "-5m0s"),
    (-timedelta(microseconds=1), "-1\u00b5s"),
    (-timedelta(hours=1, milliseconds=1), "-1h0m0.001s"),
    (timedelta.max, "23999999999h59m59.999999s"),
]

# (what Go's time.ParseDuration accepts, the value it means)
PARSED = [
    ("0", timedelta(0)),
    ("-0", timedelta(0)),
    ("+0", timedelta(0)),
    ("0s", timedelta(0)),
    ("5m", timedelta(minutes=5)),
    ("1h", timedelta(hours=1)),
    ("500ms", timedelta(milliseconds=500)),
    ("5s", timedelta(seconds=5)),
    ("+5s", timedelta(seconds=5)),
    ("-5s", timedelta(seconds=-5)),
    ("1478s", timedelta(seconds=1478)),
    ("5.0s", timedelta(seconds=5)),
    ("5.6s", timedelta(seconds=5.6)),
    ("5.s", timedelta(seconds=5)),
    (".5s", timedelta(milliseconds=500)),
    ("1.004s", timedelta(milliseconds=1004)),
    ("100.00100s", timedelta(seconds=100, milliseconds=1)),
    ("11us", timedelta(microseconds=11)),
    ("12\u00b5s", timedelta(microseconds=12)),  # micro sign
    ("12\u03bcs", timedelta(microseconds=12)),  # Greek mu
    ("13ms", timedelta(milliseconds=13)),
    ("15m", timedelta(minutes=15)),
    ("16h", timedelta(hours=16)),
    ("3h30m", timedelta(hours=3, minutes=30)),
    ("1h30m0s", timedelta(hours=1, minutes=30)),
    ("10.5s4m", timedelta(minutes=4, seconds=10.5)),
    ("-2m3.4s", -timedelta(minutes=2, seconds=3.4)),
    ("1h2m3s4ms5us6ns", timedelta(hours=1, minutes=2, seconds=3, milliseconds=4, microseconds=5)),
    ("39h9m14.425s", timedelta(hours=39, minutes=9, seconds=14.425)),
    ("52763797000ns", timedelta(seconds=52, microseconds=763797)),
    ("0.3333333333333333333h", timedelta(minutes=20)),
    ("1.5h", timedelta(minutes=90)),
    ("0000000000000000000000000001s", timedelta(seconds=1)),
    # Go's int64 limits, exactly.
    ("9223372036854775807ns", timedelta(microseconds=9223372036854776)),
    ("-9223372036854775808ns", -timedelta(microseconds=9223372036854776)),
    ("2562047h47m16.854775807s", timedelta(microseconds=9223372036854776)),
]


@pytest.mark.parametrize(("value", "text"), FORMATTED, ids=[t for _, t in FORMATTED])
def test_format_matches_go(value: timedelta, text: str) -> None:
    assert format_go_duration(value) == text


@pytest.mark.parametrize(("value", "text"), FORMATTED, ids=[t for _, t in FORMATTED])
def test_formatted_durations_parse_back(value: timedelta, text: str) -> None:
    assert parse_go_duration(text) == value


def test_micro_sign_is_the_one_go_writes() -> None:
    assert format_go_duration(timedelta(microseconds=7)).encode() == b"7\xc2\xb5s"


@pytest.mark.parametrize(("text", "value"), PARSED, ids=[t for t, _ in PARSED])
def test_parse_accepts_what_go_accepts(text: str, value: timedelta) -> None:
    assert parse_go_duration(text) == value


@pytest.mark.parametrize(
    ("text", "microseconds"),
    [
        ("1ns", 0),
        ("499ns", 0),
        ("500ns", 0),  # a tie goes to the even microsecond
        ("501ns", 1),
        ("1500ns", 2),
        ("2500ns", 2),
        ("-1500ns", -2),
        ("1.0000005us", 1),  # sub-nanosecond digits are truncated first, like Go
    ],
)
def test_nanoseconds_round_to_the_nearest_microsecond(text: str, microseconds: int) -> None:
    assert parse_go_duration(text) == timedelta(microseconds=microseconds)


def test_values_beyond_go_int64_but_within_timedelta_are_accepted() -> None:
    # Go refuses these (its Duration is int64 nanoseconds); Python can hold them, and
    # the codec must read back whatever it wrote.
    assert parse_go_duration("3000000h") == timedelta(hours=3_000_000)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-",
        "+",
        "3",
        "-3",
        "00",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "1w",
        "1y",
        "1S",
        "1H",
        "1.1.1s",
        "1 s",
        " 1s",
        "1s ",
        "1h 30m",
        "1s\n",
        "--1s",
        "+-1s",
        "1e9s",
        "0x10s",
        "1_000s",
        "\uff11s",  # fullwidth digit one
        "\u0663s",  # Arabic-Indic digit three
        "NaN",
        "inf",
        "1\u00b5",
        "1mss",
        "1000000000000h",
        "9" * 100 + "h",
        "9" * 5000 + "ns",
        "1" + "0" * 30 + "ns",
    ],
)
def test_parse_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="invalid Go duration"):
        parse_go_duration(text)


def test_parse_error_names_the_input() -> None:
    with pytest.raises(ValueError, match=r"'1x'.*unknown unit 'x'"):
        parse_go_duration("1x")
    with pytest.raises(ValueError, match="missing unit"):
        parse_go_duration("15")


def test_parse_needs_a_string() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        parse_go_duration(300)  # type: ignore[arg-type]


def test_many_segments_add_up() -> None:
    assert parse_go_duration("1s" * 10_000) == timedelta(seconds=10_000)
