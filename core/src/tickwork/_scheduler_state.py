"""Whether a scheduler runs, on which loop, and the tasks it has under way.

Every part of a scheduler asks the same questions (is it running? spawn this run on its
loop) and :meth:`AsyncScheduler.wait_until_running` waits on the answer, so the answers
live in one small object that the parts are given, instead of in the scheduler class
the parts would otherwise have to reach back into.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

__all__ = ["SchedulerState"]


class SchedulerState:
    """The running flag, the loop, and the set of spawned tasks of one scheduler."""

    def __init__(self) -> None:
        self.running = False
        self.starting = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self._running_event: asyncio.Event | None = None
        self._event_loop_of: asyncio.AbstractEventLoop | None = None

    def is_running(self) -> bool:
        return self.running

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task on the scheduler's loop, kept until it ends (a stop
        waits for these)."""
        assert self.loop is not None
        task: asyncio.Task[None] = self.loop.create_task(coro)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def announce_running(self) -> None:
        """The start is complete: wake :meth:`wait_until_running`."""
        self._event().set()

    def stopped(self) -> None:
        """Clear the flag and re-arm :meth:`wait_until_running` for a later start."""
        self.running = False
        if self._running_event is not None and self._event_loop_of is _current_loop():
            self._running_event.clear()

    async def wait_until_running(self, timeout: float | None) -> None:
        if self.running:
            return
        async with asyncio.timeout(timeout):
            await self._event().wait()

    def _event(self) -> asyncio.Event:
        # An asyncio.Event belongs to the loop it is first awaited on: a scheduler
        # started again on another loop (a new asyncio.run) needs a new one.
        loop = asyncio.get_running_loop()
        if self._running_event is None or self._event_loop_of is not loop:
            self._running_event = asyncio.Event()
            self._event_loop_of = loop
            if self.running:
                self._running_event.set()
        return self._running_event


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
