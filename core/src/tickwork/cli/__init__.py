"""The ``tickwork`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .._converter import unstructure
from .._errors import (
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    StoreOptionError,
    TickworkError,
)
from .._memory_store import MemoryStore
from .._migrate import migrate_storage
from .._models import ExecutionStatus, JobData, JobStatus, MigrateResult, QueryOptions
from .._plugins import (
    DEFAULT_PLUGINS,
    available_plugins,
    create_store,
    default_codec,
    get_registry,
    plugin_distributions,
    plugin_errors,
    unknown_selected_plugins,
)
from .._policy import OPTIONS_KEY, user_metadata
from .._scheduler import first_run
from .._task_ref import TASK_KEY
from .._ticks import preview
from ..abc import ChangeSignalingStore, Schedule, ScheduleCodec, Store
from ._argv import attach_negative_values
from ._backfill import add_backfill_parser, run_backfill
from ._config import ConfigError, parse_option_value, schedule_from_table
from ._demo import DEFAULT_STORE, run_demo
from ._duration_text import history_document
from ._run import load_worker_config, run_worker
from ._schedule_arg import explained_schedule, typed_schedule
from ._show import show_job
from ._store_name import redacted, with_store
from ._table import print_table
from ._tasks import add_tasks_parser, list_tasks

__all__ = ["main"]

STORE_ENV = "TICKWORK_STORE"

logger = logging.getLogger("tickwork.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickwork",
        description="Run and inspect tickwork schedulers.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store_help = f"store name or URL (default: ${STORE_ENV} or {DEFAULT_STORE})"
    option_help = (
        "a keyword option for the store's constructor (repeatable), e.g. schema=jobs; "
        "true/false and numbers are typed, anything else is a string"
    )
    _add_demo(sub, store_help, option_help)
    _add_run(sub, store_help, option_help)
    add_tasks_parser(sub)
    _add_jobs(sub, store_help, option_help)
    _add_history(sub, store_help, option_help)
    _add_explain(sub)
    add_backfill_parser(sub, store_help, lambda p: _option_flag(p, option_help=option_help))
    migrate = sub.add_parser("migrate", help="copy every job and record between stores")
    migrate.add_argument("source", help="source store name or URL (read only)")
    migrate.add_argument("destination", help="destination store name or URL")
    _option_flag(migrate, "--source-option", "the source store's", option_help)
    _option_flag(migrate, "--dest-option", "the destination store's", option_help)
    sub.add_parser("plugins", help="list installed stores, triggers and schedule types")
    return parser


def _option_flag(
    parser: argparse.ArgumentParser,
    flag: str = "--store-option",
    whose: str = "",
    option_help: str = "",
    dest: str | None = None,
) -> None:
    text = option_help.replace("the store's", whose) if whose else option_help
    parser.add_argument(
        flag, action="append", default=[], metavar="KEY=VALUE", help=text, dest=dest or None
    )


def _add_demo(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store_help: str, option_help: str
) -> None:
    demo = sub.add_parser(
        "demo", help="run sample jobs on a local SQLite file (memory without one), live"
    )
    demo.add_argument("--store", default=None, help=store_help)
    _option_flag(demo, option_help=option_help)
    demo.add_argument(
        "--seconds", type=float, default=12.0, help="how long to run (0: until Ctrl-C)"
    )


def _add_run(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store_help: str, option_help: str
) -> None:
    run = sub.add_parser("run", help="run a worker for an app and/or a TOML configuration file")
    run.add_argument("--config", "-c", type=Path, help="the TOML file")
    run.add_argument(
        "--app",
        metavar="MODULE:ATTRIBUTE",
        help="a TaskRegistry, a scheduler (its tasks and handler) or a handler function, "
        "imported from the current directory (replaces the file's app)",
    )
    run.add_argument(
        "--store", default=None, help=f"{store_help}; replaces the file's store when given"
    )
    _option_flag(run, option_help=f"{option_help}; added to the file's [scheduler.store_options]")
    run.add_argument(
        "--instrument",
        action="append",
        default=[],
        metavar="NAME",
        help="an instrument to turn on, by registered name (otel, from tickwork-otel); "
        "may be repeated; added to the file's scheduler.instruments",
    )
    run.add_argument(
        "--stop-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="on a signal, wait at most this long for runs in progress (default: no limit)",
    )


def _add_jobs(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store_help: str, option_help: str
) -> None:
    jobs = sub.add_parser("jobs", help="list, show, add, remove, pause or resume stored jobs")
    jobs.add_argument("--store", default=None, help=store_help)
    _option_flag(jobs, option_help=option_help)
    jsub = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    # Each action takes --store too, so it may come before or after the action.
    # SUPPRESS: an action without it keeps the value given before the action.
    store_parent = argparse.ArgumentParser(add_help=False)
    store_parent.add_argument("--store", default=argparse.SUPPRESS, help=store_help)
    # A dest of its own: options given before and after the action add up.
    _option_flag(store_parent, option_help=option_help, dest="store_option_after")
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


def _add_history(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store_help: str, option_help: str
) -> None:
    history = sub.add_parser("history", help="show a job's executions")
    history.add_argument("job_id")
    history.add_argument("--store", default=None, help=store_help)
    _option_flag(history, option_help=option_help)
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--offset", type=int, default=0)
    history.add_argument(
        "--status",
        choices=[s.value for s in ExecutionStatus],
        help="only records with this outcome (the tick log also records missed, "
        "coalesced, skipped_overlap, paused and dst_skipped ticks, and schedule_ended)",
    )
    history.add_argument("--since", help="records starting at or after (RFC 3339)")
    history.add_argument("--until", help="records starting before (RFC 3339)")
    history.add_argument("--sort", choices=["start_time", "end_time", "duration"])
    history.add_argument("--asc", action="store_true", help="oldest first (default newest)")
    history.add_argument("--json", action="store_true", help="print JSON lines, one per record")


def _add_explain(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tickwork`` command."""
    args = _parser().parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.WARNING - 10 * args.verbose,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(_dispatch(args, sys.stdout))
    except KeyboardInterrupt:
        return 130
    except (TickworkError, ValueError, OSError) as exc:
        sys.stderr.write(f"tickwork {args.command}: error: {exc}\n")
        return 1


