"""The ``tickwork`` command line: the parser, assembled from each command family's
module, and the dispatch of a parsed command to it.

Each family lives in a module named after it: ``_run`` (workers), ``_demo``,
``_tasks``, ``_jobs``, ``_history``, ``_explain``, ``_backfill``, ``_migrate`` and
``_plugins_table``; ``_stores`` names and opens the store a command works on. Plugins
add commands of their own (``register_commands``): ``tickwork web`` comes from
``tickwork-web``.

Public here, besides :func:`main`: the store helpers a plugin's command needs to
behave like the built-in ones, :func:`store_arg` (``--store``, else
``$TICKWORK_STORE``), :func:`store_options` (the ``--store-option KEY=VALUE`` flags)
and :func:`open_store` (which never creates a store for a command that only reads).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .._errors import JobDataAlreadyExistsError, JobDataNotFoundError, TickworkError
from .._id_limit import IdLimit
from .._plugins import get_registry
from ._argv import attach_negative_values
from ._backfill import add_backfill_parser, run_backfill
from ._demo import DEFAULT_STORE, run_demo
from ._explain import add_explain_parser, explain
from ._history import add_history_parser, show_history
from ._jobs import add_jobs_parser, job_schedule, metadata_flags, run_jobs
from ._migrate import add_migrate_parser, run_migrate
from ._plugins_table import add_plugins_parser, list_plugins
from ._run import load_worker_config, run_worker
from ._store_name import with_store
from ._stores import STORE_ENV, open_store, option_flag, store_arg, store_options
from ._tasks import add_tasks_parser, list_tasks

__all__ = ["main", "open_store", "store_arg", "store_options"]


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
    add_jobs_parser(sub, store_help, option_help)
    add_history_parser(sub, store_help, option_help)
    add_explain_parser(sub)
    add_backfill_parser(sub, store_help, lambda p: option_flag(p, option_help=option_help))
    add_migrate_parser(sub, option_help)
    add_plugins_parser(sub)
    for entry in get_registry().commands.values():
        entry.command.add_arguments(sub.add_parser(entry.name, help=entry.command.help))
    return parser


def _add_demo(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store_help: str, option_help: str
) -> None:
    demo = sub.add_parser(
        "demo", help="run sample jobs on a local SQLite file (memory without one), live"
    )
    demo.add_argument("--store", default=None, help=store_help)
    option_flag(demo, option_help=option_help)
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
    option_flag(run, option_help=f"{option_help}; added to the file's [scheduler.store_options]")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tickwork`` command."""
    args = _parser().parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.WARNING - 10 * args.verbose,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        plugin_command = get_registry().commands.get(args.command)
        if plugin_command is not None:
            # A plugin's command runs outside any event loop: it may start its own.
            return plugin_command.command.run(args)
        return asyncio.run(_dispatch(args, sys.stdout))
    except KeyboardInterrupt:
        return 130
    except (TickworkError, ValueError, OSError) as exc:
        sys.stderr.write(f"tickwork {args.command}: error: {exc}\n")
        return 1


async def _dispatch(args: argparse.Namespace, out: TextIO) -> int:
    """Hand the parsed command to its family's module."""
    command = args.command
    if command == "demo":
        options = store_options(args.store_option)
        chosen = args.store or os.environ.get(STORE_ENV)
        return await run_demo(chosen, args.seconds, out, options)
    if command == "run":
        return await _run_worker(args, out)
    if command == "tasks":
        return list_tasks(args, out)
    if command == "plugins":
        return list_plugins(out)
    if command == "migrate":
        return await run_migrate(
            args.source,
            args.destination,
            out,
            store_options(args.source_option, "--source-option", reserved=True),
            store_options(args.dest_option, "--dest-option"),
        )
    if command == "explain":
        return explain(args, out)
    if command == "backfill":
        return await _backfill(args, out)
    return await _store_command(args, out)


async def _run_worker(args: argparse.Namespace, out: TextIO) -> int:
    """``tickwork run``: a worker from the app, the file and the flags."""
    options = store_options(args.store_option)
    config = load_worker_config(
        args.config,
        args.app,
        args.store,
        store_arg(None),
        store_options=options,
        instruments=args.instrument,
    )
    return await run_worker(config, out, args.stop_timeout)


async def _backfill(args: argparse.Namespace, out: TextIO) -> int:
    """``tickwork backfill``, a missing job reported with the store it was looked for in."""
    options = store_options(args.store_option, reserved=True)
    try:
        return await run_backfill(args, open_store, store_arg(args.store), options, out)
    except JobDataNotFoundError as exc:
        raise with_store(exc, store_arg(args.store)) from None


async def _store_command(args: argparse.Namespace, out: TextIO) -> int:
    """``tickwork jobs`` and ``tickwork history``: open the store, act, close it."""
    command = args.command
    # Only `jobs add` may create the store: every other action needs one that exists.
    creates = command == "jobs" and args.action == "add"
    options = store_options(
        [*args.store_option, *getattr(args, "store_option_after", [])], reserved=True
    )
    if creates:
        # Checked before the store is opened: a refused flag leaves no new store behind.
        args.schedule = job_schedule(args)
        args.metadata = metadata_flags(args.meta)
    check = (lambda store: IdLimit(store).check(args.job_id)) if creates else None
    store = await open_store(
        store_arg(args.store), create=creates, options=options, before_opening=check
    )
    try:
        if command == "jobs":
            return await run_jobs(store, args, out)
        return await show_history(store, args, out)
    except (JobDataNotFoundError, JobDataAlreadyExistsError) as exc:
        raise with_store(exc, store_arg(args.store)) from None
    finally:
        await store.close()
