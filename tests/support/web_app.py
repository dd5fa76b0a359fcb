"""Shared fixtures for the tickwork-web tests (HTTP tests and browser tests).

- :func:`seed_store` fills any opened store with a known set of jobs and records: a
  cron job, an interval job, a paused job, a quarantined job (its schedule type is one
  no plugin registered), jobs whose ids and error texts are hostile markup, and a
  history with completed, failed, missed and late runs.
- :func:`serve_app` runs an ASGI app under uvicorn on a free 127.0.0.1 port in a
  thread, for tests that need a real server (a browser, or a store that goes away).
- :data:`WEB_TOKEN` is the token the tests give ``create_app(..., token=WEB_TOKEN)``.

Example::

    store = MemoryStore()
    await store.initialize()
    seeded = await seed_store(store)
    with serve_app(create_app(store, token=WEB_TOKEN)) as served:
        ...open served.url + "/jobs"...
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from tickwork import (
    CronSchedule,
    ExecutionRecord,
    ExecutionStatus,
    IntervalSchedule,
    JobData,
    JobStatus,
    Store,
    default_codec,
)

__all__ = [
    "HOSTILE_ERROR",
    "HOSTILE_IDS",
    "HOSTILE_META",
    "WEB_TOKEN",
    "SeededJobs",
    "ServedApp",
    "free_port",
    "seed_store",
    "serve_app",
]

WEB_TOKEN = "web-test-token-3f9a1c"

#: Job ids made of markup: a page that shows them raw runs them.
HOSTILE_IDS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
#: An error text and a metadata value made of markup.
HOSTILE_ERROR = "<script>alert('error')</script> boom"
HOSTILE_META = '"><svg onload=alert(2)>'

CRON_JOB = "report-daily"
INTERVAL_JOB = "sync-5m"
PAUSED_JOB = "paused-job"
QUARANTINED_JOB = "quarantined-job"
TASK_NAME = "reports:build"


@attrs.frozen
class SeededJobs:
    """What :func:`seed_store` stored: the job ids by role and the records' count."""

    cron: str
    interval: str
    paused: str
    quarantined: str
    hostile: tuple[str, ...]
    records: int
    now: datetime

    @property
    def all_ids(self) -> tuple[str, ...]:
        return (self.cron, self.interval, self.paused, self.quarantined, *self.hostile)


def _job(job_id: str, schedule: Any, now: datetime, **changes: Any) -> JobData:
    schedule_type, config = default_codec().encode(schedule)
    fields: dict[str, Any] = {
        "id": job_id,
        "schedule_type": schedule_type,
        "schedule_config": config,
        "next_run": schedule.next(now),
        "created_at": now - timedelta(days=1),
        "updated_at": now - timedelta(minutes=1),
    }
    fields.update(changes)
    return JobData(**fields)


def _record(
    job_id: str, n: int, scheduled: datetime, late: timedelta, status: Any, error: str | None
) -> ExecutionRecord:
    start = scheduled + late
    return ExecutionRecord(
        job_id=job_id,
        execution_id=f"{job_id}-e{n:03d}",
        start_time=start,
        end_time=start + timedelta(seconds=2),
        duration=timedelta(seconds=2),
        status=status,
        error=error,
        metadata={"scheduled_at": scheduled.isoformat(), "worker": "seed"},
    )


async def seed_store(store: Store, *, now: datetime | None = None) -> SeededJobs:
    """Store the known jobs and their histories in ``store`` (opened by the caller).

    Each readable job gets 12 records, one every 5 minutes back from ``now``: mostly
    completed with a growing lateness, one failed (with :data:`HOSTILE_ERROR`) and one
    missed. The hostile jobs carry :data:`HOSTILE_META` in their metadata.
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    interval = IntervalSchedule(timedelta(minutes=5))
    cron = CronSchedule("0 9 * * 1-5", "Europe/Paris")
    jobs = [
        _job(CRON_JOB, cron, now, metadata={"tickwork.task": TASK_NAME, "team": "finance"}),
        _job(INTERVAL_JOB, interval, now, last_run=now - timedelta(minutes=1)),
        _job(PAUSED_JOB, interval, now, status=JobStatus.DISABLED),
        JobData(
            id=QUARANTINED_JOB,
            schedule_type="no_such_type",
            schedule_config="every blue moon",
            next_run=now + timedelta(hours=1),
        ),
    ]
    jobs += [_job(j, interval, now, metadata={"owner": HOSTILE_META}) for j in HOSTILE_IDS]
    for job in jobs:
        await store.save_job(job)
    count = 0
    for job in jobs:
        if job.id == QUARANTINED_JOB:
            continue
        for n in range(12):
            scheduled = now - timedelta(minutes=5 * (n + 1))
            status: Any = JobStatus.COMPLETED
            error = None
            if n == 1:
                status, error = JobStatus.FAILED, HOSTILE_ERROR
            elif n == 4:
                status = ExecutionStatus.MISSED
            await store.save_execution(
                _record(job.id, n, scheduled, timedelta(milliseconds=50 * n), status, error)
            )
            count += 1
    return SeededJobs(
        cron=CRON_JOB,
        interval=INTERVAL_JOB,
        paused=PAUSED_JOB,
        quarantined=QUARANTINED_JOB,
        hostile=HOSTILE_IDS,
        records=count,
        now=now,
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.define
class ServedApp:
    """An app served by uvicorn in a thread: ``url`` is ``http://127.0.0.1:PORT``."""

    url: str
    server: Any
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop | None = None

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout)


@contextlib.contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1", timeout: float = 15.0) -> Iterator[ServedApp]:
    """Serve ``app`` on a free port of ``host`` until the ``with`` block ends.

    The server runs its own event loop in a thread, so the app's store must be one that
    works from that loop: open it inside the app (``tickwork_web.create_app`` with a
    store URL does) or use a store that is not bound to a loop (the memory store).
    """
    import uvicorn

    port = free_port(host)
    # A live page keeps an event stream open: give open connections 2 s at the end.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"web-app-{port}", daemon=True)
    served = ServedApp(url=f"http://{host}:{port}", server=server, thread=thread)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            served.stop()
            raise RuntimeError(f"the web app did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield served
    finally:
        served.stop()
