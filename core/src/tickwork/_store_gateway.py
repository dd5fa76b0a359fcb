"""The scheduler's one way into its store: capabilities worked out once, writes batched,
and the only write-if-unchanged loop.

A store declares optional capabilities (:mod:`tickwork.abc`); which ones it has decides
how a run's after-effects reach it. Asking ``isinstance`` against a runtime protocol
costs tens of microseconds, so it is asked once, into :class:`StoreCapabilities`, and
every path below reads that value. Whatever the store can do, the scheduler sees the
same two operations: :meth:`StoreGateway.finish` (everything a run leaves) and
:meth:`StoreGateway.write_on_condition` (a change that must not undo another process's
write).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

import attrs

from ._batching import Batcher
from ._errors import JobDataNotFoundError, StorageOperationError
from ._group_commit import RunWrites, conditional_writes, drain_writes, run_writes
from ._instrument_set import InstrumentSet
from ._models import ExecutionRecord, FinishOutcome, JobData, QueryOptions, RunFinish
from .abc import (
    BulkStore,
    ClaimingStore,
    ConditionalUpdateStore,
    DueJobsStore,
    FinishingStore,
    InProcessStore,
    LastRecordStore,
    Store,
)

__all__ = ["CHANGE_ATTEMPTS", "StoreCapabilities", "StoreGateway"]

logger = logging.getLogger("tickwork.scheduler")

#: How often a change is read and made again when other processes keep writing the job.
CHANGE_ATTEMPTS = 5

_T = TypeVar("_T")

Release = Callable[[str, str], Awaitable[None]]
"""Drop ``owner``'s claim on ``job_id``: ``release(job_id, owner)``."""


@attrs.frozen
class StoreCapabilities:
    """What the store can do beyond :class:`~tickwork.abc.Store`, asked once.

    Each field is the store itself when it has the capability (typed as it), else
    None. ``shared``: other processes may write the same jobs, so changes are written
    on condition and runs are finished on the version they were claimed at.
    """

    shared: bool
    bulk: BulkStore | None
    due_jobs: DueJobsStore | None
    conditional: ConditionalUpdateStore | None
    finishing: FinishingStore | None
    claiming: ClaimingStore | None
    last_record: LastRecordStore | None = None
    #: The in-memory job table is the truth and writes cannot fail for I/O: a store in
    #: this process that no other process shares.
    local: bool = False

    @classmethod
    def of(cls, store: Store, *, shared: bool) -> StoreCapabilities:
        return cls(
            shared=shared,
            bulk=store if isinstance(store, BulkStore) else None,
            due_jobs=store if isinstance(store, DueJobsStore) else None,
            conditional=(store if shared and isinstance(store, ConditionalUpdateStore) else None),
            finishing=store if isinstance(store, FinishingStore) else None,
            claiming=store if isinstance(store, ClaimingStore) else None,
            last_record=store if isinstance(store, LastRecordStore) else None,
            local=not shared and isinstance(store, InProcessStore) and store.in_process,
        )


