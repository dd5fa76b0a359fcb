"""The cron grammar: expression text to :class:`CronFields`, with one-line errors.

Two grammars share this parser. The *standard* one is the 5-field grammar every cron
reader agrees on (the reference's robfig-style parser, older tickwork): it is what the
stored type ``cron`` holds. The *extended* one adds an optional leading seconds field,
the descriptors ``@yearly`` ... ``@hourly``, and in the day fields ``L``, ``L-n``,
``LW``, ``nW``, ``nL`` and ``n#k`` (Quartz's meanings). Descriptors are only spellings
of standard expressions, so they are expanded here and never reach storage as such.

``H`` and ``R`` stay refused everywhere: ``R`` is random per parse and ``H`` depends on
a hash of something outside the expression, so neither means one thing to every reader.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from ._cron_fields import CronFields, DayRule
from ._errors import InvalidCronExpressionError

__all__ = ["DESCRIPTORS", "parse_expression"]

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@attrs.frozen
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] = attrs.field(factory=dict)


_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DAY_NAMES = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DAY_OF_WEEK = _Field("day-of-week", 0, 7, _DAY_NAMES)
_FIVE = (_MINUTE, _HOUR, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK)

_ITEM = re.compile(
    r"(?:(?P<star>\*)|(?P<any>\?)|(?P<low>[0-9]+|[a-z]+)(?:-(?P<high>[0-9]+|[a-z]+))?)"
    r"(?:/(?P<step>[0-9]+))?",
    re.IGNORECASE,
)
_FROM_LAST = re.compile(r"L(?:-(?P<back>[0-9]+))?", re.IGNORECASE)
_NEAREST = re.compile(r"(?P<day>[0-9]+)W", re.IGNORECASE)
_LAST_OF = re.compile(r"(?P<day>[0-9]+|[a-z]+?)L", re.IGNORECASE)
_NTH_OF = re.compile(r"(?P<day>[0-9]+|[a-z]+)#(?P<nth>[0-9]+)", re.IGNORECASE)
_STANDARD_HINT = (
    "use numbers, names (jan, mon), *, ranges (1-5), lists (1,3,5) and steps (*/15); "
    "L, W and # are stored as type cron_ext; H and R are not supported"
)
_EXTENDED_HINT = (
    "use numbers, names (jan, mon), *, ranges (1-5), lists (1,3,5), steps (*/15), "
    "and in the day fields L, L-3, LW, 15W, 5L and mon#2; H and R are not supported"
)
_STANDARD_COUNT = "expected 5 fields (minute hour day-of-month month day-of-week)"
_EXTENDED_COUNT = (
    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading "
    "second field"
)


def parse_expression(expression: Any, *, standard: bool) -> tuple[str, CronFields]:
    """The normalised text (single spaces, descriptors expanded) and its fields.

    :param standard: accept only the 5-field grammar (what the ``cron`` type stores).
    :raises InvalidCronExpressionError: the expression is malformed for that grammar.
    """
    fields = _split(expression, standard=standard)
    specs = _FIVE if len(fields) == 5 else (_SECOND, *_FIVE)
    parser = _FieldParser(expression, standard=standard)
    values = [parser.values(spec, field) for spec, field in zip(specs, fields, strict=True)]
    if len(fields) == 5:
        values.insert(0, {0})
    day_rule = parser.day_rule(fields[-3], fields[-1], values[3], values[5])
    parsed = CronFields(
        seconds=tuple(sorted(values[0])),
        minutes=tuple(sorted(values[1])),
        hours=tuple(sorted(values[2])),
        months=frozenset(values[4]),
        day_rule=day_rule,
        extended=len(fields) == 6 or parser.used_extensions,
    )
    return " ".join(fields), parsed


def _split(expression: Any, *, standard: bool) -> list[str]:
    """Check the shape of an expression and return its fields."""
    if not isinstance(expression, str):
        raise InvalidCronExpressionError(expression, "expected a string such as '0 9 * * 1-5'")
    fields = expression.split()
    if not fields:
        raise InvalidCronExpressionError(expression, "it is empty")
    if fields[0].upper().startswith(("CRON_TZ=", "TZ=")):
        raise InvalidCronExpressionError(
            expression,
            "a time zone prefix is not part of the expression; pass timezone=... instead",
        )
    if not standard and fields[0].startswith("@"):
        return _descriptor(expression, fields)
    allowed = (5,) if standard else (5, 6)
    if len(fields) not in allowed:
        count = _STANDARD_COUNT if standard else _EXTENDED_COUNT
        extra = ""
        if len(fields) == 6 and standard:
            extra = "; one with a seconds field is stored as type cron_ext"
        elif len(fields) == 7 and not standard:
            extra = "; a year field is not supported"
        raise InvalidCronExpressionError(expression, f"{count}, got {len(fields)}{extra}")
    return fields


def _descriptor(expression: str, fields: list[str]) -> list[str]:
    expansion = DESCRIPTORS.get(fields[0].lower()) if len(fields) == 1 else None
    if expansion is None:
        hint = "; for '@every <duration>' use an interval schedule" if "every" in expression else ""
        raise InvalidCronExpressionError(
            expression, f"unknown descriptor; use one of {', '.join(DESCRIPTORS)}{hint}"
        )
    return expansion.split()


class _FieldParser:
    """Parses the fields of one expression; remembers whether extensions were used."""

    def __init__(self, expression: str, *, standard: bool) -> None:
        self.expression = expression
        self.standard = standard
        self.used_extensions = False
        self._dom_extras: dict[str, set[Any]] = {"from_last": set(), "nearest": set()}
        self._dow_extras: dict[str, set[Any]] = {"last_of": set(), "nth_of": set()}
        self._last_weekday = False

    def fail(self, reason: str) -> InvalidCronExpressionError:
        return InvalidCronExpressionError(self.expression, reason)

    def values(self, spec: _Field, field: str) -> set[int]:
        """The plain values a field allows (extension items are kept aside)."""
        if field == "*" or (field == "?" and spec in (_DAY_OF_MONTH, _DAY_OF_WEEK)):
            low, high = (spec.low, 6) if spec is _DAY_OF_WEEK else (spec.low, spec.high)
            return set(range(low, high + 1))
        values: set[int] = set()
        for item in field.split(","):
            if not self.standard and self._extension(spec, item):
                self.used_extensions = True
                continue
            values.update(self._item(spec, field, item))
        return values

    def day_rule(self, dom: str, dow: str, days: set[int], weekdays: set[int]) -> DayRule:
        return DayRule(
            dom_restricted=dom not in ("*", "?"),
            dow_restricted=dow not in ("*", "?"),
            days=frozenset(days),
            from_last=frozenset(self._dom_extras["from_last"]),
            nearest_weekday=frozenset(self._dom_extras["nearest"]),
            last_weekday=self._last_weekday,
            weekdays=frozenset(weekdays),
            last_of=frozenset(self._dow_extras["last_of"]),
            nth_of=frozenset(self._dow_extras["nth_of"]),
        )

    def _extension(self, spec: _Field, item: str) -> bool:
        """Record ``item`` if it is an ``L``/``W``/``#`` item of a day field."""
        if not item.isascii():
            return False
        if spec is _DAY_OF_MONTH:
            return self._day_of_month_extension(item)
        if spec is _DAY_OF_WEEK:
            return self._day_of_week_extension(item)
        return False

    def _day_of_month_extension(self, item: str) -> bool:
        if item.upper() == "LW":
            self._last_weekday = True
            return True
        if match := _FROM_LAST.fullmatch(item):
            back = _number(match["back"] or "0")
            if back > 30:
                raise self.fail(f"day-of-month {item!r} counts back more than 30 days")
            self._dom_extras["from_last"].add(back)
            return True
        if match := _NEAREST.fullmatch(item):
            self._dom_extras["nearest"].add(self._value(_DAY_OF_MONTH, match["day"]))
            return True
        return False

    def _day_of_week_extension(self, item: str) -> bool:
        if item.upper() == "L":
            raise self.fail(
                "'L' alone in the day-of-week field is ambiguous; write 6 (or sat) for "
                "Saturday, or 5L for the last Friday of the month"
            )
        if match := _NTH_OF.fullmatch(item):
            nth = _number(match["nth"])
            if not 1 <= nth <= 5:
                raise self.fail(f"day-of-week {item!r}: the number after '#' must be 1 to 5")
            weekday = self._value(_DAY_OF_WEEK, match["day"]) % 7
            self._dow_extras["nth_of"].add((weekday, nth))
            return True
        if match := _LAST_OF.fullmatch(item):
            self._dow_extras["last_of"].add(self._value(_DAY_OF_WEEK, match["day"]) % 7)
            return True
        return False

    def _item(self, spec: _Field, field: str, item: str) -> range | set[int]:
        match = _ITEM.fullmatch(item) if item.isascii() else None
        if match is None:
            hint = _STANDARD_HINT if self.standard else _EXTENDED_HINT
            raise self.fail(f"{spec.name} field {field!r} is not valid: {hint}")
        if match["any"]:
            raise self.fail("'?' may only stand alone in the day-of-month or day-of-week field")
        step = 1
        if match["step"] is not None:
            step = _number(match["step"])
            if step == 0:
                raise self.fail(f"{spec.name} step in {item!r} must be at least 1")
        # Day-of-week accepts 7 for Sunday, but a "*" or "n/step" sweep stops at Saturday.
        low, high = (spec.low, spec.high) if spec is not _DAY_OF_WEEK else (0, 6)
        if match["low"] is not None:
            low, high = self._bounds(spec, item, match, high)
        if spec is _DAY_OF_WEEK:
            return {value % 7 for value in range(low, high + 1, step)}
        return range(low, high + 1, step)

    def _bounds(self, spec: _Field, item: str, match: re.Match[str], high: int) -> tuple[int, int]:
        low = self._value(spec, match["low"])
        if match["high"] is not None:
            high = self._value(spec, match["high"])
            if spec is _DAY_OF_WEEK and match["high"].lower() == "sun":
                high = 7  # "mon-sun": Sunday closes the week here
            if low > high:
                raise self.fail(
                    f"{spec.name} range {item!r} runs backwards; "
                    "write it as a list (for example 22-23,0-2)"
                )
        elif match["step"] is None:
            high = low
        return low, high

    def _value(self, spec: _Field, token: str) -> int:
        if token.isdigit():
            number = _number(token)
        else:
            if token.lower() not in spec.names:
                hint = _STANDARD_HINT if self.standard else _EXTENDED_HINT
                hint = f"; use one of {', '.join(spec.names)}" if spec.names else f"; {hint}"
                raise self.fail(f"unknown name {token!r} in the {spec.name} field{hint}")
            number = spec.names[token.lower()]
        if not spec.low <= number <= spec.high:
            raise self.fail(f"{spec.name} value {token!r} is out of range {spec.low}-{spec.high}")
        return number


def _number(digits: str) -> int:
    """Digits as an int; anything with more than four significant digits is just big."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 4 else 10**4
