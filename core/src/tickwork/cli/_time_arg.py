"""Time flags (``--since``, ``--until``, ``--after``): RFC 3339 text as a datetime, or
a one-line error naming the flag."""

from __future__ import annotations

from datetime import datetime

from ._config import ConfigError

__all__ = ["time_arg"]


def time_arg(value: str | None, flag: str) -> datetime | None:
    """A time flag's value; one that is not a time is refused naming the flag."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{flag} {value!r} is not an RFC 3339 time; give one such as 2025-10-02T09:00:00Z"
        ) from None
