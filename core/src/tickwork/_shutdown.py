"""Stopping: how long a stop waits for the runs in progress, and what it cuts short.

``stop()`` waits for every run, or until its deadline. A second ``stop()`` while the
first waits (a second Ctrl-C) brings the deadline forward instead of failing: the
:class:`Shutdown` holds the deadline and a nudge that wakes the wait when it moves.
Runs still going at the deadline are cancelled; a handler in a thread cannot be
interrupted and finishes in the background. Runs whose outcome waits for a store that
is down give up first, so that the stop never hangs on an outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Set

from ._run_executor import RunExecutor
from ._store_outage import StoreOutage

__all__ = ["OUTAGE_STOP_WAIT", "Shutdown"]

logger = logging.getLogger("tickwork.scheduler")

#: How long a stop without a timeout waits for runs whose outcome waits for a store
#: that is down.
OUTAGE_STOP_WAIT = 10.0


class Shutdown:
    """One stop in progress: its deadline (loop time), and its end."""

    def __init__(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = loop.create_future()
        self._deadline = None if timeout is None else loop.time() + timeout
        self._nudged = asyncio.Event()

    def hurry(self, timeout: float | None) -> None:
        """A second stop(): the shorter of the two deadlines applies."""
        if timeout is None:
            return
        deadline = asyncio.get_running_loop().time() + timeout
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
            self._nudged.set()

    async def wait_for_runs(
        self, tasks: Set[asyncio.Task[None]], executor: RunExecutor, outage: StoreOutage
    ) -> None:
        """Wait for the runs in progress until the deadline, then cut short the rest."""
        loop = asyncio.get_running_loop()
        if self._deadline is None and outage.down:
            self._deadline = loop.time() + OUTAGE_STOP_WAIT
        pending = {t for t in tasks if not t.done()}
        while pending:
            remaining = None if self._deadline is None else max(0.0, self._deadline - loop.time())
            self._nudged.clear()
            nudged = loop.create_task(self._nudged.wait())
            try:
                await asyncio.wait(
                    {*pending, nudged}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                nudged.cancel()
            pending = {t for t in tasks if not t.done()}
            if self._deadline is not None and loop.time() >= self._deadline:
                break
        if pending:
            await _cut_short(pending, executor, outage)


async def _cut_short(
    still: set[asyncio.Task[None]], executor: RunExecutor, outage: StoreOutage
) -> None:
    logger.warning(
        "stopping: cancelling %d run(s) still in progress; handlers running in "
        "threads cannot be interrupted and finish in the background",
        len(still),
    )
    await outage.close()  # outcomes waiting for the store give up now
    await asyncio.sleep(0)
    for task in still:
        if not task.done():
            executor.cancel_reasons[task] = "cancelled: the scheduler stopped"
            task.cancel()
    await asyncio.wait(still, timeout=1.0)
