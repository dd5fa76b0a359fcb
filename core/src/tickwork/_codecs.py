"""Schedule codecs: the built-in types as text the reference library also reads.

Stores keep a schedule as ``(schedule_type, config)`` strings. The config formats are
those of the reference's basic codec, so rows written by either library load in the
other: Go durations for intervals, RFC 3339 (Go's ``RFC3339Nano`` style) for times,
and robfig-style ``CRON_TZ=`` prefixes for cron zones.

Decoding reads data from outside (a database, a message), so it must fail with
:class:`InvalidScheduleConfigError` on anything malformed and never with another
exception type: a corrupt row is then reported as such, with the row's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

from ._cron import CronSchedule, require_standard
from ._durations import format_go_duration, parse_go_duration
from ._errors import (
    InvalidScheduleConfigError,
    PluginRegistrationError,
    TickworkError,
    UnsupportedScheduleError,
)
from ._schedules import IntervalSchedule, OnceSchedule, StartAtIntervalSchedule
from ._timeutil import UTC
from .abc import Schedule, ScheduleCodec

__all__ = ["BasicScheduleCodec", "CompositeScheduleCodec", "format_rfc3339", "parse_rfc3339"]

INTERVAL = "interval"
START_AT_INTERVAL = "start_at_interval"
ONCE = "once"
CRON = "cron"
# Cron using syntax beyond the 5-field grammar: a type of its own, so that a reader that
# knows only 5-field cron (the reference library, older tickwork) quarantines the row.
CRON_EXT = "cron_ext"

# Longer configs are refused before any parsing: no real schedule comes close, and
# it bounds the work a corrupt or hostile row can cause.
_MAX_CONFIG_LENGTH = 4096

_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)
_TZ_PREFIXES = ("CRON_TZ=", "TZ=")


def format_rfc3339(value: datetime) -> str:
    """Write an aware datetime as UTC the way Go's ``time.RFC3339Nano`` layout does.

    Trailing zeros of the fraction are dropped, and the fraction entirely when it is
    zero: ``2025-10-02T15:04:05.1234Z``, ``2025-10-02T15:04:05Z``.
    """
    moment = value.astimezone(UTC)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_rfc3339(text: str) -> datetime:
    """Read an RFC 3339 timestamp (``Z`` or a numeric offset) as an aware UTC datetime.

    Go writes up to nine fractional digits; digits beyond the microsecond are
    truncated, as Python cannot hold them.

    :raises ValueError: ``text`` is not an RFC 3339 timestamp of a representable time.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not an RFC 3339 timestamp such as 2025-10-02T15:04:05.123456789Z"
        )
    offset = timedelta(0)
    if match["sign"]:
        hours, minutes = int(match["offset_hour"]), int(match["offset_minute"])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text!r} has an impossible UTC offset")
        offset = timedelta(hours=hours, minutes=minutes)
        if match["sign"] == "-":
            offset = -offset
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        local = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            int(fraction),
            tzinfo=timezone(offset),
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text!r} is not a valid date and time: {exc}") from None


class BasicScheduleCodec:
    """Encodes and decodes the four built-in schedule types.

    - ``interval``: a Go duration, ``5m0s``
    - ``start_at_interval``: ``2025-10-02T15:04:05Z|1h0m0s``
    - ``once``: ``2025-10-02T15:04:05.123456Z``
    - ``cron``: ``0 9 * * 1-5``, or ``CRON_TZ=Europe/Paris 0 9 * * 1-5`` outside UTC;
      non-default daylight-saving options follow the zone as ``DST_GAP=skip`` and
      ``DST_FOLD=both`` (only tickwork reads those)
    - ``cron_ext``: the same for an expression that needs the extended grammar (a
      seconds field, ``L``, ``W``, ``#``): ``CRON_TZ=Europe/Paris 0 30 9 L * *``

    Subclasses of the built-in classes encode as their base type (and decode as it).
    """

    known_types: tuple[str, ...] = (CRON, CRON_EXT, INTERVAL, ONCE, START_AT_INTERVAL)

    def encode(self, schedule: Schedule) -> tuple[str, str]:
        if isinstance(schedule, IntervalSchedule):
            return INTERVAL, format_go_duration(schedule.interval)
        if isinstance(schedule, StartAtIntervalSchedule):
            start_at = format_rfc3339(schedule.start_at)
            return START_AT_INTERVAL, f"{start_at}|{format_go_duration(schedule.interval)}"
        if isinstance(schedule, OnceSchedule):
            return ONCE, format_rfc3339(schedule.run_at)
        if isinstance(schedule, CronSchedule):
            prefix = "" if schedule.timezone == "UTC" else f"CRON_TZ={schedule.timezone} "
            if schedule.on_gap != "run_after":
                prefix += f"DST_GAP={schedule.on_gap} "
            if schedule.on_fold != "once":
                prefix += f"DST_FOLD={schedule.on_fold} "
            return (CRON_EXT if schedule.extended else CRON), prefix + schedule.expression
        raise unsupported(schedule, self.known_types)

    def decode(self, schedule_type: str, config: str) -> Schedule:
        if schedule_type not in self.known_types:
            raise UnsupportedScheduleError(schedule_type, known=self.known_types)
        if not isinstance(config, str):
            raise InvalidScheduleConfigError(schedule_type, config, "expected a string")
        if len(config) > _MAX_CONFIG_LENGTH:
            raise InvalidScheduleConfigError(
                schedule_type, config, f"longer than {_MAX_CONFIG_LENGTH} characters"
            )
        try:
            return self._decode(schedule_type, config)
        except InvalidScheduleConfigError as exc:
            # Report the whole stored config, not the part that failed (a zone name).
            raise InvalidScheduleConfigError(schedule_type, config, exc.reason) from None
        except ValueError as exc:  # every bad-input error of tickwork is a ValueError too
            _invalid(schedule_type, config, exc)
        except Exception as exc:  # a bug, but stored data must still read as malformed
            _invalid(schedule_type, config, exc, unexpected=True)

    def _decode(self, schedule_type: str, config: str) -> Schedule:
        if schedule_type == INTERVAL:
            return IntervalSchedule(parse_go_duration(config))
        if schedule_type == ONCE:
            return OnceSchedule(parse_rfc3339(config))
        if schedule_type == START_AT_INTERVAL:
            start_at, bar, interval = config.partition("|")
            if not bar or "|" in interval:
                raise ValueError("expected '<RFC 3339 time>|<Go duration>'")
            return StartAtIntervalSchedule(parse_rfc3339(start_at), parse_go_duration(interval))
        zone, expression = "UTC", config
        parts = config.split(None, 1)
        for prefix in _TZ_PREFIXES:
            if parts and parts[0].startswith(prefix):
                zone, expression = parts[0][len(prefix) :], "".join(parts[1:])
                break
        # tickwork's own daylight-saving options (absent when they are the defaults,
        # so default schedules stay readable by the reference library).
        policy = {"DST_GAP=": "run_after", "DST_FOLD=": "once"}
        while True:
            head = expression.split(None, 1)
            key = next((k for k in policy if head and head[0].startswith(k)), None)
            if key is None:
                break
            policy[key] = head[0][len(key) :]
            expression = "".join(head[1:])
        if schedule_type == CRON:
            require_standard(expression)
        return CronSchedule(
            expression, zone, on_gap=policy["DST_GAP="], on_fold=policy["DST_FOLD="]
        )


