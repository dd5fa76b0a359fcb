"""Following a shared store's job changes where no Coordinator polls it.

Schedulers that share a store through a shared trigger (the NATS trigger) claim
nothing by default, so they have no :class:`~tickwork._coordination.Coordinator`, and
even one made with ``coordinate=True`` does not poll there: their runs re-read each
job, but their job tables (and the job events their subscribers get) would never
learn of a job another process added, changed, paused, resumed or removed. With a
:class:`~tickwork.abc.ChangeSignalingStore` a :class:`ChangeFollower` fills that gap:
the process that stores a change signals it
(:class:`~tickwork._change_push.ChangeAnnouncer`), and every other process's follower,
woken by its :class:`~tickwork._change_push.ChangeListener`, reads the whole job list
and applies what differs from what it saw last, removals included. (The whole list,
even where the store can list recently changed jobs: such a listing leaves out the
jobs that were removed.)

The follower never arms or disarms: the process that made the change has brought the
shared trigger in line already, and arming what was read a moment ago from several
processes could put a stale run time back on the shared schedule.

A signal only wakes a read, so a lost one loses nothing: reads also come every
:data:`LISTENING_POLL` seconds (or ``sync_interval``, if longer) while listening, every
``sync_interval`` while not, and at once when the listener connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import attrs

from ._change_push import ChangeAnnouncer, ChangeListener
from ._errors import TickworkError
from ._event_bus import EventBus
from ._events import JobAdded, JobChange, JobChanged, JobPaused, JobRemoved, JobResumed
from ._models import JobData, JobStatus
from ._policy import options_from_metadata
from ._task_ref import TaskRef, task_from_metadata
from .abc import ChangeSignalingStore

__all__ = ["LISTENING_POLL", "ChangeFollower", "SeenChange", "what_changed"]

logger = logging.getLogger("tickwork.coordination")

#: Seconds between full reads while signals are heard (at least ``sync_interval``):
#: signals carry the changes, and this read only catches one that was lost on the way.
LISTENING_POLL = 30.0


@attrs.frozen
class SeenChange:
    """One job as another process left it: ``data`` None when it was removed."""

    job_id: str
    data: JobData | None
    said: tuple[tuple[type[JobChange], str], ...]


def what_changed(
    before: JobData | None, after: JobData | None
) -> tuple[tuple[type[JobChange], str], ...]:
    """The job events a change from ``before`` to ``after`` stands for, with the
    ``what`` of a JobChanged (a run moving next_run or status stands for none)."""
    if before is None:
        return () if after is None else ((JobAdded, ""),)
    if after is None:
        return ((JobRemoved, ""),)
    said: list[tuple[type[JobChange], str]] = []
    paused_before = before.status == JobStatus.DISABLED
    if (after.status == JobStatus.DISABLED) != paused_before:
        said.append((JobResumed, "") if paused_before else (JobPaused, ""))
    if (before.schedule_type, before.schedule_config) != (
        after.schedule_type,
        after.schedule_config,
    ):
        said.append((JobChanged, "schedule"))
    if before.metadata != after.metadata:
        if _read(task_from_metadata, before) != _read(task_from_metadata, after):
            said.append((JobChanged, "task"))
        elif _read(options_from_metadata, before) != _read(options_from_metadata, after):
            said.append((JobChanged, "options"))
    return tuple(said)


def _read(part: Callable[[dict[str, str]], object], data: JobData) -> object:
    try:
        return part(dict(data.metadata))
    except TickworkError:
        return None  # unreadable on both sides compares equal: no event for it


def _task_name(change: SeenChange) -> str | None:
    task = None if change.data is None else _read(task_from_metadata, change.data)
    return task.name if isinstance(task, TaskRef) else None


class ChangeFollower:
    """Reads the shared store when woken and hands what other processes changed to
    ``apply`` (which updates the job table); publishes the job events for it."""

    def __init__(
        self,
        store: ChangeSignalingStore,
        apply: Callable[[list[SeenChange]], None],
        events: EventBus,
        sync_interval: float,
    ) -> None:
        if sync_interval <= 0:
            raise ValueError(f"sync_interval must be positive, got {sync_interval!r}")
        self._store = store
        self._apply = apply
        self._events = events
        self.sync_interval = sync_interval
        self._announcer = ChangeAnnouncer(store)
        self._listener: ChangeListener | None = None
        self._reader: asyncio.Task[None] | None = None
        self._known: dict[str, JobData] = {}  # each job as last seen (or stored here)
        # Jobs this process wrote, by the number of the read under way then: a read
        # that began before the write may list the job as it was, or not at all.
        self._noted: dict[str, int] = {}
        self._reads = 0
        self._failing = False
        # Ends the read loop even when a store turns the cancel into an error of its
        # own (nats-py reports a cancelled request as a timeout), which a read survives.
        self._following = False

    def start(self, known: list[JobData]) -> None:
        """Follow from the jobs loaded at start (reads at once, then when woken)."""
        if self._reader is not None:
            return
        self._known = {data.id: data for data in known}
        self._following = True
        wake = asyncio.Event()
        wake.set()  # one full read at start: whatever changed since the load
        self._reader = asyncio.create_task(self._run(wake), name="tickwork-change-follower")
        self._listener = ChangeListener(self._store, wake.set)
        self._listener.start()

    @property
    def listening(self) -> bool:
        """Whether other processes' signals wake this follower now."""
        return self._listener is not None and self._listener.listening

    async def stop(self) -> None:
        self._following = False
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self._announcer.drain()  # before the scheduler closes the store

    def announce(self) -> None:
        """This process stored a change a user made: signal the other processes."""
        self._announcer.announce()

    def note_saved(self, data: JobData) -> None:
        """This process stored ``data``: its events were published here already."""
        self._known[data.id] = data
        self._noted[data.id] = self._reads

    def note_removed(self, job_id: str) -> None:
        self._known.pop(job_id, None)
        self._noted[job_id] = self._reads

    async def _run(self, wake: asyncio.Event) -> None:
        while self._following:
            interval = (
                max(self.sync_interval, LISTENING_POLL) if self.listening else self.sync_interval
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await wake.wait()
            wake.clear()
            try:
                await self.read_once()
            except Exception:  # a bug applying one change must not end the following
                logger.exception("applying job changes from other processes failed")

    async def read_once(self) -> list[SeenChange]:
        """One full read; what changed is applied, published and returned."""
        self._reads += 1
        this_read = self._reads
        try:
            stored = await self._store.list_jobs()
        except Exception as exc:
            if not self._following:  # stop() is under way
                return []
            if not self._failing:
                logger.warning(
                    "reading the jobs other processes changed failed (%s: %s); trying "
                    "again at the next signal or in %s s",
                    type(exc).__name__,
                    exc,
                    self.sync_interval,
                )
            self._failing = True
            return []
        if self._failing:
            logger.info("reading the jobs other processes changed works again")
            self._failing = False
        seen = self._diff(stored, this_read)
        self._noted = {k: n for k, n in self._noted.items() if n >= this_read}
        if seen:
            self._apply(seen)
            self._publish(seen)
        return seen

    def _diff(self, stored: list[JobData], this_read: int) -> list[SeenChange]:
        def fresh(job_id: str) -> bool:  # not written here since this read began
            return self._noted.get(job_id, -1) < this_read

        seen: list[SeenChange] = []
        found = {data.id: data for data in stored}
        for job_id, data in found.items():
            before = self._known.get(job_id)
            if before != data and fresh(job_id):
                seen.append(SeenChange(job_id, data, what_changed(before, data)))
                self._known[job_id] = data
        for job_id in [k for k in self._known if k not in found and fresh(k)]:
            seen.append(SeenChange(job_id, None, what_changed(self._known.pop(job_id), None)))
        return seen

    def _publish(self, seen: list[SeenChange]) -> None:
        if not self._events.active:
            return
        for change in seen:
            for kind, what in change.said:
                if kind is JobAdded:
                    self._events.publish(JobAdded, job_id=change.job_id, task=_task_name(change))
                elif kind is JobChanged:
                    self._events.publish(JobChanged, job_id=change.job_id, what=what)
                else:
                    self._events.publish(kind, job_id=change.job_id)
