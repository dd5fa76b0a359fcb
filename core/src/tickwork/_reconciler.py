"""Reconciliation: no job stays due without a worker that means to run it.

With the local trigger, each process arms its own timers from what it read. A job can
then be left due with nobody armed for it: its outcome could not be saved (the store
went away as its run ended), a delivery was dropped during an outage, a process died
between a claim and its release. Two repairs bring the trigger back in line with the
store:

- after an outage, :meth:`Reconciler.rearm_all` reads every job and arms it from what
  the store holds (the store is the truth every worker claims against);
- every ``interval`` seconds, :meth:`Reconciler.rearm_overdue` asks the store for the
  jobs that are overdue (``list_due_jobs``, an index read bounded by what is due) and
  arms those that no run here holds and that are not waiting for another process's
  lease. Arming such a job makes this process ask for its claim: a job that another
  worker is running keeps its claim there, so nothing runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta

from ._coordination import Coordinator
from ._delivery_intake import DeliveryIntake, arm
from ._errors import StorageConnectionError
from ._job_table import JobTable
from ._store_outage import StoreOutage
from ._timeutil import utcnow
from .abc import DueJobsStore, Store, Trigger

__all__ = ["DEFAULT_RECONCILE_INTERVAL", "Reconciler"]

logger = logging.getLogger("tickwork.scheduler")

DEFAULT_RECONCILE_INTERVAL = 5.0

#: A job counts as stranded once it is this much overdue: every armed worker would
#: have asked for its claim by then.
OVERDUE = timedelta(seconds=2)


class Reconciler:
    """Re-arms jobs from the store: all of them after an outage, overdue ones always."""

    def __init__(
        self,
        *,
        store: Store,
        due_jobs: DueJobsStore | None,
        table: JobTable,
        trigger: Trigger,
        intake: DeliveryIntake,
        coordinator: Coordinator | None,
        outage: StoreOutage,
        is_running: Callable[[], bool],
        interval: float = DEFAULT_RECONCILE_INTERVAL,
    ) -> None:
        self._store = store
        self._due_jobs = due_jobs
        self._table = table
        self._trigger = trigger
        self._intake = intake
        self._coordinator = coordinator
        self._outage = outage
        self._is_running = is_running
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def rearm_all(self) -> str:
        """Bring every job in line with the store (after an outage); a summary."""
        if not self._is_running():
            return "the scheduler is stopping"
        rows = await self._store.list_jobs()
        armed = 0
        for data in rows:
            entry = self._table.apply(data)
            if entry.running:
                continue
            self._intake.cancel_recheck(entry.id)
            await arm(self._trigger, entry)
            armed += entry.wants_to_run
        gone = set(self._table.entries) - {data.id for data in rows}
        for job_id in gone:
            self._table.forget(job_id)
            await self._trigger.disarm(job_id)
        return f"{armed} job(s) re-armed from the store" + (
            f", {len(gone)} removed meanwhile" if gone else ""
        )

    def start(self) -> None:
        """Look for stranded jobs every ``interval`` seconds (a store that can list due
        jobs, a local trigger, several processes)."""
        if self._due_jobs is not None and self._coordinator is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._every_interval(), name="tickwork-reconcile"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _every_interval(self) -> None:
        while self._is_running():
            await asyncio.sleep(self._interval)
            if self._outage.down:
                continue
            try:
                count = await self.rearm_overdue()
            except StorageConnectionError as exc:
                self._outage.report(exc)
                continue
            except Exception as exc:
                logger.warning("looking for stranded jobs failed: %s", exc)
                continue
            if count:
                logger.info("re-armed %d overdue job(s) that no worker had armed", count)

    async def rearm_overdue(self) -> int:
        """Arm the jobs overdue in the store that nothing here holds; how many."""
        assert self._due_jobs is not None
        coordinator = self._coordinator
        count = 0
        for data in await self._due_jobs.list_due_jobs(utcnow() - OVERDUE):
            if data.unreadable is not None or data.next_run is None:
                continue
            local = self._table.get(data.id)
            if local is not None and local.running:
                continue
            if data.id in self._intake.rechecks:
                continue  # waiting for another process's lease to run out
            if coordinator is not None and coordinator.holds(data.id, data.next_run):
                continue
            entry = self._table.apply(data)
            if entry.wants_to_run:
                await arm(self._trigger, entry)
                count += 1
        return count
