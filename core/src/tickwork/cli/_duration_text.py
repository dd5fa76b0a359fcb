"""Durations as the command line shows them: in a unit a person reads at a glance.

A run of three seconds shown as ``3000.0 ms``, or as ``3000007000`` nanoseconds in
JSON, has to be worked out; the table picks the unit by magnitude instead, and the
JSON lines give seconds, with the unit in the key's name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

__all__ = ["duration_cell", "history_document"]


def duration_cell(value: timedelta) -> str:
    """``43.6 ms``, ``3.00 s``, ``2m 05s``, ``1h 02m``: the unit by magnitude."""
    seconds = value.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{sign}{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{sign}{seconds:.2f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{sign}{whole // 60}m {whole % 60:02d}s"
    return f"{sign}{whole // 3600}h {whole % 3600 // 60:02d}m"


def history_document(document: dict[str, Any], duration: timedelta) -> dict[str, Any]:
    """An execution record's JSON line for ``tickwork history --json``: ``duration``
    (nanoseconds, as stored for the reference library) becomes ``duration_seconds``,
    a number with its unit in its name, exact to the microsecond."""
    seconds = round(duration.total_seconds(), 6)
    return {
        ("duration_seconds" if key == "duration" else key): (
            seconds if key == "duration" else value
        )
        for key, value in document.items()
    }
