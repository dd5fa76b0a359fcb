"""The tasks :class:`~tickwork.testing.TaskExecutorContract` runs.

They live in an importable module of the package, not in a test file, because an
executor that runs tasks elsewhere (a child process, a remote worker) imports them by
name (``"tickwork.testing._sample_tasks:add"``). Each comes as a plain function and
as a coroutine function (``..._async``), and returns only JSON values, so every kind
of executor can hand the result back unchanged.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .._run_context import current_run

__all__ = [
    "add",
    "add_async",
    "echo",
    "echo_async",
    "fail",
    "fail_async",
    "sleep",
    "sleep_async",
    "whoami",
    "whoami_async",
]


def add(a: int, b: int) -> int:
    return a + b


async def add_async(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The arguments as received (JSON values), to check that they all arrived."""
    return {"args": list(args), "kwargs": dict(kwargs)}


async def echo_async(*args: Any, **kwargs: Any) -> dict[str, Any]:
    await asyncio.sleep(0)
    return echo(*args, **kwargs)


class SampleError(ValueError):
    """What :func:`fail` raises: a class of its own, so its name proves it travelled."""


def fail(message: str) -> None:
    raise SampleError(message)


async def fail_async(message: str) -> None:
    await asyncio.sleep(0)
    raise SampleError(message)


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


async def sleep_async(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


def whoami() -> dict[str, Any]:
    """The current run as JSON values (``current_run()`` inside the task)."""
    run = current_run()
    return {
        "job_id": run.job_id,
        "execution_id": run.execution_id,
        "scheduled_at": run.scheduled_at.isoformat(),
        "started_at": run.started_at.isoformat(),
        "attempt": run.attempt,
        "worker_id": run.worker_id,
        "task": run.task,
        "manual": run.manual,
    }


async def whoami_async() -> dict[str, Any]:
    await asyncio.sleep(0)
    return whoami()
