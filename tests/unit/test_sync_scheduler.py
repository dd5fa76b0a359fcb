"""The blocking Scheduler facade mirrors AsyncScheduler."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.waiting import until_sync

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    JobAlreadyExistsError,
    JobData,
    JobEvent,
    JobNotFoundError,
    JobStatus,
    MemoryStore,
    OnceSchedule,
    Scheduler,
    SchedulerAlreadyStartedError,
    SchedulerNotStartedError,
)
from tickwork._tasks import NO_TASK


def _public_names() -> list[str]:
    """Every public member of AsyncScheduler: methods and properties of the class, and
    attributes its instances set (``worker_id``)."""
    on_class = {name for name in dir(AsyncScheduler) if not name.startswith("_")}
    on_instance = {name for name in vars(AsyncScheduler()) if not name.startswith("_")}
    return sorted(on_class | on_instance)


PUBLIC = _public_names()


def _shape(function: Callable[..., object]) -> list[tuple[object, ...]]:
    """A signature as comparable values: each parameter's name, kind, default and
    annotation, then the return annotation (both modules keep annotations as text)."""
    signature = inspect.signature(function)
    return [
        *((p.name, p.kind, p.default, p.annotation) for p in signature.parameters.values()),
        ("return", signature.return_annotation),
    ]


def test_the_public_names_are_found_by_introspection() -> None:
    # What a hand-written list used to miss: a guard that the introspection sees them.
    assert {"add_jobs", "is_running", "store", "codec", "worker_id", "stop"} <= set(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_interface_parity(name: str) -> None:
    async_member = inspect.getattr_static(AsyncScheduler, name, None)
    sync_member = inspect.getattr_static(Scheduler, name, None)
    assert sync_member is not None, f"Scheduler has no {name!r}, AsyncScheduler has"
    if async_member is None:  # an instance attribute: a read-only property here
        assert isinstance(sync_member, property)
        assert sync_member.fset is None
        return
    if isinstance(async_member, property):
        assert isinstance(sync_member, property)
        assert (sync_member.fset is None) == (async_member.fset is None)
        assert sync_member.__doc__ == async_member.__doc__  # copied, not rewritten
        return
    if not inspect.iscoroutinefunction(async_member):  # a plain method (``task``): as is
        assert not inspect.iscoroutinefunction(sync_member)
        # The same parameters; ``events`` returns a blocking stream there (documented).
        assert _shape(sync_member)[:-1] == _shape(async_member)[:-1]
        assert sync_member.__doc__.startswith(async_member.__doc__.rstrip())
        return
    assert not inspect.iscoroutinefunction(sync_member)
    assert _shape(sync_member) == _shape(async_member)
    assert async_member.__doc__
    # The async docstring, whole, then perhaps a note on what blocking changes.
    assert sync_member.__doc__.startswith(async_member.__doc__.rstrip())


def test_constructor_parity() -> None:
    assert _shape(Scheduler.__init__) == _shape(AsyncScheduler.__init__)


def test_properties_show_the_async_schedulers_values() -> None:
    s = Scheduler(handler=lambda e: None, worker_id="w-1")
    for name in PUBLIC:
        if isinstance(inspect.getattr_static(Scheduler, name), property):
            assert getattr(s, name) == getattr(s.async_scheduler, name), name
    assert s.worker_id == "w-1"


def test_blocking_scheduler_runs_jobs() -> None:
    seen: list[JobEvent] = []
    lock = threading.Lock()

    def handler(event: JobEvent) -> None:
        with lock:
            seen.append(event)

    with Scheduler(handler=handler) as s:
        assert s.is_running
        s.add_job("tick", IntervalSchedule(timedelta(milliseconds=20)), {"k": "v"})
        s.add_job("once", OnceSchedule(datetime.now(UTC)))
        until_sync(lambda: sum(e.id == "tick" for e in seen) >= 3)
        until_sync(lambda: s.get_job("once").status is JobStatus.COMPLETED)
        assert [j.id for j in s.list_jobs()] == ["once", "tick"]
        s.pause_job("tick")
        assert s.get_job("tick").status is JobStatus.DISABLED
        s.resume_job("tick")
        s.update_job_schedule("tick", IntervalSchedule(timedelta(hours=1)))
        s.remove_job("tick")
        with pytest.raises(JobNotFoundError):
            s.get_job("tick")
        assert s.run_history("once")[0].status is JobStatus.COMPLETED
    assert not s.is_running


def test_blocking_lifecycle_errors_and_cycles() -> None:
    s = Scheduler(handler=lambda e: None)
    with pytest.raises(SchedulerNotStartedError):
        s.stop()
    s.start()
    with pytest.raises(SchedulerAlreadyStartedError):
        s.start()
    s.stop()
    s.start()
    s.wait_until_running(timeout=1)
    s.stop()


def test_wait_until_running_from_another_thread() -> None:
    s = Scheduler(handler=lambda e: None)
    with pytest.raises(TimeoutError):
        s.wait_until_running(timeout=0.05)
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            s.wait_until_running(timeout=5)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    s.start()
    t.join(5)
    assert not t.is_alive()
    assert errors == []
    s.stop()


# Signs of a loop closed under its tasks, or of writes refused at interpreter exit.
UNCLEAN = ("Traceback", "Exception ignored", "Task was destroyed", "Event loop is closed")

LEFT_RUNNING = """
import logging, os, pathlib, sys, time
from datetime import UTC, datetime
from tickwork import OnceSchedule, Scheduler

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
marks = pathlib.Path(sys.argv[2])

