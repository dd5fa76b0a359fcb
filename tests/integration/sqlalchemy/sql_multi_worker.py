"""One of several scheduler processes sharing a SQL database (for the multi-process tests).

    python sql_multi_worker.py URL WORKER_ID [--lease S] [--sync S] [--work S] [--no-runs]

It runs an ``AsyncScheduler`` on ``SQLAlchemyStore(URL)`` (shared: the default for every
database other processes can open), with claims lasting ``--lease`` seconds and a poll
for changed jobs every ``--sync`` seconds. The handler sleeps ``--work`` seconds and
records nothing itself: the execution records the scheduler writes to the database are
the evidence the tests read. With ``--no-runs`` the process manages jobs but never runs
one (its trigger never fires), like a web application that only adds jobs; every run
then shows what the other processes learned from the store.

It prints ``ready`` once started, then obeys one command per line on stdin and answers
each with one line on stdout (``ok`` or ``error <message>``)::

    add-interval PREFIX COUNT SECONDS   add jobs PREFIX-000 ... every SECONDS (add_jobs)
    add-once JOB_ID                     add a one-off job due now
    pause JOB_ID | resume JOB_ID | remove JOB_ID
    stop                                stop gracefully and exit

SIGTERM also stops it gracefully; the tests SIGKILL it to simulate a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import tickwork
from tickwork.abc import Dispatch
from tickwork_sqlalchemy_store import SQLAlchemyStore


class NoRuns:
    """A trigger that never fires: this process changes jobs, others run them."""

    shared = False

    async def start(self, dispatch: Dispatch) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def arm(self, job_id: str, run_at: datetime) -> None:
        return None

    async def arm_many(self, items: Iterable[tuple[str, datetime]]) -> None:
        return None

    async def disarm(self, job_id: str) -> None:
        return None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("worker_id")
    parser.add_argument("--lease", type=float, default=3.0, help="claim lease, seconds")
    parser.add_argument("--sync", type=float, default=0.2, help="sync_interval, seconds")
    parser.add_argument("--work", type=float, default=0.0, help="handler duration, seconds")
    parser.add_argument("--no-runs", action="store_true", help="never run a job here")
    return parser.parse_args(argv)


async def obey(scheduler: tickwork.AsyncScheduler, line: str) -> None:
    """Carry out one command line."""
    command, *args = line.split()
    if command == "add-interval":
        prefix, count, seconds = args[0], int(args[1]), float(args[2])
        schedule = tickwork.IntervalSchedule(timedelta(seconds=seconds))
        await scheduler.add_jobs((f"{prefix}-{i:03d}", schedule) for i in range(count))
    elif command == "add-once":
        await scheduler.add_job(args[0], tickwork.OnceSchedule(datetime.now(UTC)))
    elif command == "pause":
        await scheduler.pause_job(args[0])
    elif command == "resume":
        await scheduler.resume_job(args[0])
    elif command == "remove":
        await scheduler.remove_job(args[0])
    else:
        raise ValueError(f"unknown command {command!r}")


async def main(options: argparse.Namespace) -> None:
    store = SQLAlchemyStore(options.url)
    assert store.shared, f"{options.url} should be shared by default"
    work = options.work

    async def handler(event: tickwork.JobEvent) -> None:
        if work:
            await asyncio.sleep(work)

    scheduler = tickwork.AsyncScheduler(
        store=store,
        handler=handler,
        trigger=NoRuns() if options.no_runs else "local",
        worker_id=options.worker_id,
        claim_lease=timedelta(seconds=options.lease),
        sync_interval=options.sync,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    await scheduler.start()
    print("ready", flush=True)
    reading = asyncio.ensure_future(commands.readline())
    stopping = asyncio.ensure_future(stop.wait())
    while True:
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            reading.cancel()
            break
        line = reading.result().decode().strip()
        if not line or line == "stop":  # EOF: the test went away
            stopping.cancel()
            break
        try:
            await obey(scheduler, line)
        except Exception as exc:
            print(f"error {type(exc).__name__}: {exc}", flush=True)
        else:
            print("ok", flush=True)
        reading = asyncio.ensure_future(commands.readline())
    await scheduler.stop(timeout=5)
    print("stopped", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    asyncio.run(main(parse_args(sys.argv[1:])))
