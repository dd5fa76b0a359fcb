"""The codec of calendar intervals, bounds, unions and date exclusions.

Their configs are JSON objects, because they nest: a bounded schedule holds its inner
schedule as ``{"type": ..., "config": ...}``, encoded by whichever codec handles that
type (the default codec of all loaded plugins, unless one is given). Times are RFC
3339 in UTC, dates ``YYYY-MM-DD``, wall-clock times ``HH:MM[:SS]``. Each type has a
name of its own, so a reader without this codec quarantines the job rather than
misreading it.

Decoding fails with :class:`InvalidScheduleConfigError` only: unknown keys, missing
keys and wrong types name the key at fault. A nested schedule of a type nobody
registered fails as malformed too (its whole row then reads as undecodable).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, NoReturn

from ._bounded import BOUNDED, BoundedSchedule
from ._calendar_interval import CALENDAR_INTERVAL, CalendarIntervalSchedule
from ._codecs import format_rfc3339, parse_rfc3339
from ._combined import EXCEPT_DATES, UNION, ExceptDatesSchedule, UnionSchedule
from ._errors import InvalidScheduleConfigError, TickworkError, UnsupportedScheduleError
from .abc import Schedule, ScheduleCodec

__all__ = ["CompoundScheduleCodec", "JsonConfig", "dump_config", "load_config"]

#: Longer configs are refused before parsing (a nested schedule is escaped once per level
#: of nesting, which also keeps the nesting shallow).
MAX_CONFIG_LENGTH = 16_384

JsonConfig = dict[str, Any]


def dump_config(config: JsonConfig) -> str:
    """The stored text of a config: compact, keys sorted, so equal schedules encode
    equally."""
    return json.dumps(config, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def load_config(text: str, required: set[str], optional: set[str]) -> JsonConfig:
    """Parse a stored JSON object and check its keys.

    :raises ValueError: not a JSON object, a key missing, or an unknown key.
    """
    if not isinstance(text, str):
        raise ValueError("expected a string")
    if len(text) > MAX_CONFIG_LENGTH:
        raise ValueError(f"longer than {MAX_CONFIG_LENGTH} characters")
    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("not valid JSON") from None
    if not isinstance(config, dict):
        raise ValueError("expected a JSON object")
    missing = required - config.keys()
    if missing:
        raise ValueError(f"missing key(s) {', '.join(sorted(missing))}")
    unknown = config.keys() - required - optional
    if unknown:
        known = ", ".join(sorted(required | optional))
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))} (known: {known})")
    return config


def _typed(config: JsonConfig, key: str, kind: type | tuple[type, ...]) -> Any:
    value = config.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ValueError(f"{key} has the wrong type: {value!r}")
    return value


class CompoundScheduleCodec:
    """Encodes and decodes ``calendar_interval``, ``bounded``, ``union`` and
    ``except_dates``.

    :param inner: the codec for nested schedules; by default the default codec of all
        loaded plugins, looked up on each use (so a plugin loaded later is seen).
    """

    known_types: tuple[str, ...] = (BOUNDED, CALENDAR_INTERVAL, EXCEPT_DATES, UNION)

    def __init__(self, inner: ScheduleCodec | None = None) -> None:
        self._inner = inner

    def _codec(self) -> ScheduleCodec:
        if self._inner is not None:
            return self._inner
        from ._plugins import default_codec  # the registry imports this module

        return default_codec()

    #: Plugins with nested configs of their own use these two (see tickwork-holidays).
    dump = staticmethod(dump_config)
    load = staticmethod(load_config)

    def nest(self, schedule: Schedule) -> JsonConfig:
        """A schedule as the ``{"type", "config"}`` object a compound config holds."""
        schedule_type, config = self._codec().encode(schedule)
        return {"type": schedule_type, "config": config}

    def unnest(self, value: Any) -> Schedule:
        """Decode a nested ``{"type", "config"}`` object.

        :raises ValueError: malformed, or of a type no codec knows.
        """
        if not isinstance(value, dict) or set(value) != {"type", "config"}:
            raise ValueError('a nested schedule must be {"type": ..., "config": ...}')
        schedule_type, config = value["type"], value["config"]
        if isinstance(config, dict):  # written by hand: a JSON config need not be quoted
            config = dump_config(config)
        if not isinstance(schedule_type, str) or not isinstance(config, str):
            raise ValueError("a nested schedule's type must be a string, its config a string")
        try:
            return self._codec().decode(schedule_type, config)
        except InvalidScheduleConfigError as exc:
            raise ValueError(f"nested {schedule_type} schedule: {exc.reason}") from None
        except UnsupportedScheduleError:
            raise ValueError(
                f"nested schedule type {schedule_type!r} is not registered; "
                "install the plugin that provides it"
            ) from None

    def encode(self, schedule: Schedule) -> tuple[str, str]:
        if isinstance(schedule, CalendarIntervalSchedule):
            return CALENDAR_INTERVAL, dump_config(_calendar_config(schedule))
        if isinstance(schedule, BoundedSchedule):
            config: JsonConfig = {"schedule": self.nest(schedule.schedule)}
            if schedule.start is not None:
                config["start"] = format_rfc3339(schedule.start)
            if schedule.end is not None:
                config["end"] = format_rfc3339(schedule.end)
            if schedule.max_runs is not None:
                config["max_runs"] = schedule.max_runs
            return BOUNDED, dump_config(config)
        if isinstance(schedule, UnionSchedule):
            return UNION, dump_config({"schedules": [self.nest(s) for s in schedule.schedules]})
        if isinstance(schedule, ExceptDatesSchedule):
            return EXCEPT_DATES, dump_config(
                {
                    "schedule": self.nest(schedule.schedule),
                    "dates": sorted(d.isoformat() for d in schedule.dates),
                    "timezone": schedule.timezone,
                }
            )
        cls = type(schedule)
        raise UnsupportedScheduleError(f"{cls.__module__}.{cls.__qualname__}", self.known_types)

    def decode(self, schedule_type: str, config: str) -> Schedule:
        if schedule_type not in self.known_types:
            raise UnsupportedScheduleError(schedule_type, known=self.known_types)
        try:
            return self._decode(schedule_type, config)
        except InvalidScheduleConfigError as exc:
            raise InvalidScheduleConfigError(schedule_type, config, exc.reason) from None
        except (ValueError, TickworkError) as exc:
            _invalid(schedule_type, config, str(exc) or type(exc).__name__)
        except Exception as exc:  # a bug, but stored data must still read as malformed
            _invalid(schedule_type, config, f"{type(exc).__name__}: {exc}")

    def _decode(self, schedule_type: str, text: str) -> Schedule:
        if schedule_type == CALENDAR_INTERVAL:
            config = load_config(
                text,
                {"every", "unit", "start", "at", "timezone"},
                {"on_month_end", "on_gap", "on_fold"},
            )
            for key in ("start", "at", "timezone", "on_month_end", "on_gap", "on_fold"):
                _typed(config, key, str)
            _typed(config, "every", int)
            return CalendarIntervalSchedule(**config)
        if schedule_type == BOUNDED:
            config = load_config(text, {"schedule"}, {"start", "end", "max_runs"})
            start, end = _typed(config, "start", str), _typed(config, "end", str)
            return BoundedSchedule(
                schedule=self.unnest(config["schedule"]),
                start=None if start is None else parse_rfc3339(start),
                end=None if end is None else parse_rfc3339(end),
                max_runs=_typed(config, "max_runs", int),
            )
        if schedule_type == UNION:
            config = load_config(text, {"schedules"}, set())
            parts = _typed(config, "schedules", list)
            return UnionSchedule([self.unnest(part) for part in parts or ()])
        config = load_config(text, {"schedule", "dates", "timezone"}, set())
        dates = _typed(config, "dates", list)
        if not all(isinstance(d, str) for d in dates or ()):
            raise ValueError("dates must be a list of YYYY-MM-DD strings")
        return ExceptDatesSchedule(
            schedule=self.unnest(config["schedule"]),
            dates=[date.fromisoformat(d) for d in dates or ()],
            timezone=_typed(config, "timezone", str),
        )


def _calendar_config(schedule: CalendarIntervalSchedule) -> JsonConfig:
    config: JsonConfig = {
        "every": schedule.every,
        "unit": schedule.unit,
        "start": schedule.start.isoformat(),
        "at": schedule.at.isoformat(),
        "timezone": schedule.timezone,
    }
    config.update(_options(schedule))
    return config


def _options(schedule: CalendarIntervalSchedule) -> dict[str, str]:
    """The month-end and daylight-saving options that differ from their defaults."""
    options = {
        "on_month_end": (schedule.on_month_end, "clip"),
        "on_gap": (schedule.on_gap, "run_after"),
        "on_fold": (schedule.on_fold, "once"),
    }
    return {key: value for key, (value, default) in options.items() if value != default}


def _invalid(schedule_type: str, config: str, reason: str) -> NoReturn:
    raise InvalidScheduleConfigError(schedule_type, config, reason) from None
