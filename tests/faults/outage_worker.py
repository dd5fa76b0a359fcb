"""One scheduler process for the store-outage tests.

    python outage_worker.py URL WORKER_ID RUNS_FILE [--grid-jobs N --grid-origin ISO]
                            [--once-at ISO] [--work S] [--lease S]

It runs an ``AsyncScheduler`` on the shared SQL store at ``URL`` (claims on: several
processes share the database), logs at INFO to stderr, one record per line prefixed
with its Unix time (``1765000000.123 WARNING tickwork.store: ...``), prints ``ready``
on stdout once started, and stops gracefully on SIGTERM.

The handler sleeps ``--work`` seconds (the one-off job ``once`` sleeps 1 s), then
appends one line per run to ``RUNS_FILE`` (this worker's own file)::

    JOB_ID SCHEDULED_AT(ISO) WORKER_ID STARTED(unix) ENDED(unix)

so the tests know every handler run, independently of what the store recorded.

``--grid-jobs N`` adds jobs ``grid-000`` ... on a 1 s grid from ``--grid-origin``
(:class:`tickwork.StartAtIntervalSchedule`) before ``start()``, and ``--once-at`` a
one-off job ``once``; only the first worker of a test adds jobs, the others load them
from the store.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from datetime import datetime, timedelta

import tickwork
from tickwork_sqlalchemy_store import SQLAlchemyStore

ONCE_WORK = 1.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("worker_id")
    parser.add_argument("runs_file")
    parser.add_argument("--grid-jobs", type=int, default=0)
    parser.add_argument("--grid-origin", type=datetime.fromisoformat)
    parser.add_argument("--once-at", type=datetime.fromisoformat)
    parser.add_argument("--work", type=float, default=0.02, help="handler sleep, seconds")
    parser.add_argument("--lease", type=float, default=3.0, help="claim lease, seconds")
    return parser.parse_args(argv)


class RunLog:
    """Appends one line per handler run; one write() per line, so lines stay whole."""

    def __init__(self, path: str, worker_id: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._worker_id = worker_id

    def ran(self, event: tickwork.JobEvent, started: float, ended: float) -> None:
        line = (
            f"{event.id} {event.scheduled_at.isoformat()} {self._worker_id} "
            f"{started:.3f} {ended:.3f}\n"
        )
        os.write(self._fd, line.encode())


async def main(args: argparse.Namespace) -> None:
    runs = RunLog(args.runs_file, args.worker_id)

    async def handler(event: tickwork.JobEvent) -> None:
        started = time.time()
        await asyncio.sleep(ONCE_WORK if event.id == "once" else args.work)
        runs.ran(event, started, time.time())

    scheduler = tickwork.AsyncScheduler(
        store=SQLAlchemyStore(args.url, shared=True, connect_timeout=2),
        handler=handler,
        worker_id=args.worker_id,
        claim_lease=timedelta(seconds=args.lease),
        max_workers=100,
    )
    if args.grid_jobs:
        grid = tickwork.StartAtIntervalSchedule(args.grid_origin, timedelta(seconds=1))
        await scheduler.add_jobs((f"grid-{i:03d}", grid) for i in range(args.grid_jobs))
    if args.once_at is not None:
        await scheduler.add_job("once", tickwork.OnceSchedule(args.once_at))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await scheduler.start()
    print("ready", flush=True)
    await stop.wait()
    await scheduler.stop(timeout=10)
    print("stopped", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(created).3f %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(main(parse_args(sys.argv[1:])))
