"""The contract of a :class:`~tickwork.abc.TaskExecutor`, as a reusable test suite.

Subclass :class:`TaskExecutorContract` and provide ``make_executor``, a fixture
returning a factory of new executors; say with the class attributes whether the
executor runs tasks in this process and whether it takes coroutine functions::

    class TestMyExecutor(TaskExecutorContract):
        in_process = False  # errors come back as TaskFailedError

        @pytest.fixture
        def make_executor(self):
            return lambda: MyExecutor(workers=2)

The tasks it runs are in :mod:`tickwork.testing._sample_tasks`, importable by name
(``call.import_path``) from any process that has tickwork installed; each call carries
its arguments both decoded (``args``, ``kwargs``) and as stored text (``arguments``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from .._errors import TaskFailedError
from .._run_context import RunContext
from .._task_call import TaskCall
from ..abc import TaskExecutor
from . import _sample_tasks
from ._sample_tasks import SampleError

__all__ = ["TaskExecutorContract", "sample_call"]

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sample_call(
    name: str, *args: Any, context: RunContext | None = None, **kwargs: Any
) -> TaskCall:
    """A call of the sample task ``name`` (a function of ``_sample_tasks``)."""
    from .._task_args import encode_arguments  # imported when a test runs, not before

    run = context or RunContext(
        job_id="job-1",
        execution_id="exec-1",
        scheduled_at=T0,
        started_at=T0.replace(second=1, microsecond=250),
        attempt=2,
        worker_id="worker-a",
        task=name,
        manual=True,
    )
    return TaskCall(
        task=name,
        function=getattr(_sample_tasks, name),
        import_path=f"{_sample_tasks.__name__}:{name}",
        args=args,
        kwargs=kwargs,
        arguments=encode_arguments(args, kwargs),
        context=run,
    )


class TaskExecutorContract:
    """Every rule of :class:`~tickwork.abc.TaskExecutor` that holds for any executor."""

    #: The task runs in this process: its exceptions come back unchanged (otherwise
    #: as :class:`TaskFailedError` carrying the exception's class name).
    in_process: bool = True
    #: The executor takes coroutine functions (the ``..._async`` samples).
    coroutines: bool = False
    #: How long a call may take past its timeout, or after being cancelled (seconds).
    slack: float = 1.5
    #: How long a task is given to be under way before it is cancelled or closed.
    start_up: float = 0.3

    @pytest.fixture
    def make_executor(self) -> Callable[[], TaskExecutor]:
        """Return a factory of new executors."""
        raise NotImplementedError("override the make_executor fixture in your subclass")

    @pytest.fixture
    async def executor(
        self, make_executor: Callable[[], TaskExecutor]
    ) -> AsyncIterator[TaskExecutor]:
        executor = make_executor()
        try:
            yield executor
        finally:
            await executor.aclose(wait=False)

    def sample(self, name: str, *args: Any, **kwargs: Any) -> TaskCall:
        """A call of the sample ``name``, in the flavour this executor takes."""
        return sample_call(name + ("_async" if self.coroutines else ""), *args, **kwargs)

    async def test_it_is_a_task_executor(self, executor: TaskExecutor) -> None:
        assert isinstance(executor, TaskExecutor)

    async def test_returns_what_the_task_returned(self, executor: TaskExecutor) -> None:
        assert await executor.call(self.sample("add", 2, 3), None) == 5

    async def test_passes_every_argument(self, executor: TaskExecutor) -> None:
        call = self.sample("echo", "a", [1, 2.5, None], key={"nested": [True]}, n=-7)
        assert await executor.call(call, 10.0) == {
            "args": ["a", [1, 2.5, None]],
            "kwargs": {"key": {"nested": [True]}, "n": -7},
        }

    async def test_the_task_sees_its_run(self, executor: TaskExecutor) -> None:
        call = self.sample("whoami")
        run = call.context
        assert await executor.call(call, None) == {
            "job_id": run.job_id,
            "execution_id": run.execution_id,
            "scheduled_at": run.scheduled_at.isoformat(),
            "started_at": run.started_at.isoformat(),
            "attempt": run.attempt,
            "worker_id": run.worker_id,
            "task": run.task,
            "manual": run.manual,
        }

    async def test_concurrent_calls_each_see_their_own_run(self, executor: TaskExecutor) -> None:
        call = self.sample("whoami")
        calls = [
            attrs.evolve(call, context=attrs.evolve(call.context, job_id=f"j{i}")) for i in range(3)
        ]
        results: list[Any] = await asyncio.gather(*(executor.call(c, 10.0) for c in calls))
        assert [r["job_id"] for r in results] == ["j0", "j1", "j2"]

    async def test_an_exception_comes_back(self, executor: TaskExecutor) -> None:
        call = self.sample("fail", "boom")
        if self.in_process:
            with pytest.raises(SampleError, match=r"^boom$"):
                await executor.call(call, None)
        else:
            with pytest.raises(TaskFailedError, match="boom") as caught:
                await executor.call(call, None)
            assert caught.value.error_type in ("SampleError", SampleError.__qualname__)

    async def test_a_timeout_raises_timeout_error_promptly(self, executor: TaskExecutor) -> None:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await executor.call(self.sample("sleep", 3.0), 0.2)
        assert time.monotonic() - started < 0.2 + self.slack

    async def test_a_timeout_not_reached_changes_nothing(self, executor: TaskExecutor) -> None:
        assert await executor.call(self.sample("sleep", 0.05), 10.0) == "slept"

    async def test_cancelling_the_caller_propagates(self, executor: TaskExecutor) -> None:
        waiting = asyncio.create_task(executor.call(self.sample("sleep", 3.0), None))
        await asyncio.sleep(self.start_up)
        started = time.monotonic()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert time.monotonic() - started < self.slack

    async def test_aclose_with_wait_lets_calls_finish(
        self, make_executor: Callable[[], TaskExecutor]
    ) -> None:
        executor = make_executor()
        waiting = asyncio.create_task(executor.call(self.sample("sleep", 0.3), None))
        await asyncio.sleep(self.start_up / 2)
        await executor.aclose(wait=True)
        assert waiting.done()
        assert waiting.result() == "slept"

    async def test_aclose_without_wait_ends_calls_promptly(
        self, make_executor: Callable[[], TaskExecutor]
    ) -> None:
        executor = make_executor()
        waiting = asyncio.create_task(executor.call(self.sample("sleep", 3.0), None))
        await asyncio.sleep(self.start_up)
        started = time.monotonic()
        await executor.aclose(wait=False)
        # The call ends: as a failure (TaskFailedError), or cancelled.
        with pytest.raises((TaskFailedError, asyncio.CancelledError)):
            await asyncio.wait_for(waiting, self.slack)
        assert time.monotonic() - started < self.slack
