"""Changes pushed between processes: a stored change wakes the other schedulers' polls.

Schedulers sharing a store poll it every ``sync_interval`` for jobs changed elsewhere.
With a :class:`~tickwork.abc.ChangeSignalingStore` the process that stores a change
also sends a signal, and every other scheduler polls as soon as it hears one, so a
change arrives in milliseconds instead of up to a second.

A signal names the jobs that changed (or says "everything") so that a listener can
read just those; it only wakes the read, and the store stays the one source of truth.
That is what makes a lost signal harmless: the poll at ``sync_interval`` still runs
underneath, and after the listening connection comes back the listener wakes the poll
at once with "everything", which finds whatever changed while nobody was listening. A
repeated or spurious signal costs one read that finds nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable

from ._change_payload import MOST_IDS
from .abc import ChangedJobs, ChangeSignalingStore

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
    the changes stored meanwhile are announced by one more signal after it, which
    names the union of their job ids, or "everything" once one of them named no jobs
    or past :data:`~tickwork._change_payload.MOST_IDS` ids (bounded memory).
    """

    def __init__(self, store: ChangeSignalingStore) -> None:
        self._store = store
        self._sending: asyncio.Task[None] | None = None
        self._pending: set[str] | None = set()  # None: "everything"
        self._again = False

    def announce(self, job_ids: Iterable[str] | None = None) -> None:
        """Jobs were stored: signal their ids (now, or right after the signal in
        flight); None, the default, signals "everything"."""
        self._merge(job_ids)
        self._again = True
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send(), name="tickwork-announce")

    def _merge(self, job_ids: Iterable[str] | None) -> None:
        if self._pending is None:
            return
        if job_ids is None:
            self._pending = None
            return
        self._pending.update(job_ids)
        if len(self._pending) > MOST_IDS:
            self._pending = None

    def _take(self) -> ChangedJobs:
        pending, self._pending = self._pending, set()
        return None if pending is None else frozenset(pending)

    async def _send(self) -> None:
        while self._again:
            self._again = False
            job_ids = self._take()
            try:
                await self._store.signal_changes(job_ids)
            except Exception as exc:
                logger.warning(
                    "could not signal a job change to other processes (%s: %s); they "
                    "pick it up at their next poll",
                    type(exc).__name__,
                    exc,
                )

    async def drain(self) -> None:
        """Wait until the last announced change is signalled (before the store closes)."""
        sending, self._sending = self._sending, None
        if sending is not None:
            await sending


class ChangeListener:
    """Listens for other processes' signals and calls ``wake`` with what each said
    (the job ids, or None for "everything").

    When the listening connection is lost it logs once, leaves the regular poll to
    carry on, and listens again after a pause (doubling up to :data:`LONGEST_PAUSE`).
    Each time it starts listening it calls ``wake(None)`` once, so a change made while
    it was not listening is read for at once.
    """

    def __init__(self, store: ChangeSignalingStore, wake: Callable[[ChangedJobs], None]) -> None:
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
            self._wake(None)  # whatever changed while nobody listened
            async for job_ids in signals:
                self._wake(job_ids)
