"""Running a job's task: find it, decode its arguments, hand it to its executor.

The run executor (:mod:`~tickwork._run_executor`) keeps everything a run's policy
says (jitter, retries, the timeout's length, the claim's lease); this module only
turns one attempt of a task into an outcome, the same outcome a handler's attempt
gives, so retries, records and the tick log treat both alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from ._errors import TickworkError
from ._invoke import Outcome
from ._job import JobEvent
from ._models import ExecutionStatus, JobStatus
from ._run_context import RunContext
from ._run_reports import run_extra
from ._task_args import decode_arguments
from ._task_call import TaskCall
from ._task_ref import TaskRef
from ._tasks import TaskRegistry
from .abc import TaskExecutor

__all__ = ["TaskRunner"]

logger = logging.getLogger("tickwork.tasks")
runs_logger = logging.getLogger("tickwork.runs")

MakeExecutor = Callable[[str], TaskExecutor]
"""An executor by its registered name (``create_executor``)."""


class TaskRunner:
    """Calls tasks on their executors; one executor of each kind, made when first used."""

    def __init__(self, registry: TaskRegistry, worker_id: str, make: MakeExecutor) -> None:
        self.registry = registry
        self.worker_id = worker_id
        self._make = make
        self._executors: dict[str, TaskExecutor] = {}
        # Decoded arguments by their stored text, for arguments no task can change (a
        # job's arguments are decoded at every run, most often to the same few values).
        self._decoded: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    async def call(self, ref: TaskRef, event: JobEvent, timeout: timedelta | None) -> Outcome:
        """Run one attempt of ``ref``'s task for ``event``; how it ended.

        :raises asyncio.CancelledError: the run itself was cancelled.
        """
        try:
            call = self._prepare(ref, event)
            executor = self._executor(call.task)
        except TickworkError as exc:  # not registered, arguments unreadable, no executor
            logger.error("job %r: task %r cannot run: %s", event.id, ref.name, exc)
            return JobStatus.FAILED, str(exc)
        limit = None if timeout is None else timeout.total_seconds()
        try:
            await executor.call(call, limit)
        except TimeoutError:
            return ExecutionStatus.TIMED_OUT, f"timed out after {timeout}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            runs_logger.error(
                "job %r: task %r failed (attempt %d, execution %s): %s",
                event.id,
                ref.name,
                event.attempt,
                event.execution_id,
                error,
                exc_info=True,
                extra={**run_extra(event), "task": ref.name},
            )
            return JobStatus.FAILED, error
        return JobStatus.COMPLETED, None

    def _prepare(self, ref: TaskRef, event: JobEvent) -> TaskCall:
        task = self.registry.get(ref.name)
        args, kwargs = self._arguments(ref.arguments)
        context = RunContext(
            job_id=event.id,
            execution_id=event.execution_id,
            scheduled_at=event.scheduled_at,
            started_at=event.started_at,
            attempt=event.attempt,
            worker_id=self.worker_id,
            task=task.name,
            manual=event.manual,
            backfill=event.backfill,
        )
        return TaskCall(
            task=task.name,
            function=task.function,
            import_path=task.import_path,
            args=args,
            kwargs=kwargs,
            arguments=ref.arguments,
            context=context,
        )

    def _arguments(self, text: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if text is None:
            return (), {}
        known = self._decoded.get(text)
        if known is not None:
            return known[0], dict(known[1])
        args, kwargs = decode_arguments(text)
        if _immutable(args) and all(_immutable(v) for v in kwargs.values()):
            if len(self._decoded) >= _DECODED_LIMIT:
                self._decoded.clear()
            self._decoded[text] = (args, dict(kwargs))
        return args, kwargs

    def _executor(self, task_name: str) -> TaskExecutor:
        name = self.registry.get(task_name).executor
        executor = self._executors.get(name)
        if executor is None:
            executor = self._executors[name] = self._make(name)
        return executor

    async def aclose(self, *, wait: bool) -> None:
        """End every executor made so far (the scheduler is stopping)."""
        executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            try:
                await executor.aclose(wait=wait)
            except Exception:
                logger.exception("closing a task executor failed")


_DECODED_LIMIT = 4096
_SCALARS = (type(None), bool, int, float, str, Decimal, UUID, date)  # datetime is a date


def _immutable(value: Any) -> bool:
    """Whether a decoded argument cannot be changed by the task (so it can be shared)."""
    if isinstance(value, tuple):
        return all(_immutable(item) for item in value)
    return type(value) in _SCALARS or isinstance(value, datetime)
