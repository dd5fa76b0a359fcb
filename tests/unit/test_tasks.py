"""Tasks through the scheduler: registering, scheduling with arguments, running on the
task's executor, and jobs whose task this process does not have (issue 14).

The stores here are in memory; the same paths against real databases and several
processes are in tests/integration/sqlalchemy/test_tasks_sql.py.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from support.rows import save_row
from support.waiting import until, until_sync

from tickwork import (
    AsyncScheduler,
    ExecutionStatus,
    IntervalSchedule,
    InvalidJobDataError,
    JobData,
    JobEvent,
    JobStatus,
    MemoryStore,
    NotInRunError,
    OnceSchedule,
    QueryOptions,
    RunContext,
    Scheduler,
    StartAtIntervalSchedule,
    TaskNotFoundError,
    TaskRegistrationError,
    TaskRegistry,
    current_run,
)
from tickwork._task_ref import ARGS_KEY, TASK_KEY

FAST = IntervalSchedule(timedelta(milliseconds=50))

calls: list[tuple[str, tuple[Any, ...], dict[str, Any], RunContext]] = []
calls_lock = threading.Lock()

tasks = TaskRegistry()


@tasks.task
def collect(*args: Any, **kwargs: Any) -> None:
    with calls_lock:
        calls.append(("collect", args, kwargs, current_run()))


@tasks.task(name="collect-async")
async def collect_async(*args: Any, **kwargs: Any) -> None:
    calls.append(("collect-async", args, kwargs, current_run()))


@tasks.task(timeout=timedelta(milliseconds=100))
async def slow() -> None:
    await asyncio.sleep(5)


@tasks.task
def broken(message: str) -> None:
    raise RuntimeError(message)


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


# --- registering -------------------------------------------------------------------


def test_a_task_is_registered_under_its_module_and_qualname() -> None:
    assert f"{__name__}:collect" in tasks
    task = tasks.get(f"{__name__}:collect")
    assert task.function is collect
    assert task.executor == "thread"
    assert tasks.get("collect-async").executor == "loop"
    assert tasks.get(f"{__name__}:slow").options.timeout == timedelta(milliseconds=100)


def test_a_function_inside_a_function_needs_a_name() -> None:
    registry = TaskRegistry()

    def local() -> None: ...

    with pytest.raises(TaskRegistrationError, match="name="):
        registry.register(local)
    assert registry.register(local, name="local").name == "local"
    with pytest.raises(TaskRegistrationError, match="import"):
        registry.register(local, name="elsewhere", executor="process")


def test_a_taken_name_is_refused_and_the_same_function_again_is_not() -> None:
    registry = TaskRegistry()
    registry.register(collect, name="x")
    assert registry.register(collect, name="x").function is collect
    with pytest.raises(TaskRegistrationError, match="taken"):
        registry.register(broken, name="x")


def test_an_unknown_task_name_says_which_are_registered() -> None:
    with pytest.raises(TaskNotFoundError, match="collect-async"):
        tasks.get("nope")


def test_current_run_outside_a_task_is_an_error() -> None:
    with pytest.raises(NotInRunError):
        current_run()


# --- scheduling and running --------------------------------------------------------


async def test_a_task_runs_with_its_arguments_and_its_run() -> None:
    when = datetime(2026, 3, 1, 9, tzinfo=UTC)
    async with AsyncScheduler(tasks=tasks, worker_id="w1") as scheduler:
        job = await scheduler.add_job(
            "j",
            FAST,
            task=collect,
            args=(1, "two", [3.5]),
            kwargs={"when": when, "amount": Decimal("1.10"), "day": date(2026, 1, 2)},
        )
        assert job.task == f"{__name__}:collect"
        await until(lambda: len(calls) >= 2, what="two runs")
    _name, args, kwargs, run = calls[0]
    assert args == (1, "two", [3.5])
    assert kwargs == {"when": when, "amount": Decimal("1.10"), "day": date(2026, 1, 2)}
    assert (run.job_id, run.attempt, run.worker_id, run.task) == ("j", 1, "w1", job.task)
    assert run.scheduled_at <= run.started_at


async def test_the_task_and_its_arguments_are_stored_as_text_beside_user_metadata() -> None:
    store = MemoryStore()
    async with AsyncScheduler(store, tasks=tasks) as scheduler:
        await scheduler.add_job(
            "j", FAST, {"team": "ops"}, task="collect-async", args=(UUID(int=7),)
        )
        stored = await store.get_job("j")
        job = await scheduler.get_job("j")
    assert stored.metadata[TASK_KEY] == "collect-async"
    assert (
        stored.metadata[ARGS_KEY] == '{"args":[{"$uuid":"00000000-0000-0000-0000-000000000007"}]}'
    )
    assert stored.metadata["team"] == "ops"
    assert job.metadata == {"team": "ops"}, "reserved keys are not shown as metadata"


async def test_jobs_without_a_task_still_go_to_the_handler() -> None:
    seen: list[JobEvent] = []
    async with AsyncScheduler(handler=seen.append, tasks=tasks) as scheduler:
        await scheduler.add_job("plain", FAST)
        await scheduler.add_job("tasked", FAST, task=collect)
        await until(lambda: len(seen) >= 2 and len(calls) >= 2)
    assert {e.id for e in seen} == {"plain"}
    assert {run.job_id for *_, run in calls} == {"tasked"}


async def test_a_row_written_by_the_go_library_runs_through_the_handler() -> None:
    store = MemoryStore()
    await save_row(store, "go", metadata={"owner": "go"})
    seen: list[JobEvent] = []
    async with AsyncScheduler(store, seen.append, tasks=tasks):
        await until(lambda: seen, what="the Go job's run")
    assert seen[0].metadata == {"owner": "go"}
    assert TASK_KEY not in (await _stored(store, "go")).metadata


async def _stored(store: MemoryStore, job_id: str) -> JobData:
    await store.initialize()
    return await store.get_job(job_id)


@pytest.mark.parametrize(
    ("args", "kwargs", "path"),
    [
        (({1, 2},), {}, "args[0]"),
        ((), {"when": [1, b"x"]}, "kwargs['when'][1]"),
        ((object(),), {}, "args[0]"),
    ],
)
async def test_an_argument_that_cannot_be_stored_is_refused_at_add_job(
    args: tuple[Any, ...], kwargs: dict[str, Any], path: str
) -> None:
    store = MemoryStore()
    async with AsyncScheduler(store, tasks=tasks) as scheduler:
        with pytest.raises(InvalidJobDataError) as raised:
            await scheduler.add_job("j", FAST, task=collect, args=args, kwargs=kwargs)
        assert path in str(raised.value)
        assert "\n" not in str(raised.value)
        assert await store.list_jobs() == [], "nothing is stored"


async def test_arguments_without_a_task_and_reserved_keys_are_refused() -> None:
    async with AsyncScheduler(handler=lambda e: None, tasks=tasks) as scheduler:
        with pytest.raises(TypeError, match="task="):
            await scheduler.add_job("j", FAST, args=(1,))
        with pytest.raises(InvalidJobDataError, match="reserved"):
            await scheduler.add_job("j", FAST, {TASK_KEY: "collect-async"})
        with pytest.raises(TaskNotFoundError):
            await scheduler.add_job("j", FAST, task="no-such-task")


async def test_a_task_past_its_timeout_is_timed_out_and_a_failing_one_failed() -> None:
    async with AsyncScheduler(tasks=tasks) as scheduler:
        await scheduler.add_job("slow", OnceSchedule(datetime.now(UTC)), task=slow)
        await scheduler.add_job(
            "broken", OnceSchedule(datetime.now(UTC)), task=broken, args=("boom",)
        )
        await until(lambda: _ended(scheduler, "slow") and _ended(scheduler, "broken"), timeout=5)
        slow_runs = await scheduler.run_history("slow")
        broken_runs = await scheduler.run_history("broken")
    assert [r.status for r in slow_runs] == [ExecutionStatus.TIMED_OUT]
    assert [(r.status, r.error) for r in broken_runs] == [(JobStatus.FAILED, "boom")]


def _ended(scheduler: AsyncScheduler, job_id: str) -> bool:
    entry = scheduler._entries.get(job_id)
    return entry is not None and entry.status == JobStatus.FAILED


async def test_update_job_task_changes_what_the_next_runs_call() -> None:
    seen: list[JobEvent] = []
    async with AsyncScheduler(handler=seen.append, tasks=tasks) as scheduler:
        await scheduler.add_job("j", FAST, task=collect, args=(1,))
        await until(lambda: calls)
        job = await scheduler.update_job_task("j", "collect-async", kwargs={"k": 2})
        assert job.task == "collect-async"
        await until(lambda: any(name == "collect-async" for name, *_ in calls))
        await scheduler.update_job_task("j", None)
        await until(lambda: seen, what="the handler after the task was taken away")
    assert next(c[2] for c in calls if c[0] == "collect-async") == {"k": 2}


async def test_a_task_on_the_process_executor_is_killed_at_its_timeout() -> None:
    registry = TaskRegistry()
    from tickwork.testing import _sample_tasks

    registry.register(_sample_tasks.sleep, name="sleep", executor="process")
    async with AsyncScheduler(tasks=registry) as scheduler:
        await scheduler.add_job(
            "cpu",
            OnceSchedule(datetime.now(UTC)),
            task="sleep",
            args=(30,),
            timeout=timedelta(seconds=1.5),
        )
        await until(lambda: _ended(scheduler, "cpu"), timeout=10, what="the timeout")
        records = await scheduler.run_history("cpu")
    assert [r.status for r in records] == [ExecutionStatus.TIMED_OUT]


# --- a task this process does not have ---------------------------------------------


async def test_a_job_whose_task_is_missing_is_listed_kept_and_recorded_once() -> None:
    store = MemoryStore()
    other = TaskRegistry()
    other.register(collect, name="elsewhere")
    async with AsyncScheduler(store, tasks=other) as scheduler:
        await scheduler.add_job(
            "j",
            StartAtIntervalSchedule(datetime.now(UTC), timedelta(milliseconds=50)),
            task="elsewhere",
        )
    before = await _stored(store, "j")
    async with AsyncScheduler(store, tasks=tasks) as scheduler:  # no task "elsewhere"
        job = await scheduler.get_job("j")
        assert job.quarantined is not None
        assert "elsewhere" in job.quarantined
        await _some_history(scheduler, "j")
        await asyncio.sleep(0.3)  # several ticks pass: still one record
        records = await scheduler.run_history("j")
    after = await _stored(store, "j")
    assert [r.status for r in records] == [ExecutionStatus.TASK_MISSING]
    assert "elsewhere" in (records[0].error or "")
    assert calls == []
    assert (after.next_run, after.metadata, after.status) == (
        before.next_run,
        before.metadata,
        before.status,
    ), "the job is not rewritten"
    # A process that has the task picks it up.
    async with AsyncScheduler(store, tasks=other):
        await until(lambda: calls, what="the run on a process with the task")


async def _some_history(scheduler: AsyncScheduler, job_id: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await scheduler.run_history(job_id):
        assert asyncio.get_running_loop().time() < deadline, f"no record of {job_id!r}"
        await asyncio.sleep(0.02)


async def test_workers_with_different_tasks_share_a_store_and_run_each_job_once() -> None:
    store = MemoryStore(shared=True)
    left, right = TaskRegistry(), TaskRegistry()
    ran: Counter[tuple[str, str, datetime]] = Counter()

    def make(worker: str) -> Any:
        def run(job: str) -> None:
            ran[worker, job, current_run().scheduled_at] += 1

        return run

    left.register(make("left"), name="left-task")
    right.register(make("right"), name="right-task")
    grid = StartAtIntervalSchedule(datetime.now(UTC), timedelta(milliseconds=100))
    a = AsyncScheduler(store, tasks=left, worker_id="left", sync_interval=0.05)
    b = AsyncScheduler(store, tasks=right, worker_id="right", sync_interval=0.05)
    async with a, b:
        await a.add_job("L", grid, task="left-task", args=("L",))
        await a.add_jobs([("R", grid)], task=None)  # a handler-less job added later
        await a.remove_job("R")
        await b.add_job("R", grid, task="right-task", args=("R",))
        await asyncio.sleep(1.2)
    workers = {(w, j) for w, j, _ in ran}
    assert workers == {("left", "L"), ("right", "R")}
    assert max(ran.values()) == 1, "a run happened twice"
    for job in ("L", "R"):
        ticks = sorted(t for _, j, t in ran if j == job)
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert len(ticks) >= 8, (job, ticks)
        assert max(gaps) <= timedelta(milliseconds=250), (job, ticks)


def test_the_blocking_scheduler_registers_and_schedules_tasks() -> None:
    scheduler = Scheduler()

    @scheduler.task(name="blocking")
    def blocking(x: int) -> None:
        collect(x)

    with scheduler:  # tasks registered: no handler is needed to start
        scheduler.add_job("b", FAST, task="blocking", args=(5,))
        until_sync(lambda: calls, what="the blocking scheduler's task")
        assert scheduler.get_job("b").task == "blocking"
        assert "blocking" in scheduler.tasks
    assert calls[0][1] == (5,)


async def test_history_of_task_runs_is_queryable_like_any_other() -> None:
    async with AsyncScheduler(tasks=tasks) as scheduler:
        await scheduler.add_job("j", FAST, task=collect)
        await until(lambda: len(calls) >= 2)
        await asyncio.sleep(0.05)
        records = await scheduler.run_history("j", QueryOptions(limit=1))
    assert records
    assert records[0].status == JobStatus.COMPLETED


def kill_self() -> None:
    """A task whose process dies by a signal (a crash, the OOM killer)."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


