"""``tickwork history``: one job's execution records (the tick log), filtered, sorted and
paged, as a table or JSON lines.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .._converter import unstructure
from .._errors import JobDataNotFoundError
from .._models import ExecutionStatus, QueryOptions
from ..abc import Store
from ._duration_text import history_document
from ._store_name import redacted
from ._stores import option_flag, store_arg
from ._table import print_table
from ._time_arg import time_arg

__all__ = ["add_history_parser", "show_history"]


def add_history_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store_help: str, option_help: str
) -> None:
    """The ``history`` command's arguments."""
    history = sub.add_parser("history", help="show a job's executions")
    history.add_argument("job_id")
    history.add_argument("--store", default=None, help=store_help)
    option_flag(history, option_help=option_help)
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


async def show_history(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    """Print the records ``args`` select; a job with neither records nor a stored row
    is reported (exit status 1) rather than shown as an empty table."""
    options = QueryOptions(
        limit=args.limit,
        offset=args.offset,
        status=args.status,
        start_time=time_arg(args.since, "--since"),
        end_time=time_arg(args.until, "--until"),
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
            where = redacted(store_arg(args.store))
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
