"""A store that cannot be reached is a state the scheduler is in, not an error per call.

When a store call fails because the backend cannot be reached
(:class:`~tickwork.StorageConnectionError`), the scheduler enters an outage once: one
WARNING, then a probe (``health_check``) with growing pauses up to a cap, logged at
DEBUG. Meanwhile nothing that needs the store is attempted: due runs that need a claim
are dropped (they are re-armed from the store afterwards), and finished runs keep
their outcome and wait. When the probe succeeds, the waiting outcomes are written
first, and then every job is re-armed from what the store holds, so nothing is left
stranded; one INFO line says how long the outage lasted and what was caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from ._event_bus import EventBus
from ._events import StoreError, StoreRecovered
from ._timeutil import utcnow
from .abc import Store

__all__ = ["StoreOutage"]

logger = logging.getLogger("tickwork.store")

#: The first pause between probes, and the cap: after the store is back, jobs run
#: again within about the cap (plus :data:`SETTLE`).
FIRST_PAUSE = 0.05
MAX_PAUSE = 1.0

#: After the store is back, other workers' waiting outcomes get this long to be written
#: before this one re-arms (and claims) jobs: a run that ended during the outage on
#: another worker is not run again here just because its outcome is not written yet.
SETTLE = 0.5

Recovery = Callable[[], Awaitable[str]]
"""Re-arm from the store after an outage; returns a summary for the log line."""

BackHook = Callable[[datetime], None]
"""Told, as the store answers again, when (wall clock) the outage began."""


class StoreOutage:
    """Tracks whether the store answers, and gets the scheduler through when it does not."""

    def __init__(
        self,
        store: Store,
        recover: Recovery,
        *,
        first_pause: float = FIRST_PAUSE,
        max_pause: float = MAX_PAUSE,
        settle: float = SETTLE,
        on_back: BackHook | None = None,
        events: EventBus | None = None,
    ) -> None:
        self._events = events
        self._store = store
        self._recover = recover
        self._on_back = on_back
        self._began: datetime | None = None
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._settle = settle
        self._since: float | None = None
        self._back: asyncio.Event | None = None
        self._probe: asyncio.Task[None] | None = None
        self._closing = False
        self._caught_up = 0
        self._given_up = 0

    @property
    def down(self) -> bool:
        """Whether the store is known to be unreachable right now."""
        return self._since is not None

    def report(self, error: BaseException) -> None:
        """A store call failed for want of a connection: enter the outage (once)."""
        if self._since is not None or self._closing:
            return
        self._since = time.monotonic()
        self._began = utcnow()
        self._back = asyncio.Event()
        self._caught_up = self._given_up = 0
        if self._events is not None:
            self._events.publish(StoreError, error=_first_line(error))
        logger.warning(
            "the store cannot be reached (%s); runs that need it wait, and it is tried "
            "again with growing pauses up to %.1f s",
            _first_line(error),
            self._max_pause,
        )
        self._probe = asyncio.get_running_loop().create_task(
            self._wait_for_store(), name="tickwork-store-probe"
        )

    async def wait_until_back(self) -> bool:
        """Wait for the end of the outage: True once the store answers again, False
        when the scheduler is closing meanwhile (give up what needs the store)."""
        while self._back is not None and not self._closing:
            await self._back.wait()
            if self._since is None:
                return True
        return not self._closing

    def note_caught_up(self) -> None:
        """A run's outcome kept during the outage has been written."""
        self._caught_up += 1

    def note_given_up(self) -> None:
        """A run's outcome kept during the outage could not be written (closing)."""
        self._given_up += 1

    async def _wait_for_store(self) -> None:
        pause = self._first_pause
        tries = 0
        while not self._closing:
            await asyncio.sleep(pause)
            tries += 1
            try:
                await self._store.health_check()
            except Exception as exc:
                logger.debug("store still unreachable after %d tries: %s", tries, _first_line(exc))
                pause = min(pause * 2, self._max_pause)
                continue
            break
        else:
            return
        assert self._since is not None
        assert self._back is not None
        lasted = time.monotonic() - self._since
        self._since = None
        if self._on_back is not None and self._began is not None:
            self._on_back(self._began)
        self._back.set()  # waiting outcomes are written first
        await asyncio.sleep(self._settle)
        try:
            summary = await self._recover()
        except Exception as exc:  # the store went away again: a new outage begins
            logger.debug("re-arming after the outage failed: %s", _first_line(exc))
            summary = "re-arming failed; it is tried again"
            self._probe = None
            self.report(exc)
        if self._events is not None:
            self._events.publish(
                StoreRecovered, lasted=timedelta(seconds=lasted), caught_up=self._caught_up
            )
        logger.info(
            "the store is reachable again after %.1f s: %d run outcome(s) kept meanwhile "
            "written; %s",
            lasted,
            self._caught_up,
            summary,
        )

    async def close(self) -> None:
        """The scheduler is stopping: stop probing, and release every waiter."""
        self._closing = True
        if self._back is not None:
            self._back.set()
        probe, self._probe = self._probe, None
        if probe is not None and probe is not asyncio.current_task():
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    def report_losses(self) -> None:
        """Log, once, the outcomes that waited for the store in vain (after close)."""
        if self._given_up:
            logger.error(
                "the store was still unreachable as the scheduler stopped: the outcomes of "
                "%d run(s) were not written (those runs are due again at the next start)",
                self._given_up,
            )
            self._given_up = 0

    def reopen(self) -> None:
        """Start afresh (the scheduler starts again)."""
        self._closing = False
        self._since = None
        self._back = None


def _first_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]
