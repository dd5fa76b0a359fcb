"""Changes pushed between processes: a stored change wakes the other schedulers' polls.

Schedulers sharing a store poll it every ``sync_interval`` for jobs changed elsewhere.
With a :class:`~tickwork.abc.ChangeSignalingStore` the process that stores a change
also sends a signal, and every other scheduler polls as soon as it hears one, so a
change arrives in milliseconds instead of up to a second.

A signal carries nothing and only wakes the poll, which stays the one source of truth.
That is what makes a lost signal harmless: the poll at ``sync_interval`` still runs
underneath, and after the listening connection comes back the listener wakes the poll
at once, which finds whatever changed while nobody was listening. A repeated or
spurious signal costs one poll that finds nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from .abc import ChangeSignalingStore

__all__ = ["ChangeAnnouncer", "ChangeListener"]

logger = logging.getLogger("tickwork.coordination")

#: Pauses between attempts to listen again after the connection was lost: doubling
#: from the first to the longest, each shortened at random so that replicas that lost
#: the same server do not all come back in step.
FIRST_PAUSE = 0.1
LONGEST_PAUSE = 5.0


class ChangeAnnouncer:
    """Sends this process's "jobs changed" signals in the background, coalesced.

    A user change must not wait for a second round trip, and a thousand ``add_job``
    calls in a loop must not send a thousand signals: while one signal is on its way,
    the changes stored meanwhile are announced by one more signal after it.
    """

    def __init__(self, store: ChangeSignalingStore) -> None:
        self._store = store
        self._sending: asyncio.Task[None] | None = None
        self._again = False

    def announce(self) -> None:
        """A change was stored: signal it (now, or right after the signal in flight)."""
        if self._sending is not None and not self._sending.done():
            self._again = True
            return
        self._sending = asyncio.create_task(self._send(), name="tickwork-announce")

    async def _send(self) -> None:
        while True:
            self._again = False
            try:
                await self._store.signal_changes()
            except Exception as exc:
                logger.warning(
                    "could not signal a job change to other processes (%s: %s); they "
                    "pick it up at their next poll",
                    type(exc).__name__,
                    exc,
                )
            if not self._again:
                return

    async def drain(self) -> None:
        """Wait until the last announced change is signalled (before the store closes)."""
        sending, self._sending = self._sending, None
        if sending is not None:
            await sending


class ChangeListener:
    """Listens for other processes' signals and calls ``wake`` for each.

    When the listening connection is lost it logs once, leaves the regular poll to
    carry on, and listens again after a pause (doubling up to :data:`LONGEST_PAUSE`).
    Each time it starts listening it calls ``wake`` once, so a change made while it was
    not listening is polled for at once.
    """

    def __init__(self, store: ChangeSignalingStore, wake: Callable[[], None]) -> None:
        self._store = store
        self._wake = wake
        self._task: asyncio.Task[None] | None = None
        #: Whether a signal sent now would reach this listener.
        self.listening = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tickwork-change-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.listening = False

    def _stopped(self) -> bool:
        return self._task is None

    async def _run(self) -> None:
        pause = FIRST_PAUSE
        lost = False
        # ``_task`` is None once stop() began, which ends the loop even when a store
        # turns the cancel into an error of its own (a client library reporting a
        # cancelled request as a timeout), which the loop would otherwise survive.
        while not self._stopped():
            try:
                await self._listen(lost)
                failure = "the listening connection ended"
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
            if self._stopped():
                return
            if self.listening:
                pause = FIRST_PAUSE  # it had been listening: a new loss
            if self.listening or not lost:  # once per loss, not at every failed retry
                logger.warning(
                    "not listening for job changes from other processes (%s); polling "
                    "for them until the connection is back",
                    failure,
                )
            lost, self.listening = True, False
            await asyncio.sleep(pause * random.uniform(0.5, 1.0))
            pause = min(pause * 2, LONGEST_PAUSE)

    async def _listen(self, was_lost: bool) -> None:
        async with self._store.listen_for_changes() as signals:
            self.listening = True
            if was_lost:
                logger.info("listening for job changes from other processes again")
            self._wake()  # whatever changed while nobody listened
            async for _ in signals:
                self._wake()