def _store_arg(value: str | None) -> str:
    return value or os.environ.get(STORE_ENV) or DEFAULT_STORE


def store_options(
    items: Sequence[str], flag: str = "--store-option", *, reserved: bool = False
) -> dict[str, Any]:
    """``KEY=VALUE`` flags as the store's keyword options.

    ``true``/``false``, whole numbers and decimals become those types, anything else
    stays a string (``schema=jobs``). Each error is one line naming the flag.

    :raises ConfigError: no ``=``, a key that is not an identifier, a key given twice,
        or, with ``reserved``, ``create`` (a command that opens a store to read or add
        decides itself whether the store may be created).
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"{flag} takes KEY=VALUE, got {item!r}")
        if not key.isidentifier():
            raise ConfigError(
                f"{flag} {item!r}: the key must be an option name (letters, digits, _), got {key!r}"
            )
        if key in options:
            raise ConfigError(f"{flag} {key} is given twice")
        if reserved and key == "create":
            raise ConfigError(
                f"{flag} {key}: set by the command (only `jobs add` and a migration's "
                "destination create a store)"
            )
        options[key] = parse_option_value(value)
    return options


async def _dispatch(args: argparse.Namespace, out: TextIO) -> int:
    command = args.command
    if command == "demo":
        options = store_options(args.store_option)
        chosen = args.store or os.environ.get(STORE_ENV)
        return await run_demo(chosen, args.seconds, out, options)
    if command == "run":
        options = store_options(args.store_option)
        config = load_worker_config(
            args.config,
            args.app,
            args.store,
            _store_arg(None),
            store_options=options,
            instruments=args.instrument,
        )
        return await run_worker(config, out, args.stop_timeout)
    if command == "tasks":
        return list_tasks(args, out)
    if command == "plugins":
        return _plugins(out)
    if command == "migrate":
        return await _migrate(
            args.source,
            args.destination,
            out,
            store_options(args.source_option, "--source-option", reserved=True),
            store_options(args.dest_option, "--dest-option"),
        )
    if command == "explain":
        return _explain(args, out)
    if command == "backfill":
        options = store_options(args.store_option, reserved=True)
        try:
            return await run_backfill(args, open_store, _store_arg(args.store), options, out)
        except JobDataNotFoundError as exc:
            raise with_store(exc, _store_arg(args.store)) from None
    # Only `jobs add` may create the store: every other action needs one that exists.
    creates = command == "jobs" and args.action == "add"
    options = store_options(
        [*args.store_option, *getattr(args, "store_option_after", [])], reserved=True
    )
    if creates:
        # Checked before the store is opened: a refused flag leaves no new store behind.
        args.schedule = _job_schedule(args)
        args.metadata = _metadata_flags(args.meta)
    store = await open_store(_store_arg(args.store), create=creates, options=options)
    try:
        if command == "jobs":
            return await _jobs(store, args, out)
        return await _history(store, args, out)
    except (JobDataNotFoundError, JobDataAlreadyExistsError) as exc:
        raise with_store(exc, _store_arg(args.store)) from None
    finally:
        await store.close()


async def open_store(
    name_or_url: str, *, create: bool, options: dict[str, Any] | None = None
) -> Store:
    """Create and initialize a store; with ``create=False`` it must exist already.

    Commands that only read open stores with ``create=False`` (the project's rule: a
    command that only reads never creates), so a mistyped URL is reported with
    :class:`StoreNotFoundError` instead of leaving an empty store behind. A third-party
    store whose constructor has no ``create`` option is opened without it, with a
    warning, since refusing it would make it unreadable from the command line.
    ``options`` (``--store-option``) go to the constructor; one it does not take is a
    :class:`~tickwork.StoreOptionError` naming the option and the store.
    """
    options = dict(options or {})
    if create:
        store = create_store(name_or_url, **options)
    else:
        try:
            store = create_store(name_or_url, create=False, **options)
        except StoreOptionError as exc:
            if exc.option != "create":
                raise
            logger.warning(
                "store %s has no create= option: it may create what it lacks", name_or_url
            )
            store = create_store(name_or_url, **options)
    await store.initialize()
    return store


def _plugins(out: TextIO) -> int:
    registry = get_registry()
    dists = plugin_distributions()
    rows: list[list[Any]] = []
    for entry in registry.stores.values():
        extra = ", ".join(entry.url_schemes)
        rows.append(["store", entry.name, *_origin(dists, entry.plugin), extra])
    for t in registry.triggers.values():
        rows.append(["trigger", t.name, *_origin(dists, t.plugin), ""])
    for c in registry.codecs.values():
        rows.append(
            ["codec", c.schedule_type, *_origin(dists, c.plugin), c.schedule_class.__name__]
        )
    for e in registry.executors.values():
        rows.append(["executor", e.name, *_origin(dists, e.plugin), ""])
    for i in registry.instruments.values():
        rows.append(["instrument", i.name, *_origin(dists, i.plugin), ""])
    print_table(out, ["kind", "name", "plugin", "distribution", "version", "details"], rows)
    for name, error in plugin_errors().items():
        out.write(f"plugin {name!r} failed to load: {error}\n")
    for name in unknown_selected_plugins():
        out.write(f"TICKWORK_PLUGINS names {name!r}, which no installed plugin has\n")
    names = available_plugins()
    out.write(
        f"\n{len(names['stores'])} stores, {len(names['triggers'])} triggers, "
        f"{len(names['codecs'])} schedule types, {len(names['executors'])} executors, "
        f"{len(names['instruments'])} instruments\n"
    )
    return 0


def _origin(dists: dict[str, tuple[str, str]], plugin: str) -> tuple[str, str, str]:
    """The plugin's name as ``TICKWORK_PLUGINS`` takes it (its entry-point name; the
    core's own registrations always load), its distribution and version."""
    shown = "(built-in)" if plugin in DEFAULT_PLUGINS else plugin
    distribution, version = dists.get(plugin, ("?", "?"))
    return shown, distribution, version


