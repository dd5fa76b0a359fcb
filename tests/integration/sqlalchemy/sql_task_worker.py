"""One scheduler process with its own set of tasks, for the multi-process task tests.

    python sql_task_worker.py URL WORKER_ID RUNS_FILE --task NAME [--task NAME ...]
                              [--sync S] [--lease S]

It runs an ``AsyncScheduler`` on ``SQLAlchemyStore(URL)`` (shared by default) with no
handler and a :class:`tickwork.TaskRegistry` holding exactly the tasks named by
``--task``: that is the point of the tests, several deployments sharing one database
with different code, each allowed to run only the jobs whose task it has. Every task
appends one line ``job_id scheduled_at worker_id`` (``scheduled_at`` in ISO 8601) to
``RUNS_FILE``, written and flushed as one ``write`` so lines never interleave; the file
is per worker, and the lines are the tests' evidence of who ran which tick.

It adds no jobs (the test does, through a scheduler of its own), prints ``ready`` once
started, and stops gracefully on SIGTERM or when stdin closes or reads ``stop``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import tickwork
from tickwork_sqlalchemy_store import SQLAlchemyStore


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("worker_id")
    parser.add_argument("runs_file", type=Path)
    parser.add_argument("--task", action="append", required=True, help="a task to register")
    parser.add_argument("--sync", type=float, default=0.2, help="sync_interval, seconds")
    parser.add_argument("--lease", type=float, default=3.0, help="claim lease, seconds")
    return parser.parse_args(argv)


def recorder(runs_file: Path, worker_id: str) -> Callable[[], None]:
    """The body of every task here: one line per run, naming the run's job and tick."""
    lock = threading.Lock()  # tasks run on the thread executor

    def record() -> None:
        run = tickwork.current_run()
        line = f"{run.job_id} {run.scheduled_at.isoformat()} {worker_id}\n"
        with lock, runs_file.open("a") as out:
            out.write(line)
            out.flush()

    return record


async def main(options: argparse.Namespace) -> None:
    registry = tickwork.TaskRegistry()
    record = recorder(options.runs_file, options.worker_id)
    for name in options.task:
        registry.register(record, name=name, executor="thread")
    store = SQLAlchemyStore(options.url)
    assert store.shared, f"{options.url} should be shared by default"
    scheduler = tickwork.AsyncScheduler(
        store=store,
        worker_id=options.worker_id,
        claim_lease=timedelta(seconds=options.lease),
        sync_interval=options.sync,
        tasks=registry,
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
    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    reading.cancel()
    stopping.cancel()
    await scheduler.stop(timeout=5)
    print("stopped", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    asyncio.run(main(parse_args(sys.argv[1:])))
