"""Backfill: running the ticks of a past range, on request.

A job added today, or one whose handler was broken for a day, has ticks in the past
that never ran and that the catch-up policy will not bring back (it looks at the
downtime of this process, not at a range someone names). ``backfill(job_id, start,
end)`` runs them now, in the order they were due, through the job's own run policies
(retry, timeout) and its overlap policy, and records each run with ``"backfill":
"true"`` and its ``scheduled_at`` in the history, so the tick log tells backfilled runs
from live ones.

A backfill run is a manual run of a past tick: it never moves the job's schedule, is
not claimed on a shared store (it runs in the process that asked for it, like
``run_job_now``), and ignores ``misfire_grace_time`` (it is late on purpose).

How backfill runs meet each other and live runs follows the overlap policy:

- ``allow``: up to ``max_instances`` runs of the job at once, live ones included;
- ``skip``: one at a time; a tick that comes up while a live run goes on is recorded
  ``skipped_overlap`` (marked as backfill) and the backfill goes on with the next;
- ``queue_one`` and ``cancel_running``: one at a time, each waiting for the run before
  it to end. A backfill never cancels a live run: it is the one that can wait.

The ticks are worked out first by :func:`backfill_ticks`, a pure function, so a range
too large (:data:`DEFAULT_BACKFILL_LIMIT`) is refused before anything runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import attrs

from ._entry import JobEntry
from ._errors import BackfillError, SchedulerStoppedError
from ._ids import new_execution_id
from ._models import ExecutionStatus
from ._policy import Overlap
from ._run_flow import RunFlow
from ._tick_log import TickLog
from .abc import Schedule

__all__ = ["DEFAULT_BACKFILL_LIMIT", "BackfillReport", "Backfiller", "backfill_ticks"]

#: The most ticks one backfill runs unless told otherwise: a one-second schedule over a
#: year has 31 million, which is a mistake more often than a wish.
DEFAULT_BACKFILL_LIMIT = 10_000

_JUST_BEFORE = timedelta(microseconds=1)

Progress = Callable[[int, int], None]
"""Told ``(done, total)`` after each tick of a backfill."""

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
"""Starts a run as a task the scheduler keeps track of."""


@attrs.frozen
class BackfillReport:
    """What a backfill did: one execution id per tick, in the order they were due."""

    job_id: str
    start: datetime
    end: datetime
    ticks: tuple[datetime, ...]
    #: The execution id of each tick's run (or of its ``skipped_overlap`` record).
    execution_ids: tuple[str, ...]
    #: How many ticks were skipped because a live run was going on (overlap ``skip``).
    skipped: int = 0


def backfill_ticks(
    schedule: Schedule, start: datetime, end: datetime, *, limit: int = DEFAULT_BACKFILL_LIMIT
) -> list[datetime]:
    """The ticks of ``schedule`` from ``start`` (included) to ``end`` (excluded).

    :raises BackfillError: the range is empty, a bound is naive, or it holds more than
        ``limit`` ticks (nothing is computed past the limit).
    """
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise BackfillError(f"backfill {name} must be an aware datetime, got {value!r}")
    if start >= end:
        raise BackfillError(
            f"backfill start {start.isoformat()} is not before end {end.isoformat()}"
        )
    if limit < 1:
        raise BackfillError(f"backfill limit must be at least 1, got {limit!r}")
    ticks: list[datetime] = []
    tick = schedule.next(start - _JUST_BEFORE)
    while tick is not None and tick < end:
        if len(ticks) == limit:
            raise BackfillError(
                f"backfill from {start.isoformat()} to {end.isoformat()} has more than "
                f"{limit} ticks; give a shorter range or a larger limit"
            )
        ticks.append(tick)
        tick = schedule.next(tick)
    return ticks


class Backfiller:
    """Runs a list of past ticks of one job through its overlap policy.

    Its runs are started with ``spawn``, the scheduler's own way of starting runs, so
    that a stop waits for (or cancels) them like any other run.
    """

    def __init__(self, flow: RunFlow, tick_log: TickLog, spawn: Spawn) -> None:
        self._flow = flow
        self._tick_log = tick_log
        self._spawn = spawn

    async def run(
        self,
        entry: JobEntry,
        ticks: list[datetime],
        progress: Progress | None = None,
    ) -> tuple[list[str], int]:
        """Run ``ticks`` in order; the execution ids and how many were skipped.

        :raises SchedulerStoppedError: the scheduler stopped before every tick ran
            (the ticks that had started were run to their end or cut short by the stop).
        """
        ids: list[str] = []
        skipped = 0
        going: set[asyncio.Task[None]] = set()
        for done, tick in enumerate(ticks, start=1):
            if await self._wait_for_room(entry, going):
                execution_id = new_execution_id()
                going.add(self._spawn(self._one(entry, tick, execution_id)))
            else:
                skipped += 1
                execution_id = await self._record_skip(entry, tick)
            ids.append(execution_id)
            if progress is not None:
                progress(done, len(ticks))
        if going:
            await asyncio.wait(going)
            _raise_if_stopped(going)
        return ids, skipped

    async def _one(self, entry: JobEntry, tick: datetime, execution_id: str) -> None:
        await self._flow.run_tick(
            entry, tick, manual=True, execution_id=execution_id, backfill=True
        )

    async def _wait_for_room(self, entry: JobEntry, going: set[asyncio.Task[None]]) -> bool:
        """Wait until the next tick may start; False when it is to be skipped."""
        opts = entry.options
        while True:
            ended = {task for task in going if task.done()}
            _raise_if_stopped(ended)
            going -= ended
            busy = set(entry.running) | going
            if opts.overlap == Overlap.ALLOW:
                if len(busy) < opts.max_instances:
                    return True
            elif not busy:
                return True
            elif opts.overlap == Overlap.SKIP and not going:
                return False  # only a live run is going on
            await asyncio.wait(busy, return_when=asyncio.FIRST_COMPLETED)

    async def _record_skip(self, entry: JobEntry, tick: datetime) -> str:
        record = self._tick_log.record(entry.id, tick, ExecutionStatus.SKIPPED_OVERLAP)
        record = attrs.evolve(record, metadata={**record.metadata, "backfill": "true"})
        await self._tick_log.write(entry.id, [record])
        return record.execution_id


def _raise_if_stopped(ended: set[asyncio.Task[None]]) -> None:
    """A run task that was cancelled means the scheduler is stopping: so does the
    backfill. (A run's own failure is its record, never an exception here.)"""
    for task in ended:
        if task.cancelled():
            raise SchedulerStoppedError("the scheduler stopped during a backfill")
        task.result()