async def test_a_process_task_killed_by_a_signal_is_a_failed_run_naming_it() -> None:
    registry = TaskRegistry()
    registry.register(kill_self, executor="process")
    async with AsyncScheduler(tasks=registry) as scheduler:
        await scheduler.add_job("crash", OnceSchedule(datetime.now(UTC)), task=kill_self)
        await until(lambda: _ended(scheduler, "crash"), timeout=10, what="the crash")
        records = await scheduler.run_history("crash")
    assert [r.status for r in records] == [JobStatus.FAILED]
    assert "SIGKILL" in (records[0].error or "")


async def test_a_job_without_a_task_and_no_handler_fails_saying_so() -> None:
    async with AsyncScheduler(tasks=tasks) as scheduler:
        await scheduler.add_job("plain", OnceSchedule(datetime.now(UTC)))
        await until(lambda: _ended(scheduler, "plain"), what="the failed run")
        records = await scheduler.run_history("plain")
    assert "'plain' has no task" in (records[0].error or "")


async def test_adding_a_job_again_before_start_takes_its_new_task_and_arguments() -> None:
    store = MemoryStore()
    async with AsyncScheduler(store, tasks=tasks) as scheduler:
        await scheduler.add_job("j", FAST, task=collect, args=(1,))
    again = AsyncScheduler(store, tasks=tasks)
    await again.add_job("j", FAST, task="collect-async", args=(2,))  # the program changed
    async with again:
        await until(lambda: any(name == "collect-async" for name, *_ in calls))
        job = await again.get_job("j")
    assert job.task == "collect-async"
    assert next(c[1] for c in calls if c[0] == "collect-async") == (2,)


