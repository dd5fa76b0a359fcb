"""Assembling a scheduler: every part built from the constructor's arguments and
connected to the others.

:class:`~tickwork.AsyncScheduler` holds the public API and delegates; this module is
the one place that says which part is given which other part, so that a reader can see
the whole graph at once (store, trigger and codec resolved in :mod:`~tickwork._wiring`;
the run path in :mod:`~tickwork._run_path`; jobs changed through
:mod:`~tickwork._job_editor`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from ._change_follower import ChangeFollower
from ._coordination import Coordinator
from ._errors import HandlerNotDefinedError
from ._event_bus import EventBus
from ._instrument_set import InstrumentSet, resolve_instruments
from ._job import JobEvent
from ._job_editor import JobEditor
from ._job_table import JobTable
from ._late import Late
from ._plugins import create_executor
from ._run_path import RunPath, build_run_path
from ._scheduler_state import SchedulerState
from ._startup import ChangesWhileStopped, StartUp
from ._store_gateway import StoreCapabilities, StoreGateway
from ._task_runner import TaskRunner
from ._tasks import TaskRegistry
from ._thread_adds import ThreadAdds
from ._wiring import (
    check_max_workers,
    default_worker_id,
    make_change_follower,
    make_coordinator,
    resolve_codec,
    resolve_store,
    resolve_trigger,
)
from .abc import Instrument, ScheduleCodec, Store, TaskExecutor, Trigger

__all__ = ["BasicParts", "SchedulerParts", "assemble"]


@attrs.define(kw_only=True)
class BasicParts:
    """The parts made straight from the constructor's arguments, before they are
    connected to each other."""

    store: Store
    trigger: Trigger
    codec: ScheduleCodec
    handler: Callable[..., Any] | None
    max_workers: int
    worker_id: str
    coordinator: Coordinator | None
    gateway: StoreGateway
    tasks: TaskRegistry
    events: EventBus
    instruments: InstrumentSet | None
    table: JobTable


@attrs.define(kw_only=True)
class SchedulerParts(BasicParts):
    """The parts of one scheduler, connected (built by :func:`assemble`)."""

    stopped_changes: ChangesWhileStopped
    startup: StartUp
    path: RunPath
    follower: ChangeFollower | None
    editor: JobEditor
    thread_adds: ThreadAdds


def assemble(
    state: SchedulerState,
    *,
    store: Store | str | None,
    handler: Any,
    codec: ScheduleCodec | None,
    trigger: Trigger | str,
    store_options: Mapping[str, Any] | None,
    trigger_options: Mapping[str, Any] | None,
    max_workers: int,
    worker_id: str | None,
    coordinate: bool | None,
    claim_lease: timedelta,
    sync_interval: float,
    tasks: TaskRegistry | None,
    instruments: Iterable[Instrument | str] | None,
) -> SchedulerParts:
    """Check the arguments, resolve names and URLs, and connect the parts."""
    instrument_set = resolve_instruments(instruments)
    the_store = resolve_store(store, store_options)
    the_trigger = resolve_trigger(trigger, trigger_options)
    the_codec = resolve_codec(codec)
    if handler is not None and not callable(handler):
        raise TypeError(f"handler must be callable, got {handler!r}")
    workers = check_max_workers(max_workers)
    worker = worker_id or default_worker_id()
    coordinator = make_coordinator(
        the_store, the_trigger, coordinate, worker, claim_lease, sync_interval
    )
    shared = the_trigger.shared or coordinator is not None
    gateway = StoreGateway(the_store, StoreCapabilities.of(the_store, shared=shared))
    registry = tasks if tasks is not None else TaskRegistry()
    events = EventBus(worker)
    parts = BasicParts(
        store=the_store,
        trigger=the_trigger,
        codec=the_codec,
        handler=handler,
        max_workers=workers,
        worker_id=worker,
        coordinator=coordinator,
        gateway=gateway,
        tasks=registry,
        events=events,
        instruments=instrument_set,
        table=JobTable(the_codec, registry, events, the_store),
    )
    return _connect(state, parts, sync_interval)


def _connect(state: SchedulerState, b: BasicParts, sync_interval: float) -> SchedulerParts:
    """Build the run path, the job editor and the thread adds over the basic parts."""
    table, editor, adds = b.table, Late[JobEditor](), Late[ThreadAdds]()
    path = build_run_path(
        store=b.store,
        gateway=b.gateway,
        table=table,
        trigger=b.trigger,
        coordinator=b.coordinator,
        handler=b.handler or _no_handler,
        tasks=TaskRunner(b.tasks, b.worker_id, _executor_factory(b.max_workers)),
        read_job=lambda job_id: editor.get().refresh(job_id),
        spawn=state.spawn,
        is_running=state.is_running,
        sync_interval=sync_interval,
        events=b.events,
        instruments=b.instruments,
    )
    follower = make_change_follower(
        b.store, b.trigger, sync_interval, lambda seen: editor.get().follow(seen), b.events
    )
    stopped_changes = ChangesWhileStopped()
    editor.value = JobEditor(
        table=table,
        gateway=b.gateway,
        codec=b.codec,
        trigger=b.trigger,
        coordinator=b.coordinator,
        intake=path.intake,
        stopped_changes=stopped_changes,
        is_running=state.is_running,
        reserved=lambda job_id: adds.get().taken(job_id),
        tick_log=path.tick_log,
        events=b.events,
        follower=follower,
    )
    adds.value = ThreadAdds(
        table, editor.value.add_many, editor.value.new_job, _loop_for_threads(state, b.gateway)
    )
    return SchedulerParts(
        **attrs.asdict(b, recurse=False),
        stopped_changes=stopped_changes,
        startup=StartUp(table, b.gateway, b.trigger),
        path=path,
        follower=follower,
        editor=editor.value,
        thread_adds=adds.value,
    )


def _executor_factory(max_workers: int) -> Callable[[str], TaskExecutor]:
    def make_executor(name: str) -> TaskExecutor:
        # Plain-function tasks get as many threads as plain-function handlers.
        if name == "thread":
            return create_executor(name, max_workers=max_workers)
        return create_executor(name)

    return make_executor


def _loop_for_threads(
    state: SchedulerState, gateway: StoreGateway
) -> Callable[[], asyncio.AbstractEventLoop | None]:
    # Adds from other threads skip the loop only on a store in this process.
    return lambda: state.loop if state.running and gateway.caps.local else None


def _no_handler(event: JobEvent) -> None:
    raise HandlerNotDefinedError(
        f"job {event.id!r} has no task and the scheduler has no handler: give the job a "
        "task (update_job_task) or the scheduler a handler"
    )
