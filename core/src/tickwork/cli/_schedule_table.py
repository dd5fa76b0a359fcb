"""The ``schedule`` key of a ``[[jobs]]`` table: any registered schedule type.

``schedule = "TYPE:CONFIG"`` is the stored form, as ``jobs add --schedule`` takes it.
For the types whose config is a JSON object (calendar intervals, bounds, unions,
exclusions, holiday calendars) a TOML table reads better, so the config may also be a
table, whose TOML dates, times and datetimes become the text the codec reads::

    schedule = { type = "calendar_interval", config = { every = 2, unit = "weeks",
                 start = 2025-01-06, at = 09:00:00, timezone = "Europe/Paris" } }
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from .._codecs import format_rfc3339
from .._compound_codec import dump_config
from .._errors import InvalidScheduleConfigError, UnsupportedScheduleError
from .._plugins import available_plugins, default_codec
from ..abc import Schedule

__all__ = ["schedule_from_key"]


def schedule_from_key(value: Any) -> Schedule:
    """Decode the ``schedule`` key (a ``TYPE:CONFIG`` string or a ``{type, config}``
    table) with the codecs of the loaded plugins.

    :raises ValueError: the key has the wrong shape, names an unknown type, or its
        config is invalid (all are ``ValueError`` subclasses).
    """
    if isinstance(value, str):
        schedule_type, colon, config = value.partition(":")
        if not colon or not schedule_type:
            raise ValueError(
                f"schedule must be 'TYPE:CONFIG' (for example 'interval:90m') or a table "
                f"with type and config, got {value!r}"
            )
        return _decode(schedule_type, config)
    if not isinstance(value, dict) or set(value) != {"type", "config"}:
        raise ValueError(
            "schedule must be 'TYPE:CONFIG' or a table { type = ..., config = ... }, "
            f"got {value!r}"
        )
    schedule_type, config = value["type"], value["config"]
    if not isinstance(schedule_type, str):
        raise ValueError(f"schedule.type must be a schedule type name, got {schedule_type!r}")
    if isinstance(config, dict):
        config = dump_config(_plain(config, schedule_type))
    if not isinstance(config, str):
        raise ValueError(f"schedule.config must be a string or a table, got {config!r}")
    return _decode(schedule_type, config)


def _plain(value: Any, schedule_type: str) -> Any:
    """TOML values as the JSON a codec reads: dates, times and datetimes as text."""
    if isinstance(value, dict):
        return {key: _plain(item, schedule_type) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, schedule_type) for item in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidScheduleConfigError(
                schedule_type, value, "a time needs its UTC offset (2025-01-01T09:00:00Z)"
            )
        return format_rfc3339(value)
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def _decode(schedule_type: str, config: str) -> Schedule:
    known = available_plugins()["codecs"]
    if schedule_type not in known:
        raise UnsupportedScheduleError(schedule_type, known=known)
    return default_codec().decode(schedule_type, config)
