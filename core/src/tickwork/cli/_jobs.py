"""``tickwork jobs``: list, show, add, remove, pause or resume the jobs a store holds.

Only ``jobs add`` may create the store; every other action needs one that exists. A
change is stored, then the schedulers sharing the store are told when it can push
changes (they find it at their next poll otherwise).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any, TextIO

from .._converter import unstructure
from .._errors import TickworkError
from .._models import JobData
from .._plugins import default_codec
from .._policy import OPTIONS_KEY, user_metadata
from .._scheduler import first_run
from .._stored_job_actions import StoredJobActions
from .._task_ref import TASK_KEY
from ..abc import Schedule, ScheduleCodec, Store
from ._config import ConfigError, schedule_from_table
from ._schedule_arg import typed_schedule
from ._show import show_job
from ._stores import option_flag
from ._table import print_table

__all__ = ["add_jobs_parser", "job_schedule", "metadata_flags", "run_jobs"]

SCHEDULE_FLAGS = ("interval", "cron", "once")


def add_jobs_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store_help: str, option_help: str
) -> None:
    """The ``jobs`` command and its actions; ``--store`` may come before or after the
    action."""
    jobs = sub.add_parser("jobs", help="list, show, add, remove, pause or resume stored jobs")
    jobs.add_argument("--store", default=None, help=store_help)
    option_flag(jobs, option_help=option_help)
    jsub = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    # Each action takes --store too, so it may come before or after the action.
    # SUPPRESS: an action without it keeps the value given before the action.
    store_parent = argparse.ArgumentParser(add_help=False)
    store_parent.add_argument("--store", default=argparse.SUPPRESS, help=store_help)
    # A dest of its own: options given before and after the action add up.
    option_flag(store_parent, option_help=option_help, dest="store_option_after")
    parents = [store_parent]
    listing = jsub.add_parser("list", parents=parents, help="list every job")
    listing.add_argument("--json", action="store_true", help="print JSON lines, one per job")
    show = jsub.add_parser(
        "show", parents=parents, help="show one job in full, its task's arguments decoded"
    )
    show.add_argument("job_id")
    add = jsub.add_parser("add", parents=parents, help="add a job")
    add.add_argument("job_id")
    group = add.add_mutually_exclusive_group(required=True)
    group.add_argument("--interval", help="Go-style duration, e.g. 5m or 1h30m")
    group.add_argument(
        "--cron", help="cron expression: 5 fields, 6 with seconds first, or @daily etc."
    )
    group.add_argument("--once", help="RFC 3339 time")
    group.add_argument(
        "--schedule",
        dest="schedule_spec",
        metavar="TYPE:CONFIG",
        help="any registered schedule type as a store keeps it, e.g. 'cron_ext:0 0 9 L * *'",
    )
    add.add_argument("--start-at", help="with --interval: the first run (RFC 3339)")
    add.add_argument("--timezone", help="with --cron: IANA zone (default UTC)")
    add.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    for name, text in (("remove", "delete"), ("pause", "disable"), ("resume", "enable")):
        p = jsub.add_parser(name, parents=parents, help=f"{text} a job")
        p.add_argument("job_id")


async def run_jobs(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """Carry out the ``jobs`` action ``args`` names on the open ``store``."""
    action = args.action
    if action == "list":
        return await _list_jobs(store, args.json, out)
    if action == "show":
        return await show_job(store, args.job_id, out)
    if action == "add":
        return await _add_job(store, args, out)
    actions = StoredJobActions(store)
    if action == "remove":
        await actions.remove(args.job_id)
        out.write(f"removed job {args.job_id!r} (its history stays)\n")
        return 0
    if action == "pause":
        job = (await actions.pause(args.job_id)).job
    else:
        resumed = await actions.resume(args.job_id)
        job = resumed.job
        if not resumed.changed:
            out.write(f"job {args.job_id!r} is not paused ({job.status.value})\n")
            return 0
    out.write(f"job {args.job_id!r} is now {job.status.value}\n")
    out.write(
        "(running schedulers sharing this store pick this up at their next poll, "
        "at once when the store pushes changes)\n"
    )
    return 0


async def _list_jobs(store: Store, as_json: bool, out: TextIO) -> int:
    """List every job the store holds, those it cannot run included.

    A job whose stored row the store could not read (``unreadable``) or whose schedule
    no installed codec can decode is listed with a status saying so, and its reason in
    full below the table (a table cell would cut it short). Neither makes the command
    fail: they are what an operator lists jobs to find.
    """
    jobs = await store.list_jobs()
    if as_json:
        for data in jobs:
            document = unstructure(data)
            document["task"] = data.metadata.get(TASK_KEY)
            out.write(json.dumps(document, ensure_ascii=False) + "\n")
        return 0
    codec = default_codec()
    rows = []
    notes: list[str] = []
    for job in jobs:
        status, note = _job_status(job, codec)
        if note is not None:
            notes.append(note)
        rows.append(
            [
                job.id,
                job.schedule_type,
                job.schedule_config,
                status,
                job.metadata.get(TASK_KEY, ""),
                job.next_run,
                job.last_run,
                user_metadata(job.metadata),
            ]
        )
    headers = ["id", "type", "config", "status", "task", "next run", "last run", "metadata"]
    print_table(out, headers, rows)
    if notes:
        out.write("\n" + "\n".join(notes) + "\n")
        out.write(
            "(these jobs never run and are never rewritten: fix their stored rows, or "
            "remove them with `tickwork jobs remove ID` and add them again)\n"
        )
    return 0


def _job_status(job: JobData, codec: ScheduleCodec) -> tuple[str, str | None]:
    """The job's status as listed, and why it cannot run (None when it can)."""
    if job.unreadable is not None:
        return "unreadable", f"job {job.id!r} cannot be read: {job.unreadable}"
    try:
        codec.decode(job.schedule_type, job.schedule_config)
    except TickworkError as exc:
        return f"quarantined ({job.status.value})", f"job {job.id!r} is quarantined: {exc}"
    return job.status.value, None


