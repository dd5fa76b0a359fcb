"""``tickwork backfill``: run the ticks of a past range of one stored job.

``--dry-run`` only lists the ticks (it reads the job and never writes). Otherwise the
command starts a scheduler on the store with the app's tasks and handler and a trigger
that arms nothing, so this process runs the backfill's ticks and no live run of any
job: the workers already running keep those. Each tick is reported as it starts
(a progress line on a terminal), and a table of what became of each follows.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import Any, Protocol, TextIO

from .._backfill import DEFAULT_BACKFILL_LIMIT, backfill_ticks
from .._errors import ExecutionNotFoundError
from .._plugins import default_codec
from .._scheduler import AsyncScheduler
from ..abc import Dispatch, Store
from ._app import load_app
from ._config import ConfigError
from ._table import print_table

__all__ = ["add_backfill_parser", "run_backfill"]


class OpenStore(Protocol):
    """The CLI's way to open a store (``tickwork.cli.open_store``)."""

    def __call__(
        self, name_or_url: str, *, create: bool, options: dict[str, Any] | None = None
    ) -> Awaitable[Store]: ...


def add_backfill_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    store_help: str,
    add_options: Any,
) -> None:
    """The ``backfill`` command's arguments."""
    backfill = sub.add_parser("backfill", help="run the ticks of a past range of a stored job, now")
    backfill.add_argument("job_id")
    backfill.add_argument("--start", required=True, help="first tick at or after (RFC 3339)")
    backfill.add_argument("--end", required=True, help="ticks before this time (RFC 3339)")
    backfill.add_argument(
        "--app",
        metavar="MODULE:ATTRIBUTE",
        help="the tasks and handler to run the ticks with (as `tickwork run --app`)",
    )
    backfill.add_argument("--store", default=None, help=store_help)
    add_options(backfill)
    backfill.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_BACKFILL_LIMIT,
        help=f"refuse a range of more ticks than this (default {DEFAULT_BACKFILL_LIMIT})",
    )
    backfill.add_argument(
        "--dry-run", action="store_true", help="list the ticks, run nothing, change nothing"
    )


async def run_backfill(
    args: argparse.Namespace,
    open_store: OpenStore,
    store_name: str,
    store_options: dict[str, Any],
    out: TextIO,
) -> int:
    """List (``--dry-run``) or run the ticks; the exit status (1 if any run failed)."""
    start, end = _time(args.start, "--start"), _time(args.end, "--end")
    store = await open_store(store_name, create=False, options=store_options)
    try:
        data = await store.get_job(args.job_id)
    finally:
        await store.close()
    schedule = default_codec().decode(data.schedule_type, data.schedule_config)
    ticks = backfill_ticks(schedule, start, end, limit=args.limit)
    if args.dry_run:
        out.write(f"job {args.job_id!r}: {len(ticks)} tick(s) to run ({schedule!r})\n")
        print_table(out, ["#", "scheduled at"], [[i, t] for i, t in enumerate(ticks, 1)])
        return 0
    if args.app is None:
        raise ConfigError("give --app module:attribute to run the ticks (or --dry-run)")
    app = load_app(args.app)
    scheduler = AsyncScheduler(
        store_name,
        app.handler,
        trigger=_ArmsNothing(),
        store_options=store_options or None,
        tasks=app.tasks,
    )
    progress = _Progress(out, len(ticks))
    async with scheduler:
        report = await scheduler.backfill(
            args.job_id, start, end, limit=args.limit, progress=progress
        )
        progress.done()
        rows = [
            [tick, execution_id, await _status(scheduler, execution_id)]
            for tick, execution_id in zip(report.ticks, report.execution_ids, strict=True)
        ]
    print_table(out, ["scheduled at", "execution", "status"], rows)
    failed = sum(1 for row in rows if row[2] not in ("completed", "skipped_overlap"))
    out.write(f"{len(rows)} tick(s): {len(rows) - failed - report.skipped} ran, ")
    out.write(f"{report.skipped} skipped (a live run was going on), {failed} did not complete\n")
    return 1 if failed else 0


async def _status(scheduler: AsyncScheduler, execution_id: str) -> str:
    try:
        record = await scheduler.store.get_execution(execution_id)
    except ExecutionNotFoundError:
        return "not recorded"
    return str(record.status.value)


def _time(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{flag} takes an RFC 3339 time, got {text!r}") from None
    if value.utcoffset() is None:
        raise ConfigError(f"{flag} needs a UTC offset (2026-01-01T00:00:00Z), got {text!r}")
    return value


class _Progress:
    """``done/total`` on one line that rewrites itself on a terminal; nothing otherwise
    (a log file gets the final table only)."""

    def __init__(self, out: TextIO, total: int) -> None:
        self._out = out
        self._total = total
        self._live = out.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self._live:
            self._out.write(f"\rbackfill: {done}/{total} tick(s) started")
            self._out.flush()

    def done(self) -> None:
        if self._live:
            self._out.write("\n")


class _ArmsNothing:
    """A trigger that never delivers: the backfill command's scheduler runs only the
    ticks it is asked for, never a job's live run (other workers have those)."""

    shared = False

    async def start(self, dispatch: Dispatch) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def arm(self, job_id: str, when: datetime) -> None:
        return None

    async def arm_many(self, items: Iterable[tuple[str, datetime]]) -> None:
        return None

    async def disarm(self, job_id: str) -> None:
        return None
