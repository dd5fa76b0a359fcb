"""``HolidayCodec``: ``HolidayExclusionSchedule`` as a JSON config.

The config is one JSON object, with the inner schedule nested the way tickwork's own
combinations nest it (``{"type": ..., "config": ...}``, encoded by the default codec)::

    {"categories":["public"],"country":"FR","schedule":{"config":"0 9 * * 1-5",
     "type":"cron"},"subdivision":null,"timezone":"UTC"}

Decoding raises :class:`tickwork.InvalidScheduleConfigError` and nothing else.
"""

from __future__ import annotations

from typing import Any

from tickwork import (
    CompoundScheduleCodec,
    InvalidScheduleConfigError,
    TickworkError,
    UnsupportedScheduleError,
)
from tickwork.abc import Schedule, ScheduleCodec

from ._schedule import SCHEDULE_TYPE, HolidayExclusionSchedule

__all__ = ["HolidayCodec"]

_KEYS = {"schedule", "country", "subdivision", "categories", "timezone"}


class HolidayCodec:
    """Encodes and decodes schedule type ``except_holidays``.

    :param inner: the codec for the nested schedule (default: tickwork's default codec).
    """

    known_types: tuple[str, ...] = (SCHEDULE_TYPE,)

    def __init__(self, inner: ScheduleCodec | None = None) -> None:
        self._nesting = CompoundScheduleCodec(inner)

    def encode(self, schedule: Schedule) -> tuple[str, str]:
        if not isinstance(schedule, HolidayExclusionSchedule):
            raise UnsupportedScheduleError(type(schedule).__qualname__, self.known_types)
        config = {
            "schedule": self._nesting.nest(schedule.schedule),
            "country": schedule.country,
            "subdivision": schedule.subdivision,
            "categories": list(schedule.categories),
            "timezone": schedule.timezone,
        }
        return SCHEDULE_TYPE, self._nesting.dump(config)

    def decode(self, schedule_type: str, config: str) -> Schedule:
        if schedule_type != SCHEDULE_TYPE:
            raise UnsupportedScheduleError(schedule_type, self.known_types)
        try:
            loaded = self._nesting.load(config, _KEYS, set())
            return _build(self._nesting.unnest(loaded["schedule"]), loaded)
        except InvalidScheduleConfigError as exc:
            raise InvalidScheduleConfigError(schedule_type, config, exc.reason) from None
        except (ValueError, TypeError, TickworkError) as exc:
            raise InvalidScheduleConfigError(schedule_type, config, str(exc)) from None
        except Exception as exc:  # a bug, but stored data must still read as malformed
            reason = f"{type(exc).__name__}: {exc}"
            raise InvalidScheduleConfigError(schedule_type, config, reason) from None


def _build(inner: Schedule, config: dict[str, Any]) -> HolidayExclusionSchedule:
    categories = config["categories"]
    if not isinstance(categories, list):
        raise ValueError("categories must be a list of names")
    return HolidayExclusionSchedule(
        schedule=inner,
        country=config["country"],
        subdivision=config["subdivision"],
        categories=categories,
        timezone=config["timezone"],
    )