def job_schedule(args: argparse.Namespace) -> Schedule:
    """The schedule of ``jobs add``: ``--schedule TYPE:CONFIG`` or the per-kind flags."""
    if args.schedule_spec is None:
        flags = _schedule_flags(args)
        return schedule_from_table(flags, "--" + next(k for k in SCHEDULE_FLAGS if k in flags))
    for flag, value in (("--timezone", args.timezone), ("--start-at", args.start_at)):
        if value is not None:
            raise ConfigError(f"{flag} does not go with --schedule; put it in the config")
    return typed_schedule(args.schedule_spec)


def _schedule_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The schedule flags of ``jobs add`` as a config table, each refused where it
    would be ignored (``--timezone`` without ``--cron``, ``--start-at`` without
    ``--interval``), naming the flags."""
    kind = next(k for k in SCHEDULE_FLAGS if getattr(args, k) is not None)
    if args.timezone is not None and kind != "cron":
        raise ConfigError(f"--timezone goes with --cron, not with --{kind}")
    if args.start_at is not None and kind != "interval":
        raise ConfigError(f"--start-at goes with --interval, not with --{kind}")
    table: dict[str, Any] = {kind: getattr(args, kind)}
    if args.timezone is not None:
        table["timezone"] = args.timezone
    if args.start_at is not None:
        table["start_at"] = args.start_at
    return table


def metadata_flags(items: list[str]) -> dict[str, str]:
    """The ``--meta KEY=VALUE`` flags of ``jobs add``; the run-policy key is refused."""
    metadata = dict(_key_value(item) for item in items)
    if OPTIONS_KEY in metadata:
        raise ConfigError(f"metadata key {OPTIONS_KEY!r} is reserved for run policies")
    return metadata


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--meta takes KEY=VALUE, got {item!r}")
    return key, value


async def _add_job(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """Save the job ``args`` describe (``args.schedule`` and ``args.metadata`` were
    checked before the store was opened)."""
    schedule, metadata = args.schedule, args.metadata
    schedule_type, config = default_codec().encode(schedule)
    now = datetime.now(UTC)
    await store.save_job(
        JobData(
            id=args.job_id,
            schedule_type=schedule_type,
            schedule_config=config,
            next_run=first_run(schedule, now),
            created_at=now,
            updated_at=now,
            metadata=metadata,
        )
    )
    await StoredJobActions(store).signal(args.job_id)
    out.write(f"added job {args.job_id!r} ({schedule_type} {config})\n")
    return 0
