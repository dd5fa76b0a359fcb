"""A user's program for test_interrupted_stop: a blocking Scheduler on a SQLite file.

    interrupt_worker.py DB MARKS SECONDS [--add]

With ``--add`` it adds a one-off job ``once`` due now, whose handler takes SECONDS, and
a job ``beat`` every 0.5 s; without, it runs what the file holds. It writes ``ready``
on stdout once started, then waits for Ctrl-C as such a program does, without catching
it. The handler writes what it does, one line each, to MARKS: ``start PID once``,
``end PID once``, ``beat PID``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tickwork import IntervalSchedule, JobEvent, OnceSchedule, Scheduler


def main() -> None:
    # Ctrl-C as a program started from a shell gets it: a test run may have left SIGINT
    # ignored in the process that starts this one, and an ignored signal is inherited.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    db, marks, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])

    def mark(line: str) -> None:
        with marks.open("a") as f:
            f.write(f"{line} {os.getpid()}\n")

    def handle(event: JobEvent) -> None:
        if event.id == "beat":
            mark("beat")
            return
        mark(f"start {event.id}")
        time.sleep(seconds)
        mark(f"end {event.id}")

    with Scheduler(f"sqlite:///{db}", handle, coordinate=True) as scheduler:
        if "--add" in sys.argv:
            scheduler.add_job("once", OnceSchedule(datetime.now(UTC)))
            scheduler.add_job("beat", IntervalSchedule(timedelta(seconds=0.5)))
        print("ready", flush=True)
        while True:
            time.sleep(0.1)


if __name__ == "__main__":
    main()
