"""``tickwork migrate``: copy every job and record from one store to another.

The source is only read and never created; copying a store onto itself is refused
before anything is opened for writing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from .._errors import TickworkError
from .._memory_store import MemoryStore
from .._migrate import migrate_storage
from .._models import MigrateResult
from .._plugins import create_store
from ..abc import Store
from ._stores import open_store, option_flag

__all__ = ["SameStoreError", "add_migrate_parser", "run_migrate"]


def add_migrate_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], option_help: str
) -> None:
    """The ``migrate`` command's arguments."""
    migrate = sub.add_parser("migrate", help="copy every job and record between stores")
    migrate.add_argument("source", help="source store name or URL (read only)")
    migrate.add_argument("destination", help="destination store name or URL")
    option_flag(migrate, "--source-option", "the source store's", option_help)
    option_flag(migrate, "--dest-option", "the destination store's", option_help)


class SameStoreError(TickworkError, ValueError):
    """``tickwork migrate`` was given one store as both source and destination."""


async def run_migrate(
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
