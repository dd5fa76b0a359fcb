"""Running one tick of a job: jitter, attempts with retries and backoff, the timeout,
the claim's lease kept alive, and the handler call; each attempt leaves a record.

The executor does not decide whether a tick runs (that is :mod:`~tickwork._run_plan`)
nor what the job looks like afterwards (:mod:`~tickwork._run_flow`). It reports what
the attempts came to in one :class:`Attempts` value. Every attempt but the last is
recorded at once; the last one's record is handed back, so that it reaches the store
with the job's new state and the claim's release in one round trip.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from ._entry import JobEntry
from ._event_bus import EventBus
from ._ids import new_execution_id
from ._instrument_set import InstrumentSet
from ._invoke import HandlerThreads, Outcome, call_handler, is_async_callable
from ._job import JobEvent
from ._models import (
    ExecutionRecord,
    ExecutionStatus,
    JobStatus,
    build_unchecked,
    to_execution_status,
)
from ._run_attempt import AttemptInfo, AttemptOutcome
from ._run_reports import RunReports
from ._task_ref import TaskRef
from ._timeutil import utcnow

if TYPE_CHECKING:
    from ._task_runner import TaskRunner

__all__ = ["Attempts", "RunExecutor"]

logger = logging.getLogger("tickwork.scheduler")

Hold = Callable[[str], AbstractAsyncContextManager[None]]
"""Keeps the claim on a job alive while the block runs (``Coordinator.held``)."""


@attrs.frozen
class Attempts:
    """What the attempts of one run came to."""

    status: JobStatus | ExecutionStatus
    started: datetime
    ended: datetime
    #: The last attempt's execution record (not saved yet), None if none started.
    record: ExecutionRecord | None
    #: Why the run was cancelled (the scheduler stopped, a newer run superseded it).
    cancelled: str | None
    #: Whether the handler was called at all (a run cancelled during its jitter or a
    #: retry's first wait never reached it).
    handler_started: bool = False


class RunExecutor:
    """Calls the handler for one tick, as the job's run policy says."""

    def __init__(
        self,
        handler: Callable[[JobEvent], Any],
        worker_id: str,
        save_records: Callable[[Sequence[ExecutionRecord]], Awaitable[None]],
        tasks: TaskRunner | None = None,
        reports: RunReports | None = None,
    ) -> None:
        self.handler = handler
        self._reports = reports or RunReports(EventBus(worker_id))
        #: Runs the jobs that name a task; the others go to ``handler``.
        self.tasks = tasks
        self._is_async = is_async_callable(handler)
        self.worker_id = worker_id
        self._save_records = save_records
        self.threads: HandlerThreads | None = None
        #: The scheduler's instruments; None (the usual case) costs nothing per attempt.
        self.instruments: InstrumentSet | None = None
        #: Why a run's task was cancelled, set by whoever cancels it.
        self.cancel_reasons: dict[asyncio.Task[Any], str] = {}

    async def run(
        self,
        entry: JobEntry,
        tick: datetime,
        *,
        manual: bool,
        execution_id: str | None,
        hold: Hold | None,
        backfill: bool = False,
    ) -> Attempts:
        """Run the handler for ``tick`` until an attempt completes, the attempts run
        out, or the run is cancelled (a cancellation is reported, not raised)."""
        task = asyncio.current_task()
        assert task is not None
        opts = entry.options
        jitter = opts.jitter * random.random() if opts.jitter else timedelta(0)
        attempts = opts.retry.max_attempts if opts.retry else 1
        status: JobStatus | ExecutionStatus = JobStatus.FAILED
        started = ended = utcnow()
        record: ExecutionRecord | None = None
        cancelled: str | None = None
        handler_started = False
        task_name = entry.task.name if entry.task is not None else None
        pause = jitter
        for attempt in range(1, attempts + 1):
            if pause and (cancelled := await self._sleep(pause, task)):
                break
            started = utcnow()
            handler_started = True
            event = self._event(
                entry, tick, started, attempt, jitter, manual, execution_id, backfill
            )
            status, error, cancelled, ended, record = await self._try_once(
                task, event, hold, entry, task_name
            )
            if status == JobStatus.COMPLETED or cancelled:
                break
            if attempt == attempts:
                if attempts > 1:
                    self._reports.exhausted(event, task_name, error)
                break
            assert opts.retry is not None
            pause = opts.retry.delay_before(attempt + 1)
            self._reports.retrying(event, task_name, pause, error)
            await self._save_early(record)  # another attempt follows: record this one now
            record = None
        return Attempts(status, started, ended, record, cancelled, handler_started)

    async def _sleep(self, pause: timedelta, task: asyncio.Task[Any]) -> str | None:
        """Wait out jitter or a retry delay; why the run was cancelled meanwhile, if it was."""
        try:
            await asyncio.sleep(pause.total_seconds())
        except asyncio.CancelledError:
            return self.cancel_reasons.pop(task, "cancelled")
        return None

    async def _try_once(
        self,
        task: asyncio.Task[Any],
        event: JobEvent,
        hold: Hold | None,
        entry: JobEntry,
        task_name: str | None,
    ) -> tuple[JobStatus | ExecutionStatus, str | None, str | None, datetime, ExecutionRecord]:
        """One call of the handler or task, reported: its status, error, why it was
        cancelled (None if it was not), when it ended, and its record."""
        self._reports.started(event, task_name)
        cancelled: str | None = None
        try:
            if self.instruments is None:
                status, error = await self._call(event, entry.options.timeout, hold, entry.task)
            else:
                status, error = await self._watched(
                    self.instruments, event, entry.options.timeout, hold, entry.task
                )
        except asyncio.CancelledError:
            cancelled = self.cancel_reasons.pop(task, "cancelled")
            status, error = JobStatus.FAILED, cancelled
        ended = utcnow()
        record = self._record(event, status, error, ended)
        raised = status == JobStatus.FAILED and not cancelled  # logged with its traceback
        self._reports.ended(
            event, task_name, status, error, ended, logged=raised, cut_short=bool(cancelled)
        )
        return status, error, cancelled, ended, record

    async def _save_early(self, record: ExecutionRecord) -> None:
        try:
            await self._save_records([record])
        except Exception as exc:
            logger.warning(
                "job %r: saving the record of attempt %s failed: %s",
                record.job_id,
                record.metadata.get("attempt"),
                exc,
            )

    def _event(
        self,
        entry: JobEntry,
        tick: datetime,
        started: datetime,
        attempt: int,
        jitter: timedelta,
        manual: bool,
        execution_id: str | None,
        backfill: bool = False,
    ) -> JobEvent:
        return JobEvent(
            id=entry.id,
            metadata=entry.metadata,
            schedule=entry.schedule,
            scheduled_at=tick,
            started_at=started,
            last_completed_at=entry.last_completed_at,
            execution_id=execution_id if attempt == 1 and execution_id else new_execution_id(),
            job=entry.snapshot(),
            attempt=attempt,
            jitter=jitter,
            manual=manual,
            backfill=backfill,
        )

    async def _call(
        self,
        event: JobEvent,
        timeout: timedelta | None,
        hold: Hold | None,
        task: TaskRef | None,
        context: contextvars.Context | None = None,
    ) -> Outcome:
        if hold is None:
            return await self._attempt(event, timeout, task, context)
        async with hold(event.id):
            return await self._attempt(event, timeout, task, context)

    def _attempt(
        self,
        event: JobEvent,
        timeout: timedelta | None,
        task: TaskRef | None,
        context: contextvars.Context | None,
    ) -> Awaitable[Outcome]:
        if task is not None and self.tasks is not None:
            return self.tasks.call(task, event, timeout)
        return call_handler(self.handler, self._is_async, event, self.threads, timeout, context)

    async def _watched(
        self,
        instruments: InstrumentSet,
        event: JobEvent,
        timeout: timedelta | None,
        hold: Hold | None,
        task: TaskRef | None,
    ) -> Outcome:
        """An attempt inside the instruments' scopes: they begin in this (the run's)
        task, so what they set in the context is what the handler's thread gets a copy
        of, and they end here, with the outcome, however the attempt ends."""
        info = AttemptInfo(
            job_id=event.id,
            execution_id=event.execution_id,
            task=task.name if task is not None else None,
            scheduled_at=event.scheduled_at,
            started_at=event.started_at,
            attempt=event.attempt,
            worker_id=self.worker_id,
            manual=event.manual,
        )
        start = time.perf_counter()
        scopes = instruments.begin(info)
        status: JobStatus | ExecutionStatus = JobStatus.FAILED
        error: str | None = "cancelled"
        try:
            status, error = await self._call(event, timeout, hold, task, contextvars.copy_context())
        finally:
            outcome = AttemptOutcome(
                status=str(status.value),
                error=error,
                ended_at=utcnow(),
                duration=time.perf_counter() - start,
            )
            instruments.end(scopes, outcome)
        return status, error

    def _record(
        self,
        event: JobEvent,
        status: JobStatus | ExecutionStatus,
        error: str | None,
        ended: datetime,
    ) -> ExecutionRecord:
        metadata = {
            "scheduled_at": event.scheduled_at.isoformat(),
            "worker": self.worker_id,
            "attempt": str(event.attempt),
        }
        if event.manual:
            metadata["manual"] = "true"
        if event.backfill:
            metadata["backfill"] = "true"
        if event.jitter:
            metadata["jitter"] = str(event.jitter.total_seconds())
        # One per run: built without the converters, whose checks these values (times
        # from utcnow, statuses as enums, a fresh dict of strings) pass by construction.
        return build_unchecked(
            ExecutionRecord,
            (
                event.id,
                event.execution_id,
                event.started_at,
                ended,
                ended - event.started_at,
                to_execution_status(status),
                error,
                metadata,
            ),
        )
