"""The reconciler: a background safety net that re-arms jobs whose chain broke.

A job's next run exists only as a schedule message in the stream. If publishing it
failed (the scheduler then marks the job ``rescheduling_failed``), or a message was
lost (a purge by hand, a stream restored from an old backup), nothing would ever
run the job again. Every ``interval`` seconds each worker reads the jobs from the
store and re-arms:

- every job marked ``rescheduling_failed`` that has a next run, and
- every enabled job whose ``next_run`` is older than ``now - grace_period`` (a
  healthy job is re-armed after each run, so a next run that far in the past means
  its schedule is gone).

Re-arming a job whose schedule is still in place is harmless: the deterministic
``Nats-Msg-Id`` makes the stream drop the copy, and a due run that reaches a worker
twice is dropped by its claim or by the scheduler's check of ``next_run``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tickwork import JobStatus
from tickwork.abc import Store

from ._connection import describe

__all__ = ["Reconciler"]

logger = logging.getLogger("tickwork.nats.trigger")


class Reconciler:
    """Scans ``store`` every ``interval`` seconds and re-arms broken chains via ``arm``."""

    def __init__(
        self,
        store: Store,
        arm: Callable[[str, datetime], Awaitable[None]],
        *,
        interval: float,
        grace_period: float,
        concurrency: int = 16,
    ) -> None:
        self._store = store
        self._arm = arm
        self.interval = interval
        self.grace_period = grace_period
        self._concurrency = concurrency
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def __repr__(self) -> str:
        return f"Reconciler(interval={self.interval:g}, grace_period={self.grace_period:g})"

    def start(self) -> None:
        """Run in the background (no-op when ``interval <= 0``)."""
        if self.interval > 0 and self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="tickwork-nats-reconciler")

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end.

        The flag, not the cancellation alone, is what ends the loop: a cancel that
        lands inside a NATS request can come back out of the client as a timeout (and
        from the store as ``StorageConnectionError``), which the loop would otherwise
        log and survive, leaving ``stop()`` waiting forever.
        """
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # already logged by the loop
                pass

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.interval)
            if self._stopping:
                return
            try:
                repaired = await self.scan()
            except Exception as exc:
                if self._stopping:
                    return  # the cancel of stop(), turned into another error on its way
                logger.warning("reconciler: scanning the jobs failed: %s", describe(exc))
                continue
            if repaired:
                logger.warning("reconciler: re-armed %d job(s) whose next run was lost", repaired)

    async def scan(self) -> int:
        """One pass: re-arm what needs it; returns how many jobs were re-armed."""
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=self.grace_period)
        todo = [
            (job.id, job.next_run)
            for job in await self._store.list_jobs()
            if job.next_run is not None
            and job.status != JobStatus.DISABLED
            and (job.status == JobStatus.RESCHEDULING_FAILED or job.next_run < cutoff)
        ]
        if not todo:
            return 0
        semaphore = asyncio.Semaphore(self._concurrency)
        repaired = 0

        async def one(job_id: str, run_at: datetime) -> None:
            nonlocal repaired
            async with semaphore:
                try:
                    await self._arm(job_id, run_at)
                except Exception as exc:
                    logger.warning(
                        "reconciler: job %r still cannot be armed: %s", job_id, describe(exc)
                    )
                    return
            repaired += 1
            logger.info("reconciler: re-armed job %r for %s", job_id, run_at.isoformat())

        await asyncio.gather(*(one(job_id, run_at) for job_id, run_at in todo))
        return repaired
