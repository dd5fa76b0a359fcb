"""The in-process trigger: one timer for the earliest due run, nothing else.

Jobs sit in a heap ordered by due time. A single ``loop.call_at`` timer is set for the
head of the heap; arming or disarming a job only moves that timer when the head
changes. An idle scheduler with any number of jobs therefore costs one sleeping
timer, not a polling loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Iterable
from datetime import datetime

from .abc import Dispatch

__all__ = ["LocalDelivery", "LocalTrigger"]

logger = logging.getLogger("tickwork.trigger.local")

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
        self._heap: list[tuple[float, int, str, datetime]] = []
        self._armed: dict[str, int] = {}
        self._seq = itertools.count()
        self._dispatch: Dispatch | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Handle | None = None
        self._timer_at = float("inf")

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
        when = self._push(job_id, run_at)
        if replaced:
            self._compact_if_needed()
        if when < self._timer_at:
            self._reset_timer()

    # -- internals -------------------------------------------------------------------

    def _push(self, job_id: str, run_at: datetime) -> float:
        seq = next(self._seq)
        when = run_at.timestamp()
        self._armed[job_id] = seq
        heapq.heappush(self._heap, (when, seq, job_id, run_at))
        return when

    def _compact_if_needed(self) -> None:
        # Disarmed and re-armed jobs leave dead entries behind; rebuild the heap when
        # they outnumber the live ones so memory stays proportional to the job count.
        if len(self._heap) > 2 * len(self._armed) + 64:
            self._heap = [e for e in self._heap if self._armed.get(e[2]) == e[1]]
            heapq.heapify(self._heap)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = float("inf")

    def _reset_timer(self) -> None:
        self._cancel_timer()
        if self._dispatch is None or self._loop is None:
            return
        while self._heap and self._armed.get(self._heap[0][2]) != self._heap[0][1]:
            heapq.heappop(self._heap)
        if not self._heap:
            return
        when = self._heap[0][0]
        delay = min(max(when - time.time(), 0.0), self._max_sleep)
        self._timer_at = when
        self._timer = self._loop.call_at(self._loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        dispatch = self._dispatch
        if dispatch is None:
            return
        # Never early: a run that started before its time would end before it too, and
        # a schedule on a fixed grid would then hand back the same tick as the next run.
        # The timer runs on the loop's monotonic clock and due times are wall-clock, so
        # it may wake a hair before the head is due; _reset_timer then waits the rest.
        now = time.time()
        heap, armed = self._heap, self._armed
        handed_out = 0
        while heap and heap[0][0] <= now:
            if handed_out == _SLICE and self._loop is not None:
                # A backlog goes out in slices, one per loop iteration: the runs handed
                # out so far get going (and other callbacks get their turn) first.
                self._timer_at = heap[0][0]
                self._timer = self._loop.call_soon(self._fire)
                return
            _when, seq, job_id, run_at = heapq.heappop(heap)
            if armed.get(job_id) != seq:
                continue
            del armed[job_id]
            handed_out += 1
            try:
                dispatch(LocalDelivery(self, job_id, run_at))
            except Exception:  # the scheduler's bug must not stop other jobs
                logger.exception("dispatching job %r failed", job_id)
        self._reset_timer()
