"""One scheduler process for the restart tests.

    python sql_scheduler_worker.py URL WORKER_ID ONCE_AT [--add-jobs] [--shared]

It runs an ``AsyncScheduler`` on the SQL store at ``URL`` with a handler that takes a
few milliseconds, prints ``ready`` once started, and stops gracefully on SIGTERM (the
tests SIGKILL it to simulate a crash). With ``--add-jobs`` it adds its jobs before
``start()``, as a program does at every start; ``ONCE_AT`` (ISO 8601) is the time of the
one-off job, the same in every process so its schedule is the same each time. With
``--shared`` the store is opened with ``shared=True`` (several schedulers at once, each
due run claimed by one of them) and claims last 2 s, so a killed process's run is
taken over quickly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import datetime, timedelta

import tickwork
from tickwork_sqlalchemy_store import SQLAlchemyStore


def jobs(once_at: datetime) -> dict[str, tickwork.Schedule]:
    return {
        "once": tickwork.OnceSchedule(once_at),
        "every-second": tickwork.IntervalSchedule(timedelta(seconds=1)),
        "hourly": tickwork.IntervalSchedule(timedelta(hours=1)),
        "yearly-cron": tickwork.CronSchedule("0 0 1 1 *"),
    }


async def handler(event: tickwork.JobEvent) -> None:
    await asyncio.sleep(0.02)


async def main(
    url: str, worker_id: str, once_at: datetime, *, add_jobs: bool, shared: bool
) -> None:
    scheduler = tickwork.AsyncScheduler(
        store=SQLAlchemyStore(url, shared=shared),
        handler=handler,
        worker_id=worker_id,
        claim_lease=timedelta(seconds=2),
    )
    if add_jobs:
        for job_id, schedule in jobs(once_at).items():
            await scheduler.add_job(job_id, schedule, {"added_by": worker_id})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await scheduler.start()
    print("ready", flush=True)
    await stop.wait()
    await scheduler.stop(timeout=5)
    print("stopped", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(
        main(
            sys.argv[1],
            sys.argv[2],
            datetime.fromisoformat(sys.argv[3]),
            add_jobs="--add-jobs" in sys.argv,
            shared="--shared" in sys.argv,
        )
    )