def _invalid(
    schedule_type: str, config: str, exc: Exception, *, unexpected: bool = False
) -> NoReturn:
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    if unexpected:
        reason = f"{type(exc).__name__}: {reason}"
    raise InvalidScheduleConfigError(schedule_type, config, reason) from exc


def _class_name(schedule: Any) -> str:
    cls = type(schedule)
    return f"{cls.__module__}.{cls.__qualname__}"


def unsupported(schedule: Any, known: Iterable[str]) -> UnsupportedScheduleError:
    """The error for a schedule no codec encodes. A string is the common mistake
    (``add_job("x", "*/5 * * * *")``, as in APScheduler's trigger names): its message
    says which object to build instead, not which plugin to install."""
    if isinstance(schedule, str):
        return UnsupportedScheduleError(
            _class_name(schedule),
            known,
            reason=f"a schedule is an object, not the string {schedule!r}: pass "
            f"CronSchedule({schedule!r}) for a cron expression (or IntervalSchedule, "
            "OnceSchedule...; `tickwork explain` shows what an expression means)",
        )
    return UnsupportedScheduleError(_class_name(schedule), known=known)


class CompositeScheduleCodec:
    """One codec over many: encodes by the schedule's class, decodes by type name.

    This is what :func:`tickwork.default_codec` returns, built from every codec that the
    loaded plugins registered. Encoding walks the schedule's MRO, so a subclass of a
    registered class uses that class's codec. The first registration of a class wins
    for encoding; any number of type names may decode to it.
    """

    def __init__(self) -> None:
        self._by_type: dict[str, ScheduleCodec] = {}
        self._by_class: dict[type[Any], ScheduleCodec] = {}

    @property
    def known_types(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_type))

    def register(self, schedule_type: str, schedule_class: type[Any], codec: ScheduleCodec) -> None:
        """Route ``schedule_type`` and instances of ``schedule_class`` to ``codec``.

        :raises PluginRegistrationError: ``schedule_type`` is taken, or an argument is
            not what it must be.
        """
        if not isinstance(schedule_type, str) or not schedule_type:
            raise PluginRegistrationError(
                f"a schedule type must be a non-empty string, got {schedule_type!r}"
            )
        if not isinstance(schedule_class, type):
            raise PluginRegistrationError(
                f"schedule type {schedule_type!r} needs a class, got {schedule_class!r}"
            )
        if not isinstance(codec, ScheduleCodec):
            raise PluginRegistrationError(
                f"the codec for {schedule_type!r} lacks encode()/decode(): {codec!r}"
            )
        if schedule_type in self._by_type:
            raise PluginRegistrationError(f"schedule type {schedule_type!r} is already registered")
        self._by_type[schedule_type] = codec
        self._by_class.setdefault(schedule_class, codec)

    def encode(self, schedule: Schedule) -> tuple[str, str]:
        for cls in type(schedule).__mro__:
            codec = self._by_class.get(cls)
            if codec is not None:
                return codec.encode(schedule)
        raise unsupported(schedule, self._by_type)

    def decode(self, schedule_type: str, config: str) -> Schedule:
        codec = self._by_type.get(schedule_type) if isinstance(schedule_type, str) else None
        if codec is None:
            raise UnsupportedScheduleError(schedule_type, known=self._by_type)
        try:
            return codec.decode(schedule_type, config)
        except (InvalidScheduleConfigError, UnsupportedScheduleError):
            raise
        except Exception as exc:
            # A plugin codec that lets another error escape still must not break the
            # contract: whoever loads a stored row sees a malformed config.
            reason = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, TickworkError | ValueError):
                reason += " (the codec raised an unexpected error)"
            raise InvalidScheduleConfigError(schedule_type, config, reason) from exc