def handle(event):
    marks.write_text("started\\n")
    time.sleep(1.0)
    marks.write_text("started\\nended\\n")

def main():
    s = Scheduler(f"sqlite:///{sys.argv[1]}", handle, coordinate=True)
    s.start()
    s.add_job("once", OnceSchedule(datetime.now(UTC)))
    while not marks.exists():
        time.sleep(0.01)
    # returns while the handler runs, without stop()

main()
"""


def test_a_scheduler_left_running_is_stopped_cleanly_at_exit(tmp_path: Path) -> None:
    db, marks = tmp_path / "jobs.db", tmp_path / "marks.txt"
    done = subprocess.run(
        [sys.executable, "-c", LEFT_RUNNING, str(db), str(marks)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not any(sign in done.stderr for sign in UNCLEAN), done.stderr
    assert "scheduler stopped" in done.stderr  # logged once the store is closed
    assert marks.read_text() == "started\nended\n"
    with sqlite3.connect(db) as conn:
        jobs = conn.execute("SELECT id, status FROM scheduler_jobs").fetchall()
        runs = conn.execute("SELECT job_id, status FROM scheduler_executions").fetchall()
        claims = conn.execute("SELECT * FROM scheduler_claims").fetchall()
    assert jobs == [("once", "completed")]
    assert runs == [("once", "completed")]
    assert claims == []


def test_a_handler_may_call_the_scheduler_while_it_stops() -> None:
    """Calls made during stop() go to the stopping scheduler's loop (not a new one), and
    a second stop() from another thread waits for the first instead of failing."""
    started = threading.Event()
    seen: list[object] = []

    def handler(event: JobEvent) -> None:
        started.set()
        time.sleep(0.3)  # stop() is waiting for this run now
        try:
            seen.append([job.id for job in s.list_jobs()])
        except BaseException as exc:
            seen.append(exc)

    s = Scheduler(handler=handler)
    s.start()
    s.add_job("once", OnceSchedule(datetime.now(UTC)))
    assert started.wait(5)
    other = threading.Thread(target=s.stop)
    other.start()
    s.stop()
    other.join(5)
    assert not other.is_alive()
    assert seen == [["once"]]
    assert not s.is_running
    s.start()  # a new loop for the next cycle
    assert s.get_job("once").status is JobStatus.COMPLETED
    s.stop()


def test_add_job_into_a_store_in_this_process_is_checked_in_the_call_and_written_by_the_loop() -> (
    None
):
    """The blocking add_job on a memory store does not wait a loop round trip (see
    tickwork._thread_adds), yet refuses a taken id in the call and loses no job."""
    store = MemoryStore()
    seen: list[str] = []
    with Scheduler(store, lambda event: seen.append(event.id)) as scheduler:
        for i in range(500):
            scheduler.add_job(f"job-{i}", IntervalSchedule(timedelta(hours=1)))
        with pytest.raises(JobAlreadyExistsError):
            scheduler.add_job("job-7", IntervalSchedule(timedelta(hours=1)))
        assert scheduler.get_job("job-499").id == "job-499"  # written before the next call
        scheduler.add_job("soon", OnceSchedule(datetime.now(UTC)))
        until_sync(lambda: "soon" in seen, what="a job added from the thread to run")
        with pytest.raises(JobAlreadyExistsError):
            asyncio.run_coroutine_threadsafe(
                scheduler._async.add_job("job-3", IntervalSchedule(timedelta(hours=1))),
                scheduler._thread.loop,  # type: ignore[union-attr]
            ).result(5)
        for i in range(500, 600):  # still queued when stop() begins: written first
            scheduler.add_job(f"job-{i}", IntervalSchedule(timedelta(hours=1)))
    assert len(asyncio.run(_listed(store))) == 601


async def _listed(store: MemoryStore) -> list[JobData]:
    await store.initialize()
    return await store.list_jobs()


def test_add_job_on_a_shared_store_waits_for_the_store() -> None:
    store = MemoryStore(shared=True)
    with Scheduler(store, lambda event: None) as scheduler:
        assert (
            scheduler._async._thread_adds.add(  # type: ignore[attr-defined]
                "j", IntervalSchedule(timedelta(hours=1)), None, NO_TASK, None, {}
            )
            is None
        )
        scheduler.add_job("j", IntervalSchedule(timedelta(hours=1)))
        with pytest.raises(JobAlreadyExistsError):
            scheduler.add_job("j", IntervalSchedule(timedelta(hours=1)))
