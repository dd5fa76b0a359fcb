"""The blocking Scheduler facade mirrors AsyncScheduler."""

from __future__ import annotations

import inspect
import threading
from datetime import UTC, datetime, timedelta

import pytest
from support.waiting import until_sync

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    JobEvent,
    JobNotFoundError,
    JobStatus,
    OnceSchedule,
    Scheduler,
    SchedulerAlreadyStartedError,
    SchedulerNotStartedError,
)

PUBLIC = [
    "start",
    "stop",
    "wait_until_running",
    "add_job",
    "update_job_schedule",
    "remove_job",
    "get_job",
    "list_jobs",
    "pause_job",
    "resume_job",
    "run_history",
    "update_job_options",
    "run_job_now",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_interface_parity(name: str) -> None:
    sync_sig = inspect.signature(getattr(Scheduler, name))
    async_sig = inspect.signature(getattr(AsyncScheduler, name))
    assert sync_sig.parameters.keys() == async_sig.parameters.keys()
    assert inspect.iscoroutinefunction(getattr(AsyncScheduler, name))
    assert not inspect.iscoroutinefunction(getattr(Scheduler, name))


def test_constructor_parity() -> None:
    assert (
        inspect.signature(Scheduler.__init__).parameters.keys()
        == inspect.signature(AsyncScheduler.__init__).parameters.keys()
    )


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
