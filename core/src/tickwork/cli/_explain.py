"""``tickwork explain``: the next fire times of a cron expression or stored schedule,
in UTC and in the schedule's own zone, and how a store would keep it."""

from __future__ import annotations

import argparse
from typing import TextIO

from .._plugins import default_codec
from .._ticks import preview
from ._schedule_arg import explained_schedule
from ._table import print_table
from ._time_arg import time_arg

__all__ = ["add_explain_parser", "explain"]


def add_explain_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``explain`` command's arguments."""
    explain = sub.add_parser(
        "explain", help="show the next fire times of a cron expression or schedule"
    )
    explain.add_argument(
        "schedule",
        help="a cron expression ('0 9 * * 1-5'), or TYPE:CONFIG as stored "
        "('interval:90m', 'once:2030-01-01T09:00:00Z')",
    )
    explain.add_argument("--tz", help="time zone of a cron expression (default UTC)")
    explain.add_argument("--count", type=int, default=10, help="how many fire times")
    explain.add_argument("--after", help="start from this time (RFC 3339; default now)")


def explain(args: argparse.Namespace, out: TextIO) -> int:
    """Print the schedule, how it is stored, and its next fire times."""
    schedule = explained_schedule(args.schedule, args.tz)
    after = time_arg(args.after, "--after")
    times = preview(schedule, after, args.count)
    zone = getattr(schedule, "tzinfo", None)
    rows = []
    for i, when in enumerate(times, 1):
        local = when.astimezone(zone) if zone is not None else when
        rows.append([i, when, local.strftime("%Y-%m-%d %H:%M:%S %Z (%a)")])
    out.write(f"{schedule!r}\n")
    stored_type, stored_config = default_codec().encode(schedule)
    out.write(f"stored as {stored_type}:{stored_config}\n")
    print_table(out, ["#", "utc", "local"], rows)
    if len(times) < args.count:
        out.write(f"(the schedule ends after {len(times)} fire time(s))\n")
    return 0
