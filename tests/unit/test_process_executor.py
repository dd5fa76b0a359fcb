"""What only a child process can do: be killed, die, print, import from the parent's path."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tickwork import ProcessExecutor, TaskFailedError
from tickwork._task_call import TaskCall
from tickwork.testing._executor_contract import sample_call

MODULE = "tickwork_child_tasks"
TASKS = """
import os
import signal
import sys
import time


def spin(pid_file):
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    while True:  # a CPU loop: nothing but a signal ends it
        pass


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def exit_3():
    os._exit(3)


def chatty():
    print("hello from the task")
    sys.stdout.flush()
    os.write(1, b"straight to fd 1\\n")
    return {"answer": 42}


def not_json():
    return {1, 2}


class Nested:
    @staticmethod
    def double(x):
        return 2 * x


def pid_after(seconds):
    time.sleep(seconds)
    return os.getpid()
"""


@pytest.fixture(autouse=True)
def tasks_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module only a folder on this process's sys.path holds (not installed)."""
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(TASKS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture
async def executor() -> AsyncIterator[ProcessExecutor]:
    executor = ProcessExecutor(max_processes=4, kill_grace=0.5)
    try:
        yield executor
    finally:
        await executor.aclose(wait=False)


def call_of(qualname: str, *args: object) -> TaskCall:
    """A call of a function of the temporary module (not importable in this process)."""
    base = sample_call("add")
    return TaskCall(
        task=qualname,
        function=print,  # never called: the child imports the function by name
        import_path=f"{MODULE}:{qualname}",
        args=args,
        context=base.context,
    )


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for ``condition`` (the children start in a fraction of a second)."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_cpu_loop_past_its_timeout_is_killed(
    executor: ProcessExecutor, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await executor.call(call_of("spin", str(pid_file)), 1.0)
    assert time.monotonic() - started < 2.5
    assert gone(int(pid_file.read_text()))  # killed and reaped: not even a zombie
    assert not executor.children


async def test_a_child_killed_by_a_signal(executor: ProcessExecutor) -> None:
    with pytest.raises(TaskFailedError, match="killed by signal SIGKILL") as caught:
        await executor.call(call_of("kill_self"), 10.0)
    assert caught.value.error_type is None


async def test_a_child_that_exits(executor: ProcessExecutor) -> None:
    with pytest.raises(TaskFailedError, match="exited with code 3"):
        await executor.call(call_of("exit_3"), 10.0)


async def test_prints_do_not_break_the_result(
    executor: ProcessExecutor, capfd: pytest.CaptureFixture[str]
) -> None:
    assert await executor.call(call_of("chatty"), 10.0) == {"answer": 42}
    err = capfd.readouterr().err
    assert "hello from the task" in err
    assert "straight to fd 1" in err


async def test_a_dotted_qualname_and_the_parents_path(executor: ProcessExecutor) -> None:
    assert MODULE not in sys.modules  # only the child imported it
    assert await executor.call(call_of("Nested.double", 21), 10.0) == 42


async def test_what_the_child_cannot_do_comes_back_typed(executor: ProcessExecutor) -> None:
    with pytest.raises(TaskFailedError, match="JSON") as caught:
        await executor.call(call_of("not_json"), 10.0)
    assert caught.value.error_type == "TypeError"
    missing = TaskCall(
        task="missing",
        function=print,
        import_path="no_such_module_here:f",
        context=sample_call("add").context,
    )
    with pytest.raises(TaskFailedError) as caught:
        await executor.call(missing, 10.0)
    assert caught.value.error_type == "ModuleNotFoundError"


async def test_a_failure_carries_the_childs_traceback(executor: ProcessExecutor) -> None:
    with pytest.raises(TaskFailedError) as caught:
        await executor.call(sample_call("fail", "boom"), 10.0)
    notes = "".join(getattr(caught.value, "__notes__", []))
    assert "Traceback" in notes
    assert "_sample_tasks.py" in notes


async def test_cancelling_kills_the_child(executor: ProcessExecutor) -> None:
    waiting = asyncio.create_task(executor.call(sample_call("sleep", 30.0), None))
    await until(lambda: len(executor.children) == 1)
    (pid,) = executor.children
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert gone(pid)


async def test_aclose_without_wait_kills_the_children() -> None:
    executor = ProcessExecutor(max_processes=2)
    waiting = [
        asyncio.create_task(executor.call(sample_call("sleep", 30.0), None)) for _ in range(3)
    ]  # the third waits for a free process, and never starts
    await until(lambda: len(executor.children) == 2)
    pids = executor.children
    await executor.aclose(wait=False)
    for call in waiting:
        with pytest.raises(TaskFailedError, match="executor closed"):
            await call
    assert all(gone(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="closed"):
        await executor.call(sample_call("add", 1, 2), None)


async def test_at_most_max_processes_at_once() -> None:
    executor = ProcessExecutor(max_processes=2)
    calls = asyncio.gather(*(executor.call(call_of("pid_after", 0.4), 30.0) for _ in range(5)))
    most = 0
    while not calls.done():
        most = max(most, len(executor.children))
        await asyncio.sleep(0.01)
    pids = await calls
    await executor.aclose(wait=True)
    assert most == 2
    assert len(set(pids)) == 5  # a fresh process per call


def test_max_processes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_processes"):
        ProcessExecutor(max_processes=0)
