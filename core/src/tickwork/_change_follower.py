"""Following a shared store's job changes where no Coordinator polls it.

Schedulers that share a store through a shared trigger (the NATS trigger) claim
nothing by default, so they have no :class:`~tickwork._coordination.Coordinator`, and
even one made with ``coordinate=True`` does not poll there: their runs re-read each
job, but their job tables (and the job events their subscribers get) would never
learn of a job another process added, changed, paused, resumed or removed. With a
:class:`~tickwork.abc.ChangeSignalingStore` a :class:`ChangeFollower` fills that gap:
the process that stores a change signals it
(:class:`~tickwork._change_push.ChangeAnnouncer`), and every other process's follower,
woken by its :class:`~tickwork._change_push.ChangeListener`, reads the jobs the signal
names and applies what differs from what it saw last (a named job the store no longer
has was removed). Reading only those keeps a change quick at thousands of jobs, where
one read of the whole list takes hundreds of milliseconds. Ids named by signals that
arrive while a read is under way are gathered for the next read.

The whole list is read, and compared with every job seen, when a signal names no jobs
(an older sender, too many ids, a message that could not be read), at start, when the
listener connects again, and every :data:`LISTENING_POLL` seconds (or
``sync_interval``, if longer) while listening, every ``sync_interval`` while not. (The
whole list, even where the store can list recently changed jobs: such a listing
leaves out the jobs that were removed.)

The follower never arms or disarms: the process that made the change has brought the
shared trigger in line already, and arming what was read a moment ago from several
processes could put a stale run time back on the shared schedule.

A signal only wakes a read, so a lost one loses nothing: the full reads above find
what it named.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable

import attrs

from ._change_payload import MOST_IDS
from ._change_push import ChangeAnnouncer, ChangeListener
from ._errors import JobDataNotFoundError, TickworkError
from ._event_bus import EventBus
from ._events import JobAdded, JobChange, JobChanged, JobPaused, JobRemoved, JobResumed
from ._models import JobData, JobStatus
from ._policy import options_from_metadata
from ._task_ref import TaskRef, task_from_metadata
from .abc import BatchClaimingStore, ChangedJobs, ChangeSignalingStore

__all__ = ["LISTENING_POLL", "ChangeFollower", "SeenChange", "what_changed"]

logger = logging.getLogger("tickwork.coordination")

#: Seconds between full reads while signals are heard (at least ``sync_interval``):
#: signals carry the changes, and this read only catches one that was lost on the way.
LISTENING_POLL = 30.0

#: Jobs read at the same time when a signal names several (one ``get_job`` each).
READ_AT_ONCE = 32


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
        # A store that reads many jobs in one call is asked once per signal.
        self._batch = store if isinstance(store, BatchClaimingStore) else None
        self._apply = apply
        self._events = events
        self.sync_interval = sync_interval
        self._announcer = ChangeAnnouncer(store)
        self._listener: ChangeListener | None = None
        self._reader: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._wanted: set[str] | None = set()  # ids to read next; None: read everything
        self._known: dict[str, JobData] = {}  # each job as last seen (or stored here)
        # Jobs this process wrote, by the number of the read under way then: a read
        # that began before the write may list the job as it was, or not at all.
        self._noted: dict[str, int] = {}
        self._reads = 0
        #: How many times the whole job list was read (the rest read named jobs only).
        self.full_reads = 0
        self._reading = False
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
        self._wake = asyncio.Event()
        self.wake(None)  # one full read at start: whatever changed since the load
        self._reader = asyncio.create_task(self._run(), name="tickwork-change-follower")
        self._listener = ChangeListener(self._store, self.wake)
        self._listener.start()

    def wake(self, job_ids: ChangedJobs) -> None:
        """Read ``job_ids`` soon (None: the whole list), together with the ids of
        other wakes that come before the read begins."""
        if self._wanted is not None:  # (None: a full read is due already)
            if job_ids is None or len(self._wanted) + len(job_ids) > MOST_IDS:
                self._wanted = None
            else:
                self._wanted.update(job_ids)
        self._wake.set()

    @property
    def busy(self) -> bool:
        """Whether a read is under way or due (False: all that was heard is applied)."""
        return self._reading or self._wake.is_set()

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

    def announce(self, job_ids: Iterable[str] | None = None) -> None:
        """This process stored a change a user made to ``job_ids`` (None: to jobs it
        does not name): signal the other processes."""
        self._announcer.announce(job_ids)

    def note_saved(self, data: JobData) -> None:
        """This process stored ``data``: its events were published here already."""
        self._known[data.id] = data
        self._noted[data.id] = self._reads

    def note_removed(self, job_id: str) -> None:
        self._known.pop(job_id, None)
        self._noted[job_id] = self._reads

    async def _run(self) -> None:
        while self._following:
            interval = (
                max(self.sync_interval, LISTENING_POLL) if self.listening else self.sync_interval
            )
            try:
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                self._wanted = None  # the regular full read
            self._wake.clear()
            wanted, self._wanted = self._wanted, set()
            self._reading = True
            try:
                await (self.read_once() if wanted is None else self.read_jobs(wanted))
            except Exception:  # a bug applying one change must not end the following
                logger.exception("applying job changes from other processes failed")
            finally:
                self._reading = False

    async def read_once(self) -> list[SeenChange]:
        """One full read; what changed is applied, published and returned."""
        this_read = self._begin_read()
        self.full_reads += 1
        try:
            stored = await self._store.list_jobs()
        except Exception as exc:
            self._read_failed(exc)
            return []
        found = {data.id: data for data in stored}
        return self._settle(found, set(self._known) | set(found), this_read)

    async def read_jobs(self, job_ids: Collection[str]) -> list[SeenChange]:
        """Read just ``job_ids`` (a job the store no longer has was removed); what
        changed is applied, published and returned. A failed read asks for a full
        read next, since a change it would have found must not wait for the poll."""
        this_read = self._begin_read()
        try:
            found = await self._get_each(job_ids)
        except Exception as exc:
            self._read_failed(exc)
            if self._following:
                self.wake(None)
            return []
        return self._settle(found, set(job_ids), this_read)

    async def _get_each(self, job_ids: Collection[str]) -> dict[str, JobData]:
        if self._batch is not None:
            return await self._batch.get_jobs(list(job_ids))
        gate = asyncio.Semaphore(READ_AT_ONCE)

        async def get(job_id: str) -> JobData | None:
            async with gate:
                try:
                    return await self._store.get_job(job_id)
                except JobDataNotFoundError:
                    return None

        read = await asyncio.gather(*(get(job_id) for job_id in job_ids))
        return {data.id: data for data in read if data is not None}

    def _begin_read(self) -> int:
        self._reads += 1
        return self._reads

    def _read_failed(self, exc: Exception) -> None:
        if not self._following:  # stop() is under way
            return
        if not self._failing:
            logger.warning(
                "reading the jobs other processes changed failed (%s: %s); trying "
                "again at the next signal or in %s s",
                type(exc).__name__,
                exc,
                self.sync_interval,
            )
        self._failing = True

    def _settle(
        self, found: dict[str, JobData], looked_at: set[str], this_read: int
    ) -> list[SeenChange]:
        if self._failing:
            logger.info("reading the jobs other processes changed works again")
            self._failing = False
        seen = self._diff(found, looked_at, this_read)
        self._noted = {k: n for k, n in self._noted.items() if n >= this_read}
        if seen:
            self._apply(seen)
            self._publish(seen)
        return seen

    def _diff(
        self, found: dict[str, JobData], looked_at: set[str], this_read: int
    ) -> list[SeenChange]:
        """What differs among ``looked_at`` (jobs read, and for a full read every job
        seen) between what was seen before and ``found`` (what the store has now)."""

        def fresh(job_id: str) -> bool:  # not written here since this read began
            return self._noted.get(job_id, -1) < this_read

        seen: list[SeenChange] = []
        for job_id in sorted(looked_at):
            before, after = self._known.get(job_id), found.get(job_id)
            if before == after or not fresh(job_id):
                continue
            seen.append(SeenChange(job_id, after, what_changed(before, after)))
            if after is None:
                del self._known[job_id]
            else:
                self._known[job_id] = after
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