class StoreGateway:
    """Reads and writes of the scheduler's store, through its capabilities."""

    def __init__(self, store: Store, capabilities: StoreCapabilities) -> None:
        self.store = store
        self.caps = capabilities
        # Stores without finish_runs: records and job writes batched (group commit)
        # when the store can, claims released by the caller's function.
        self._writes: RunWrites = run_writes(store)
        self._conditional_writes = conditional_writes(self._writes) if capabilities.shared else None
        self._finishes: Batcher[RunFinish, FinishOutcome] | None = None
        # A store in this process answers without a round trip: batching its finishes
        # would only add a future and a loop wake-up to every run.
        self._direct: FinishingStore | None = None
        if capabilities.finishing is not None and capabilities.local:
            self._direct = capabilities.finishing
        elif capabilities.finishing is not None:
            self._finishes = Batcher(self._finish_batch)
        #: Told how long each finish and record save took (None: nothing is timed).
        self.instruments: InstrumentSet | None = None

    @property
    def one_round_trip(self) -> bool:
        """Whether a run's finish is one store call (the store has ``finish_runs``)."""
        return self._finishes is not None or self._direct is not None

    async def finish(self, finish: RunFinish, release: Release | None = None) -> FinishOutcome:
        """Write what a run leaves: records, the job (on condition of ``finish.seen``)
        and the release of the claim; batched with other finishes.

        A store without :class:`~tickwork.abc.FinishingStore` gets the same effects as
        separate (group-committed) writes, and ``release`` for the claim.
        """
        if self.instruments is not None:
            return await self.instruments.timed("finish", self._finish(finish, release))
        if self._direct is not None:  # the usual cases, without a coroutine of their own
            return (await self._direct.finish_runs((finish,)))[0]
        if self._finishes is not None:
            return await self._finishes.submit(finish)
        return await self._finish(finish, release)

    async def _finish(self, finish: RunFinish, release: Release | None) -> FinishOutcome:
        if self._direct is not None:
            return (await self._direct.finish_runs((finish,)))[0]
        if self._finishes is not None:
            return await self._finishes.submit(finish)
        for record in finish.records:
            await self._writes.save_execution(record)
        outcome = FinishOutcome.STORED
        job = finish.job
        if job is not None:
            try:
                if finish.seen is not None and self._conditional_writes is not None:
                    if not await self._conditional_writes.update_job_if(job, finish.seen):
                        return FinishOutcome.CHANGED
                else:
                    await self._writes.update_job(job)
            except JobDataNotFoundError:
                outcome = FinishOutcome.MISSING
        if finish.release_owner is not None and release is not None:
            job_id = job.id if job is not None else finish.records[0].job_id
            await release(job_id, finish.release_owner)
        return outcome

    async def _finish_batch(self, finishes: list[RunFinish]) -> list[FinishOutcome]:
        assert self.caps.finishing is not None
        return await self.caps.finishing.finish_runs(finishes)

    async def save_records(self, records: Sequence[ExecutionRecord]) -> None:
        """Save execution records (tick-log records, a retried run's earlier attempts)
        in the same batches as runs' finishes."""
        if self.instruments is not None:
            await self.instruments.timed("save_records", self._save_records(records))
        elif self._direct is not None:
            await self._direct.finish_runs((RunFinish(records=tuple(records)),))
        elif self._finishes is not None:
            await self._finishes.submit(RunFinish(records=tuple(records)))
        else:
            await self._save_records(records)

    async def _save_records(self, records: Sequence[ExecutionRecord]) -> None:
        if self._direct is not None:
            await self._direct.finish_runs((RunFinish(records=tuple(records)),))
            return
        if self._finishes is not None:
            await self._finishes.submit(RunFinish(records=tuple(records)))
            return
        for record in records:
            await self._writes.save_execution(record)

    async def update_if_unchanged(self, data: JobData, seen: datetime) -> bool:
        """Write ``data`` over the stored job if nobody wrote it since ``seen``.

        Only a shared store can be written behind our back; without the capability
        the write is unconditional (and a concurrent write can be undone).
        """
        if self.caps.conditional is not None:
            return await self.caps.conditional.update_job_if(data, seen)
        await self.store.update_job(data)
        return True

    async def write_on_condition(
        self,
        read: Callable[[], Awaitable[_T]],
        version: Callable[[_T], datetime],
        make: Callable[[_T], JobData | None],
        what: str,
    ) -> _T:
        """Write ``make(job)`` over the job just read by ``read()``, on condition that
        nobody wrote it since; after a conflict, read it again and make it again.

        The one retry loop for changes on a shared store (a pause, new options, a job
        added before start, changes made while stopped). ``make`` returns None when
        there is nothing to write. Returns the job as last read (and made).

        :raises JobDataNotFoundError: the job was removed meanwhile.
        :raises StorageOperationError: other processes wrote the job every time
            (``what`` names what could not be saved).
        """
        for attempt in range(CHANGE_ATTEMPTS):
            current = await read()
            seen = version(current)  # before make(), which may change it in place
            data = make(current)
            if data is None or await self.update_if_unchanged(data, seen):
                return current
            logger.debug("%s: written by another process meanwhile (try %d)", what, attempt + 1)
        raise StorageOperationError(
            f"could not save {what}: other processes wrote it {CHANGE_ATTEMPTS} times "
            "in a row while it was being saved; nothing was changed"
        )

    async def last_completion(self, job_id: str) -> datetime | None:
        """When the job last finished (its newest record's end), for a job loaded from
        the store; None when it never ran or the read failed (a run does not need it).

        A :class:`~tickwork.abc.LastRecordStore` answers from its last saved record;
        any other store is asked for the record that ended last."""
        last_record = self.caps.last_record
        try:
            if last_record is not None:
                record = await last_record.last_saved_execution(job_id)
                return None if record is None else record.end_time
            records = await self.store.list_executions(
                job_id, QueryOptions(limit=1, sort_by="end_time", sort_desc=True)
            )
        except Exception:
            logger.debug("job %r: could not read its last completion", job_id, exc_info=True)
            return None
        return records[0].end_time if records else None

    async def drain(self) -> None:
        """Return once every queued write is stored (or has failed)."""
        if self._finishes is not None:
            await self._finishes.drain()
        await drain_writes(self._writes)
