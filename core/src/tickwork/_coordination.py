"""How several scheduler processes share one store: claims, leases and change polling.

Each process arms every job on its own trigger, so every process wakes up for every
due run; the store's atomic claim decides which one runs it. The winner keeps its
claim alive while the handler runs and releases it after saving the job's next run.
A loser asks again when the winner's lease would expire, which is how a run whose
process died is taken over. Jobs that other processes add, change, pause or resume are
picked up by polling the store for recently updated jobs every ``sync_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

from ._models import JobData
from ._timeutil import utcnow
from .abc import ClaimingStore

__all__ = ["DEFAULT_LEASE", "DEFAULT_SYNC_INTERVAL", "Coordinator"]

logger = logging.getLogger("tickwork.coordination")

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_SYNC_INTERVAL = 1.0

# Updates are looked for this far before the previous poll, so a write that committed
# late, or a small clock difference between processes, is not missed. Seeing a job
# twice is harmless: applying the same state again changes nothing.
_OVERLAP = timedelta(seconds=2)


class Coordinator:
    """Claims due runs in a shared store and polls it for jobs changed elsewhere."""

    def __init__(
        self,
        store: ClaimingStore,
        owner: str,
        *,
        lease: timedelta = DEFAULT_LEASE,
        sync_interval: float = DEFAULT_SYNC_INTERVAL,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError(f"claim lease must be positive, got {lease!r}")
        if sync_interval <= 0:
            raise ValueError(f"sync_interval must be positive, got {sync_interval!r}")
        self.store = store
        self.owner = owner
        self.lease = lease
        self.sync_interval = sync_interval
        self._poller: asyncio.Task[None] | None = None

    async def claim(self, job_id: str, scheduled_at: datetime) -> JobData | None:
        """Claim one due run; the job as stored when we own it, else None."""
        now = utcnow()
        return await self.store.claim_job(job_id, scheduled_at, self.owner, now + self.lease, now)

    async def release(self, job_id: str) -> None:
        """Give the claim up (after the job's next run has been saved)."""
        try:
            await self.store.release_claim(job_id, self.owner)
        except Exception:
            # The lease expires by itself; nothing is lost, the next claim waits for it.
            logger.warning("job %r: releasing its claim failed", job_id, exc_info=True)

    @contextlib.asynccontextmanager
    async def held(self, job_id: str) -> AsyncIterator[None]:
        """Keep the claim on ``job_id`` alive for the duration of the block."""
        renewer = asyncio.create_task(self._renew(job_id), name=f"tickwork-lease-{job_id}")
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _renew(self, job_id: str) -> None:
        period = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            try:
                kept = await self.store.renew_claim(job_id, self.owner, utcnow() + self.lease)
            except Exception:
                logger.warning("job %r: renewing its claim failed", job_id, exc_info=True)
                continue
            if not kept:
                logger.warning(
                    "job %r: this process lost its claim during the run (lease %s too short, "
                    "or the process was paused); another process may run the job too",
                    job_id,
                    self.lease,
                )
                return

    def start_polling(self, apply: Callable[[list[JobData]], Awaitable[None]]) -> None:
        """Poll for changed jobs every ``sync_interval`` and hand them to ``apply``."""
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(apply), name="tickwork-sync")

    async def stop_polling(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def _poll(self, apply: Callable[[list[JobData]], Awaitable[None]]) -> None:
        since = utcnow() - _OVERLAP
        while True:
            await asyncio.sleep(self.sync_interval)
            started = utcnow()
            try:
                changed = await self.store.list_jobs_changed_since(since)
                if changed:
                    await apply(changed)
            except Exception:
                logger.warning("polling the store for changed jobs failed", exc_info=True)
                continue
            since = started - _OVERLAP
