"""A schedule given on the command line as ``TYPE:CONFIG``, for any registered type.

``TYPE:CONFIG`` is exactly what a store holds (``cron_ext:0 0 9 L * *``,
``interval:1h30m0s``), so a schedule type added by a plugin works in ``tickwork
explain`` and ``tickwork jobs add --schedule`` without the command line knowing it.
A type that no loaded plugin registered is reported as an unknown type, with the known
ones listed, rather than being read as something else (a bad cron expression).
"""

from __future__ import annotations

import re

from .._cron import CronSchedule
from .._errors import UnsupportedScheduleError
from .._plugins import available_plugins, default_codec
from ..abc import Schedule
from ._config import ConfigError

__all__ = ["explained_schedule", "typed_schedule"]

# A type name, then a colon. No cron expression contains a colon, so text without
# this shape is a cron expression.
_TYPED = re.compile(r"(?P<type>[A-Za-z_][A-Za-z0-9_.-]*):(?P<config>.*)", re.DOTALL)


def typed_schedule(text: str, flag: str = "--schedule") -> Schedule:
    """Decode ``TYPE:CONFIG`` with the codecs of the loaded plugins.

    :raises ConfigError: ``text`` is not of the form ``TYPE:CONFIG``.
    :raises UnsupportedScheduleError: no loaded plugin registered ``TYPE``.
    :raises InvalidScheduleConfigError: ``CONFIG`` is not valid for ``TYPE``.
    """
    match = _TYPED.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"{flag} takes TYPE:CONFIG as a store keeps it (for example "
            f"'cron_ext:0 0 9 L * *' or 'interval:90m'), got {text!r}"
        )
    return _decode(match["type"], match["config"])


def explained_schedule(text: str, timezone: str | None) -> Schedule:
    """What ``tickwork explain`` shows: ``TYPE:CONFIG``, or else a cron expression.

    :raises ConfigError: ``--tz`` given with ``TYPE:CONFIG`` (the config holds its zone).
    """
    match = _TYPED.fullmatch(text)
    if match is None:
        return CronSchedule(text, timezone or "UTC")
    if timezone is not None:
        raise ConfigError(
            "--tz goes with a cron expression; TYPE:CONFIG carries its own zone "
            "(for example 'cron:CRON_TZ=Europe/Paris 0 9 * * *')"
        )
    return _decode(match["type"], match["config"])


def _decode(schedule_type: str, config: str) -> Schedule:
    known = available_plugins()["codecs"]
    if schedule_type not in known:
        raise UnsupportedScheduleError(schedule_type, known=known)
    return default_codec().decode(schedule_type, config)