def test_a_process_task_from_the_script_being_run_is_refused() -> None:
    def script_task() -> None: ...

    script_task.__module__ = "__main__"
    script_task.__qualname__ = "script_task"
    with pytest.raises(TaskRegistrationError, match="script being run"):
        TaskRegistry().register(script_task, executor="process")


async def test_plain_function_tasks_get_the_schedulers_thread_count() -> None:
    running = threading.Semaphore(0)
    release = threading.Event()
    registry = TaskRegistry()

    def hold(_: int) -> None:
        running.release()
        release.wait(5)

    registry.register(hold, name="hold")
    async with AsyncScheduler(tasks=registry, max_workers=12) as scheduler:
        await scheduler.add_jobs(
            [(f"h{i}", OnceSchedule(datetime.now(UTC))) for i in range(12)], task="hold", args=(0,)
        )
        got = 0
        deadline = asyncio.get_running_loop().time() + 5
        while got < 12 and asyncio.get_running_loop().time() < deadline:
            if running.acquire(blocking=False):
                got += 1
            else:
                await asyncio.sleep(0.01)
        release.set()
    assert got == 12, "tasks waited for threads beyond the executor's default of 8"


async def test_workers_and_restarts_note_a_missing_task_in_one_record() -> None:
    store = MemoryStore(shared=True)
    other = TaskRegistry()
    other.register(collect, name="elsewhere")
    past = datetime.now(UTC) - timedelta(seconds=5)
    await save_row(
        store, "j", metadata={TASK_KEY: "elsewhere"}, schedule_config="1h", next_run=past
    )
    for worker in ("w1", "w2", "w1"):  # two workers, then the first one again
        async with AsyncScheduler(store, tasks=tasks, worker_id=worker) as scheduler:
            await _some_history(scheduler, "j")
    await store.initialize()
    records = await store.list_executions("j", QueryOptions())
    assert [r.status for r in records] == [ExecutionStatus.TASK_MISSING]
