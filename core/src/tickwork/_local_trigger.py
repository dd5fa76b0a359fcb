"""The in-process trigger: one timer for the earliest due run, nothing else.

Jobs sit in a heap ordered by due time. A single ``loop.call_at`` timer is set for the
head of the heap; arming or disarming a job only moves that timer when the head
changes. An idle scheduler with any number of jobs therefore costs one sleeping
timer, not a polling loop.

A heap entry is ``(run_at, job_id)``, with the caller's own ``run_at`` (the job's
``next_run``, not a copy), and ``_armed`` maps each armed job to its one live entry:
an entry is live when it *is* that entry, so disarming or re-arming a job leaves the
old entry dead in the heap without searching for it. Nothing else is kept per job (a
million idle jobs cost a 56-byte tuple and a dict slot each); the due time as a float
is worked out only for the head, when the timer is set.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from .abc import Dispatch

__all__ = ["LocalDelivery", "LocalTrigger"]

logger = logging.getLogger("tickwork.trigger.local")

_Entry = tuple[datetime, str]
"""A heap entry: ``(run_at, job_id)``."""

# Due runs handed to the scheduler per loop iteration when many are due at once.
_SLICE = 256


class LocalDelivery:
    """A due run handed out by :class:`LocalTrigger` (acks are no-ops in-process)."""

    __slots__ = ("_trigger", "job_id", "scheduled_at")

    def __init__(self, trigger: LocalTrigger, job_id: str, scheduled_at: datetime) -> None:
        self._trigger = trigger
        self.job_id = job_id
        self.scheduled_at = scheduled_at

    def __repr__(self) -> str:
        return f"LocalDelivery({self.job_id!r}, {self.scheduled_at.isoformat()})"

    async def ack(self) -> None:
        return None

    async def nak(self) -> None:
        if self._trigger.is_started:
            self._trigger.arm_now(self.job_id, self.scheduled_at)


class LocalTrigger:
    """Dispatches due runs from a heap with a single timer (``trigger="local"``).

    :param max_sleep: the longest the timer sleeps before re-reading the wall clock, in
        seconds. The event loop's clock is monotonic; this bound is what lets a job
        still fire on time after the system clock was stepped or the machine resumed
        from suspend. It is not a polling tick: nothing is scanned when it fires.
    """

    shared = False

    def __init__(self, *, max_sleep: float = 60.0) -> None:
        if max_sleep <= 0:
            raise ValueError(f"max_sleep must be positive, got {max_sleep!r}")
        self._max_sleep = max_sleep
        self._heap: list[_Entry] = []
        self._armed: dict[str, _Entry] = {}  # job id -> its live heap entry
        self._dispatch: Dispatch | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Handle | None = None
        self._timer_at: datetime | None = None  # the head's run_at, when a timer is set

    def __repr__(self) -> str:
        return f"LocalTrigger(armed={len(self._armed)})"

    @property
    def is_started(self) -> bool:
        return self._dispatch is not None

    @property
    def armed_count(self) -> int:
        """How many jobs have a due time armed."""
        return len(self._armed)

    async def start(self, dispatch: Dispatch) -> None:
        self._loop = asyncio.get_running_loop()
        self._dispatch = dispatch
        self._reset_timer()

    async def stop(self) -> None:
        self._dispatch = None
        self._cancel_timer()
        self._heap.clear()
        self._armed.clear()

    async def arm(self, job_id: str, run_at: datetime) -> None:
        self.arm_now(job_id, run_at)

    async def arm_many(self, items: Iterable[tuple[str, datetime]]) -> None:
        for job_id, run_at in items:
            self._push(job_id, run_at)
        self._compact_if_needed()
        self._reset_timer()

    async def disarm(self, job_id: str) -> None:
        if self._armed.pop(job_id, None) is not None:
            self._compact_if_needed()
            # The head may now be a dead entry; the timer skips it when it fires.

    def arm_now(self, job_id: str, run_at: datetime) -> None:
        """Synchronous :meth:`arm`, for callers already on the loop."""
        replaced = job_id in self._armed
        armed = self._push(job_id, run_at)
        if armed is None:
            return
        if replaced:
            self._compact_if_needed()
        timer_at = self._timer_at
        if timer_at is None or armed < timer_at:
            self._reset_timer()

    # -- internals -------------------------------------------------------------------

    def _push(self, job_id: str, run_at: datetime) -> datetime | None:
        """Arm ``job_id`` at ``run_at`` and return it (as aware UTC); None when it was
        armed at that time already (its live entry stays, and no dead one is left
        behind)."""
        if run_at.tzinfo is not UTC:
            # Aware times of any zone order correctly, but a naive one cannot be
            # compared with them: taken as local time, as ``timestamp()`` does.
            run_at = run_at.astimezone(UTC)
        live = self._armed.get(job_id)
        if live is not None and live[0] == run_at:
            return None
        entry = self._armed[job_id] = (run_at, job_id)
        heapq.heappush(self._heap, entry)
        return run_at

    def _compact_if_needed(self) -> None:
        # Disarmed and re-armed jobs leave dead entries behind; rebuild the heap when
        # they outnumber the live ones so memory stays proportional to the job count.
        if len(self._heap) > 2 * len(self._armed) + 64:
            armed = self._armed
            self._heap = [e for e in self._heap if armed.get(e[1]) is e]
            heapq.heapify(self._heap)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = None

    def _reset_timer(self) -> None:
        self._cancel_timer()
        if self._dispatch is None or self._loop is None:
            return
        heap, armed = self._heap, self._armed
        while heap and armed.get(heap[0][1]) is not heap[0]:
            heapq.heappop(heap)
        if not heap:
            return
        self._timer_at = head = heap[0][0]
        delay = min(max(head.timestamp() - time.time(), 0.0), self._max_sleep)
        self._timer = self._loop.call_at(self._loop.time() + delay, self._fire)

    def _now(self) -> datetime:
        """The wall clock, aware UTC (``datetime.now`` rounds down to the microsecond,
        never up, so a run is never handed out early by rounding)."""
        return datetime.now(UTC)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        dispatch = self._dispatch
        if dispatch is None:
            return
        # Never early: a run that started before its time would end before it too, and
        # a schedule on a fixed grid would then hand back the same tick as the next run.
        # The timer runs on the loop's monotonic clock and due times are wall-clock, so
        # it may wake a hair before the head is due; _reset_timer then waits the rest.
        now = self._now()
        heap, armed = self._heap, self._armed
        handed_out = 0
        while heap and heap[0][0] <= now:
            if handed_out == _SLICE and self._loop is not None:
                # A backlog goes out in slices, one per loop iteration: the runs handed
                # out so far get going (and other callbacks get their turn) first.
                self._timer_at = heap[0][0]
                self._timer = self._loop.call_soon(self._fire)
                return
            entry = heapq.heappop(heap)
            run_at, job_id = entry
            if armed.get(job_id) is not entry:
                continue
            del armed[job_id]
            handed_out += 1
            try:
                dispatch(LocalDelivery(self, job_id, run_at))
            except Exception:  # the scheduler's bug must not stop other jobs
                logger.exception("dispatching job %r failed", job_id)
        self._reset_timer()
