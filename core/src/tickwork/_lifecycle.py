"""Starting and stopping a scheduler: which part starts when, and the order they stop in.

The order matters for what a start or stop may lose. At start the store is opened and
the jobs loaded before the trigger runs (so no delivery finds an empty table), and a
store that pushes due jobs first (:meth:`~tickwork._startup.StartUp.loads_due_first`)
gets its overdue runs going before the rest is read. At stop nothing new is taken in
before the runs under way are waited for, and their outcomes are written before the
store is closed (see :mod:`~tickwork._shutdown` for how long a stop waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ._assembly import SchedulerParts
from ._delivery_intake import arm_all
from ._errors import SchedulerNotStartedError
from ._events import SchedulerStarted, SchedulerStopped
from ._scheduler_state import SchedulerState
from ._shutdown import Shutdown
from .abc import StoreReadingTrigger

__all__ = ["Lifecycle"]

logger = logging.getLogger("tickwork.scheduler")


class Lifecycle:
    """The start and stop sequences of one scheduler's parts."""

    def __init__(self, parts: SchedulerParts, state: SchedulerState) -> None:
        self._p = parts
        self._state = state
        self._shutdown: Shutdown | None = None  # a stop under way

    async def start(self) -> None:
        """Open the store, load the jobs and start taking due runs (the caller has
        checked that a start is allowed)."""
        p, state = self._p, self._state
        state.starting = True
        state.loop = asyncio.get_running_loop()
        try:
            await p.store.initialize()
            try:
                await self._start_parts()
            except BaseException:
                await self._abort_start()
                raise
        finally:
            state.starting = False
        state.announce_running()
        p.events.publish(SchedulerStarted, jobs=len(p.table))
        logger.info(
            "scheduler started with %d jobs (store %r, trigger %r)",
            len(p.table),
            p.store,
            p.trigger,
        )

    def loads_due_first(self) -> bool:
        return self._p.startup.loads_due_first(self._p.stopped_changes)

    async def _start_parts(self) -> None:
        p = self._p
        if p.coordinator is not None and not p.trigger.shared:
            await p.coordinator.join()  # known to the other schedulers before any run
        if isinstance(p.trigger, StoreReadingTrigger):
            p.trigger.attach(p.store, p.codec)
        due_first = self.loads_due_first()
        if not due_first:
            await self._load()
        assert self._state.loop is not None
        p.path.open(p.max_workers, self._state.loop)
        self._state.running = True
        await p.trigger.start(p.path.intake.dispatch)
        if due_first:
            await p.startup.load_due_first()
        else:
            await arm_all(p.trigger, p.table)
        if p.coordinator is not None and not p.trigger.shared:
            p.coordinator.start_polling(p.editor.apply_changes)
            p.path.reconciler.start()
        if p.follower is not None:  # (jobs other processes change, from now on)
            p.follower.start([entry.to_data() for entry in p.table])

    async def _load(self) -> None:
        p = self._p
        stored_changes = bool(p.stopped_changes)
        await p.startup.load(p.stopped_changes)
        if stored_changes and p.follower is not None:
            p.follower.announce()  # what was changed while stopped
        elif stored_changes and p.coordinator is not None:
            p.coordinator.announce_change()  # what was changed while stopped

    async def _abort_start(self) -> None:
        p, state = self._p, self._state
        state.running = False
        if state.tasks:  # due runs that started while the rest was loading
            for task in state.tasks:
                task.cancel()
            await asyncio.wait(set(state.tasks), timeout=1.0)
        p.path.drop_threads()
        await self._stop_listening()
        await p.path.reconciler.stop()
        with contextlib.suppress(Exception):
            await p.trigger.stop()
        with contextlib.suppress(Exception):
            await p.store.close()

    async def stop(self, timeout: float | None) -> None:
        """The stop :meth:`AsyncScheduler.stop` describes (a second call hurries the
        first)."""
        if self._shutdown is not None:
            self._shutdown.hurry(timeout)
            await asyncio.shield(self._shutdown.done)
            return
        if not self._state.running:
            raise SchedulerNotStartedError()
        self._shutdown = shutdown = Shutdown(timeout)
        await self._p.thread_adds.settle()  # jobs another thread added are written first
        try:
            await self._stop(shutdown)
        finally:
            self._shutdown = None
            shutdown.done.set_result(None)

    async def _stop(self, shutdown: Shutdown) -> None:
        p = self._p
        self._state.stopped()
        await self._stop_listening()
        await p.path.stop_intake()
        try:
            await p.trigger.stop()
        except Exception:
            logger.exception("stopping the trigger failed")
        await p.path.close(shutdown, self._state.tasks)
        try:
            await p.gateway.drain()
            await p.store.close()
        finally:
            logger.info("scheduler stopped")
            p.events.publish(SchedulerStopped)
            await p.events.drain(timeout=1.0)

    async def _stop_listening(self) -> None:
        # Other processes' changes: the coordinator's poll, the change follower.
        if self._p.coordinator is not None:
            await self._p.coordinator.stop_polling()
        if self._p.follower is not None:
            await self._p.follower.stop()