class SameStoreError(TickworkError, ValueError):
    """``tickwork migrate`` was given one store as both source and destination."""


async def _migrate(
    source: str,
    destination: str,
    out: TextIO,
    source_options: dict[str, Any] | None = None,
    dest_options: dict[str, Any] | None = None,
) -> int:
    """Copy every job and record from ``source`` (opened read-only: never created) to
    ``destination``, one line per step.

    The source is opened with ``create=False`` (a mistyped source URL is an error, not
    a new empty store the copy then reads nothing from), and only read. Copying a store
    onto itself is refused before anything is opened for writing.
    """
    src = await open_store(source, create=False, options=source_options)
    try:
        dst = create_store(destination, **(dest_options or {}))
        if _identity(src) is not None and _identity(src) == _identity(dst):
            raise SameStoreError(
                f"source and destination are the same store ({source} and {destination}); "
                "give a different destination"
            )
        out.write(f"source {source} opened (read only)\n")
        await dst.initialize()
        try:
            out.write(f"destination {destination} ready\n")
            result = await migrate_storage(src, dst, progress=_MigrateProgress(out))
        finally:
            await dst.close()
    finally:
        await src.close()
    _report_migration(result, out)
    return 0


def _identity(store: Store) -> object:
    """What makes two stores the same backend (``None``: never the same as another).

    A SQLite file is compared by its resolved path (``./jobs.db`` and its absolute path
    are one file); other stores by their ``repr``, which names their URL and buckets
    or schema. A memory store is its own backend only.
    """
    if isinstance(store, MemoryStore):
        return None
    url = getattr(store, "url", None)
    database = getattr(url, "database", None)
    if getattr(url, "drivername", "").startswith("sqlite") and database not in (
        None,
        "",
        ":memory:",
    ):
        return ("sqlite", Path(str(database)).resolve())
    return repr(store)


