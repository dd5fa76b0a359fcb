"""Calling the user's handler: on the loop or in a thread, with an optional timeout."""

from __future__ import annotations

import asyncio
import inspect
import logging
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any

from ._job import JobEvent
from ._models import ExecutionStatus, JobStatus

__all__ = ["Outcome", "call_handler", "is_async_callable"]

logger = logging.getLogger("tickwork.scheduler")

Outcome = tuple[JobStatus | ExecutionStatus, str | None]


def is_async_callable(obj: Any) -> bool:
    """Whether calling ``obj`` gives a coroutine (a coroutine function, or an object
    whose ``__call__`` is one), so it can be awaited on the loop without a thread."""
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


async def call_handler(
    handler: Any,
    is_async: bool,
    event: JobEvent,
    executor: Executor | None,
    timeout: timedelta | None,
) -> Outcome:
    """Run the handler once and say how it ended.

    A coroutine handler that passes its timeout is cancelled. A thread cannot be
    interrupted: after the timeout the run is recorded as timed out and the thread is
    left to finish with its result ignored, so the job's next run is not held up.

    :raises asyncio.CancelledError: the run itself was cancelled (scheduler stopping,
        or superseded with ``overlap="cancel_running"``).
    """
    limit = None if timeout is None else timeout.total_seconds()
    try:
        if is_async:
            async with asyncio.timeout(limit):
                await handler(event)
        else:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(executor, handler, event)
            result = await asyncio.wait_for(asyncio.shield(future), limit)
            if inspect.isawaitable(result):
                async with asyncio.timeout(limit):
                    await result
    except TimeoutError:
        if not is_async:
            logger.warning(
                "job %r passed its timeout of %s; its thread goes on in the background "
                "and its result will be ignored",
                event.id,
                timeout,
            )
        return ExecutionStatus.TIMED_OUT, f"timed out after {timeout}"
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        logger.warning("job %r failed: %s", event.id, error, exc_info=True)
        return JobStatus.FAILED, error
    return JobStatus.COMPLETED, None
