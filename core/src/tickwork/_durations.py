"""Go's duration text format, so interval configs stay readable by the reference library.

The reference library stores intervals with Go's ``time.Duration.String()`` and reads
them with ``time.ParseDuration``. Both sides here work in integer nanoseconds, exactly
as Go does, and only the final step touches :class:`~datetime.timedelta` (whose
resolution is a microsecond). Python's timedelta reaches far beyond Go's int64 range
(about 292 years); such values are formatted and parsed the same way, but Go cannot
read them back.
"""

from __future__ import annotations

import re
from datetime import timedelta

from ._timeutil import to_nanoseconds

__all__ = ["format_go_duration", "parse_go_duration"]

_NS_PER_US = 1_000
_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000

_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": _NS_PER_US,
    "\u00b5s": _NS_PER_US,  # micro sign, what Go writes
    "\u03bcs": _NS_PER_US,  # Greek small letter mu, which Go also reads
    "ms": _NS_PER_MS,
    "s": _NS_PER_S,
    "m": 60 * _NS_PER_S,
    "h": 3_600 * _NS_PER_S,
}

# The largest magnitude a timedelta can hold, in nanoseconds.
_MAX_NS = to_nanoseconds(timedelta.max)

# A segment is what Go's parser consumes in one loop: digits, an optional fraction,
# and everything up to the next digit or dot as the unit (so "1 h" has unit " h").
_SEGMENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")

# More integer digits than this cannot fit in a timedelta whatever the unit; checking
# the length first keeps absurd inputs from building huge integers.
_MAX_INT_DIGITS = len(str(_MAX_NS))
# Fraction digits beyond this are far below a nanosecond even for hours.
_MAX_FRACTION_DIGITS = 30


def format_go_duration(value: timedelta) -> str:
    """Return ``value`` the way Go's ``time.Duration.String()`` writes it.

    Go picks the unit by magnitude: below one second a single unit (``500ms``,
    ``1.5µs``), otherwise hours, minutes and seconds with a fractional second
    (``1h30m0s``, ``1.5s``). Zero is ``0s``.
    """
    ns = to_nanoseconds(value)
    sign = "-" if ns < 0 else ""
    magnitude = abs(ns)
    if magnitude == 0:
        return "0s"
    if magnitude < _NS_PER_S:
        if magnitude < _NS_PER_US:
            return f"{sign}{magnitude}ns"
        if magnitude < _NS_PER_MS:
            return f"{sign}{_decimal(magnitude, 3)}\u00b5s"
        return f"{sign}{_decimal(magnitude, 6)}ms"
    seconds, fraction_ns = divmod(magnitude, _NS_PER_S)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = _decimal(seconds * _NS_PER_S + fraction_ns, 9) + "s"
    if minutes or hours:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, precision: int) -> str:
    """``value / 10**precision`` with trailing fractional zeros (and a bare dot) dropped."""
    whole, fraction = divmod(value, 10**precision)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(precision, "0").rstrip("0")
    return f"{whole}.{digits}"


def parse_go_duration(text: str) -> timedelta:
    """Parse anything Go's ``time.ParseDuration`` accepts.

    That is an optional sign followed by one or more decimal numbers, each with a unit
    (``ns``, ``us``, ``µs``, ``μs``, ``ms``, ``s``, ``m``, ``h``), such as ``300ms``,
    ``-1.5h`` or ``2h45m``; a bare ``0`` is zero too. Each segment is truncated to whole
    nanoseconds like Go does, and the total is rounded to the nearest microsecond
    (ties to even).

    :raises TypeError: ``text`` is not a string.
    :raises ValueError: ``text`` is not a Go duration, or is too large for a timedelta.
    """
    if not isinstance(text, str):
        raise TypeError(f"a Go duration must be a string, got {text!r}")
    body = text
    negative = False
    if body[:1] in ("-", "+"):
        negative = body[0] == "-"
        body = body[1:]
    if body == "0":
        return timedelta(0)
    if not body or not any(c.isdigit() for c in body):
        raise ValueError(f"invalid Go duration {text!r}: expected a number with a unit, e.g. 5m")
    total = 0
    position = 0
    while position < len(body):
        match = _SEGMENT.match(body, position)
        # The pattern can match the empty string, so a match always exists.
        assert match is not None
        integer, fraction, unit = match.groups()
        if not integer and not fraction:
            raise ValueError(f"invalid Go duration {text!r}: every unit needs a number before it")
        if not unit:
            raise ValueError(f"invalid Go duration {text!r}: missing unit (ns, us, ms, s, m, h)")
        unit_ns = _UNITS_NS.get(unit)
        if unit_ns is None:
            raise ValueError(
                f"invalid Go duration {text!r}: unknown unit {unit!r} "
                "(use ns, us, µs, ms, s, m or h)"
            )
        total += _segment_ns(text, integer, fraction or "", unit_ns)
        if total > _MAX_NS:
            raise ValueError(f"invalid Go duration {text!r}: too large for a timedelta")
        position = match.end()
    microseconds = _round_half_even(total, _NS_PER_US)
    return timedelta(microseconds=-microseconds if negative else microseconds)


def _segment_ns(text: str, integer: str, fraction: str, unit_ns: int) -> int:
    """One segment's value in whole nanoseconds, truncating like Go."""
    integer = integer.lstrip("0")
    if len(integer) > _MAX_INT_DIGITS:
        raise ValueError(f"invalid Go duration {text!r}: too large for a timedelta")
    value = int(integer or "0") * unit_ns
    fraction = fraction[:_MAX_FRACTION_DIGITS]
    if fraction:
        value += int(fraction) * unit_ns // 10 ** len(fraction)
    return value


def _round_half_even(value: int, step: int) -> int:
    """``value / step`` rounded to the nearest integer, ties to even (value >= 0)."""
    quotient, remainder = divmod(value, step)
    if remainder * 2 > step or (remainder * 2 == step and quotient % 2):
        quotient += 1
    return quotient
