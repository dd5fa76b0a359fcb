"""The parts a due run goes through, built and connected in one place.

A delivery from the trigger enters the :class:`~tickwork._delivery_intake.DeliveryIntake`
(claims, stale runs), goes through the :class:`~tickwork._run_flow.RunFlow` (policy,
run, one-write finish) and the :class:`~tickwork._run_executor.RunExecutor` (the
handler or the job's task); the :class:`~tickwork._store_outage.StoreOutage` and the
:class:`~tickwork._reconciler.Reconciler` get it through a store that goes away.
:func:`build_run_path` connects them, so the scheduler holds them without knowing how.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ._coordination import Coordinator
from ._delivery_intake import DeliveryIntake
from ._entry import JobEntry
from ._event_bus import EventBus
from ._instrument_set import InstrumentSet
from ._invoke import HandlerThreads
from ._job_table import JobTable
from ._jobs_view import JobsView
from ._late import Late
from ._reconciler import DEFAULT_RECONCILE_INTERVAL, Reconciler
from ._run_executor import RunExecutor
from ._run_flow import RunFlow
from ._run_reports import RunReports
from ._shutdown import Shutdown
from ._store_gateway import StoreGateway
from ._store_outage import StoreOutage
from ._task_runner import TaskRunner
from ._tick_log import TickLog
from .abc import Store, Trigger

__all__ = ["RunPath", "build_run_path"]


@attrs.frozen
class RunPath:
    """The run path's parts, connected; opened at each start, closed at each stop."""

    tick_log: TickLog
    executor: RunExecutor
    outage: StoreOutage
    flow: RunFlow
    intake: DeliveryIntake
    reconciler: Reconciler
    tasks: TaskRunner
    #: The scheduler's instruments, None when it was given none.
    instruments: InstrumentSet | None = None
    #: What the instruments see of the jobs (counts by status).
    jobs: JobsView | None = None

    def open(self, max_workers: int, loop: asyncio.AbstractEventLoop) -> None:
        """Ready for runs (a start): threads for plain-function handlers, no outage,
        the instruments told."""
        self.outage.reopen()
        self.executor.threads = HandlerThreads(max_workers, loop)
        if self.instruments is not None and self.jobs is not None:
            self.instruments.open(self.jobs)

    def drop_threads(self, *, cancel_futures: bool = False) -> None:
        """End what :meth:`open` began (a stop, or a start that failed): the handler
        threads, and the instruments' opening (told to close)."""
        threads, self.executor.threads = self.executor.threads, None
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=cancel_futures)
            if self.instruments is not None:
                self.instruments.close()

    async def stop_intake(self) -> None:
        """No more deliveries are taken: no reconciling, no rechecks of claims."""
        await self.reconciler.stop()
        self.intake.cancel_all()

    async def close(self, shutdown: Shutdown, runs: set[asyncio.Task[None]]) -> None:
        """Wait for the runs under way as ``shutdown`` says, then end the threads, the
        task executors and the outage's probe (logging outcomes it could not write)."""
        await shutdown.wait_for_runs(runs, self.executor, self.outage)
        self.drop_threads(cancel_futures=True)
        await self.tasks.aclose(wait=False)
        await self.outage.close()
        self.outage.report_losses()


def build_run_path(
    *,
    store: Store,
    gateway: StoreGateway,
    table: JobTable,
    trigger: Trigger,
    coordinator: Coordinator | None,
    handler: Callable[..., Any],
    tasks: TaskRunner,
    read_job: Callable[[str], Awaitable[JobEntry]],
    spawn: Callable[[Awaitable[None]], object],
    is_running: Callable[[], bool],
    sync_interval: float,
    events: EventBus,
    instruments: InstrumentSet | None = None,
) -> RunPath:
    """Build the run path of one scheduler (``worker_id`` is ``tasks``' worker);
    ``instruments`` are connected to the executor, the claims and the store gateway."""
    worker_id = tasks.worker_id
    tick_log = TickLog(worker_id, gateway.save_records, events)
    executor = RunExecutor(handler, worker_id, gateway.save_records, tasks, RunReports(events))
    outage, reconciler = _watch_outages(store, coordinator, events)
    flow = RunFlow(
        table=table,
        gateway=gateway,
        executor=executor,
        tick_log=tick_log,
        trigger=trigger,
        coordinator=coordinator,
        outage=outage,
        read_job=read_job,
        is_running=is_running,
    )
    intake = DeliveryIntake(
        table=table,
        flow=flow,
        trigger=trigger,
        coordinator=coordinator,
        outage=outage,
        read_job=read_job,
        spawn=spawn,
        is_running=is_running,
        events=events,
    )
    reconciler.value = _reconciler(
        store, gateway, table, trigger, intake, coordinator, outage, is_running, sync_interval
    )
    jobs = _connect(instruments, executor, intake, gateway, table, worker_id)
    parts = (tick_log, executor, outage, flow, intake, reconciler.value, tasks)
    return RunPath(*parts, instruments, jobs)


def _watch_outages(
    store: Store, coordinator: Coordinator | None, events: EventBus
) -> tuple[StoreOutage, Late[Reconciler]]:
    """The store-outage watcher, which re-arms every job through the reconciler (built
    after it, hence :class:`Late`) when the store is back, and tells the coordinator."""
    reconciler: Late[Reconciler] = Late()
    protect = coordinator.protect_claims_since if coordinator else None
    outage = StoreOutage(
        store, lambda: reconciler.get().rearm_all(), on_back=protect, events=events
    )
    if coordinator is not None:
        coordinator.watch_outages(outage.report, lambda: outage.down)
    return outage, reconciler


def _reconciler(
    store: Store,
    gateway: StoreGateway,
    table: JobTable,
    trigger: Trigger,
    intake: DeliveryIntake,
    coordinator: Coordinator | None,
    outage: StoreOutage,
    is_running: Callable[[], bool],
    sync_interval: float,
) -> Reconciler:
    return Reconciler(
        store=store,
        due_jobs=gateway.caps.due_jobs,
        table=table,
        trigger=trigger,
        intake=intake,
        coordinator=coordinator,
        outage=outage,
        is_running=is_running,
        interval=max(DEFAULT_RECONCILE_INTERVAL, 5 * sync_interval),
    )


def _connect(
    instruments: InstrumentSet | None,
    executor: RunExecutor,
    intake: DeliveryIntake,
    gateway: StoreGateway,
    table: JobTable,
    worker_id: str,
) -> JobsView | None:
    """Hand ``instruments`` to the parts that report to them; the jobs view they read
    gauges from (None without instruments: the run path then pays nothing for them)."""
    if instruments is None:
        return None
    executor.instruments = intake.instruments = gateway.instruments = instruments
    return JobsView(worker_id, lambda: table.entries.values())