class _MigrateProgress:
    """The progress callback of ``tickwork migrate``: a line when the jobs are copied,
    then a live count of records (rewritten in place on a terminal only, so a log file
    gets no carriage returns)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._live = out.isatty()
        self.jobs = 0
        self.records = 0

    def __call__(self, kind: str, count: int) -> None:
        if kind == "jobs":
            self.jobs += count
            return
        self.records += count
        if self._live and self.records % 500 == 0:
            self._out.write(f"\rcopying records: {self.records} ...")
            self._out.flush()


def _report_migration(result: MigrateResult, out: TextIO) -> None:
    """One line per step: jobs, records, then the jobs the source could not read."""
    if out.isatty():
        out.write("\r\033[K")
    out.write(
        f"jobs: {result.jobs_migrated} copied, {result.jobs_skipped} already there\n"
        f"records: {result.executions_migrated} copied, "
        f"{result.executions_skipped} already there\n"
    )
    if result.unreadable_jobs:
        out.write(
            f"not copied: {len(result.unreadable_jobs)} job(s) whose stored row the source "
            "cannot read (left there as they are; their history was copied; fix the rows "
            "and migrate again to copy them):\n"
        )
        for job_id, reason in result.unreadable_jobs:
            out.write(f"job {job_id!r}: {reason}\n")


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


async def _jobs(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    action = args.action
    if action == "list":
        return await _list_jobs(store, args.json, out)
    if action == "show":
        return await show_job(store, args.job_id, out)
    if action == "add":
        return await _add_job(store, args, out)
    job = await store.get_job(args.job_id)
    if action == "remove":
        await store.delete_job(args.job_id)
        await _signal_changes(store)
        out.write(f"removed job {args.job_id!r} (its history stays)\n")
        return 0
    now = datetime.now(UTC)
    if action == "pause":
        job.status = JobStatus.DISABLED
    else:
        if job.status != JobStatus.DISABLED:
            out.write(f"job {args.job_id!r} is not paused ({job.status.value})\n")
            return 0
        schedule = default_codec().decode(job.schedule_type, job.schedule_config)
        if job.next_run is None or job.next_run < now:
            job.next_run = first_run(schedule, now) if job.last_run is None else schedule.next(now)
        job.status = JobStatus.PENDING
    job.updated_at = now
    await store.update_job(job)
    await _signal_changes(store)
    out.write(f"job {args.job_id!r} is now {job.status.value}\n")
    out.write(
        "(running schedulers sharing this store pick this up at their next poll, "
        "at once when the store pushes changes)\n"
    )
    return 0


def _job_schedule(args: argparse.Namespace) -> Schedule:
    """The schedule of ``jobs add``: ``--schedule TYPE:CONFIG`` or the per-kind flags."""
    if args.schedule_spec is None:
        flags = _schedule_flags(args)
        return schedule_from_table(flags, "--" + next(k for k in SCHEDULE_FLAGS if k in flags))
    for flag, value in (("--timezone", args.timezone), ("--start-at", args.start_at)):
        if value is not None:
            raise ConfigError(f"{flag} does not go with --schedule; put it in the config")
    return typed_schedule(args.schedule_spec)


SCHEDULE_FLAGS = ("interval", "cron", "once")


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


def _metadata_flags(items: list[str]) -> dict[str, str]:
    metadata = dict(_key_value(item) for item in items)
    if OPTIONS_KEY in metadata:
        raise ConfigError(f"metadata key {OPTIONS_KEY!r} is reserved for run policies")
    return metadata


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
    await _signal_changes(store)
    out.write(f"added job {args.job_id!r} ({schedule_type} {config})\n")
    return 0


async def _signal_changes(store: Store) -> None:
    """Wake the change polls of the schedulers sharing ``store``, when it can push
    changes; if the signal cannot be sent they find the change at their next poll."""
    if isinstance(store, ChangeSignalingStore) and store.signals_changes:
        try:
            await store.signal_changes()
        except TickworkError as exc:
            logger.warning("running schedulers pick this change up at their next poll: %s", exc)


def _explain(args: argparse.Namespace, out: TextIO) -> int:
    schedule = explained_schedule(args.schedule, args.tz)
    after = _time_arg(args.after, "--after")
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


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--meta takes KEY=VALUE, got {item!r}")
    return key, value


def _note(metadata: dict[str, str]) -> str | None:
    if "note" in metadata:
        return metadata["note"]
    if metadata.get("manual") == "true":
        return "manual run (run_job_now)"
    return None


def _time_arg(value: str | None, flag: str) -> datetime | None:
    """A time flag's value; one that is not a time is refused naming the flag."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{flag} {value!r} is not an RFC 3339 time; give one such as 2025-10-02T09:00:00Z"
        ) from None


async def _history(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    options = QueryOptions(
        limit=args.limit,
        offset=args.offset,
        status=args.status,
        start_time=_time_arg(args.since, "--since"),
        end_time=_time_arg(args.until, "--until"),
        sort_by=args.sort,
        sort_desc=not args.asc,
    )
    records = await store.list_executions(args.job_id, options)
    if args.json:
        for record in records:
            document = history_document(unstructure(record), record.duration)
            out.write(json.dumps(document, ensure_ascii=False) + "\n")
        return 0
    if not records:
        try:
            await store.get_job(args.job_id)
        except JobDataNotFoundError:
            where = redacted(_store_arg(args.store))
            out.write(f"no job {args.job_id!r} and no history for it in {where}\n")
            return 1
    rows = [
        [
            r.start_time,
            r.status.value,
            r.duration,
            r.metadata.get("worker"),
            r.error,
            r.execution_id,
        ]
        for r in records
    ]
    print_table(out, ["started", "status", "duration", "worker", "error", "execution id"], rows)
    return 0
