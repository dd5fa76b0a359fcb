"""How several scheduler processes share one store: claims, leases and change polling.

Each process arms every job on its own trigger, so every process wakes up for every
due run; the store's atomic claim decides which one runs it. The winner keeps its
claim alive while the handler runs and releases it after saving the job's next run.
A loser asks again when the winner's lease would expire, which is how a run whose
process died is taken over. Jobs that other processes add, change, pause or resume are
picked up by polling the store for recently updated jobs every ``sync_interval``; with
a :class:`~tickwork.abc.ChangeSignalingStore` a signal from the process that made the
change wakes that poll at once (:mod:`tickwork._change_push`).

A store outage longer than the lease lets every claim taken before it run out while
its holder could not write. When the store is back, the holder may notice up to a
probe pause later than another process, so for :data:`TAKEOVER_GRACE` seconds after an
outage a claim whose lease ran out during it still counts as held
(:func:`takeover_cutoff`): its holder writes the run's outcome, instead of another
process running it a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime, timedelta

import attrs

from ._batching import Batcher
from ._change_push import ChangeAnnouncer, ChangeListener
from ._errors import JobDataNotFoundError, StorageConnectionError
from ._membership import Membership
from ._models import FinishOutcome, JobData
from ._timeutil import utcnow
from .abc import BatchClaimingStore, ChangeSignalingStore, ClaimingStore, WorkerRegistryStore

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_SYNC_INTERVAL",
    "TAKEOVER_GRACE",
    "ClaimProtection",
    "Coordinator",
    "takeover_cutoff",
]

logger = logging.getLogger("tickwork.coordination")

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_SYNC_INTERVAL = 1.0

# Updates are looked for this far before the previous poll, so a write that committed
# late, or a small clock difference between processes, is not missed. A job listed again
# unchanged is not handed on again: re-arming a job whose run goes on in another process
# would make this one ask for the claim at once, fail, and wait a whole lease again, so
# every poll would push the takeover of a dead process's run further back.
_OVERLAP = timedelta(seconds=2)

#: How long after a store outage claims that ran out during it still count as held:
#: longer than the outage probe's longest pause plus the time to write the outcomes
#: kept meanwhile, so a live holder always gets there first.
TAKEOVER_GRACE = 10.0

#: An outage is noticed at the first failed call, which may come a little after the
#: store went away; claims that ran out this long before it count as lost in it too.
_NOTICED_LATE = timedelta(seconds=2)


@attrs.frozen
class ClaimProtection:
    """After an outage: claims whose lease ran out after ``since`` (wall clock) count as
    held until ``until`` (this process's monotonic clock)."""

    since: datetime
    until: float


def takeover_cutoff(now: datetime, protection: ClaimProtection | None, clock: float) -> datetime:
    """The time before which another owner's lease must have ended for its claim to be
    taken: ``now``, except just after an outage, when leases that ran out during it
    (after ``protection.since``) are not taken over yet."""
    if protection is None or clock >= protection.until:
        return now
    return min(now, protection.since)


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
        # Set by the scheduler: a connection error is an outage, reported once there.
        self._report_outage: Callable[[StorageConnectionError], None] = lambda _exc: None
        self._outage_down: Callable[[], bool] = lambda: False
        self.lease = lease
        self.sync_interval = sync_interval
        self._poller: asyncio.Task[None] | None = None
        self._polling = False
        self._seen: dict[str, _Version] = {}
        # The run of each job this process is claiming or holds, until it is released.
        self._held: dict[str, datetime] = {}
        self._protection: ClaimProtection | None = None
        # Per job, a lock and how many calls use it: claims and releases of one job
        # reach the store one at a time, in the order they were asked for.
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}
        # With a BatchClaimingStore, claims, releases and re-reads asked for while one
        # is with the store go to it together (one round trip for many runs).
        self._claims: Batcher[tuple[str, datetime], JobData | None] | None = None
        self._releases: Batcher[str, None] | None = None
        self._reads: Batcher[str, JobData | None] | None = None
        # Checked once: isinstance against a runtime protocol costs tens of microseconds.
        self._batch_store: BatchClaimingStore | None = None
        if isinstance(store, BatchClaimingStore):
            self._batch_store = store
            self._claims = Batcher(self._claim_batch)
            self._releases = Batcher(self._release_batch)
            self._reads = Batcher(self._read_batch)
        # Pushed changes: signals sent after user changes, heard to wake the poll.
        self._signals: ChangeSignalingStore | None = None
        if isinstance(store, ChangeSignalingStore) and store.signals_changes:
            self._signals = store
        self._announcer = None if self._signals is None else ChangeAnnouncer(self._signals)
        self._listener: ChangeListener | None = None
        #: Who else shares the store, when it keeps a registry (None: every scheduler
        #: claims every run, as without it).
        registry = store if isinstance(store, WorkerRegistryStore) else None
        self.membership = None if registry is None else Membership(registry, owner, sync_interval)

    def watch_outages(
        self,
        report: Callable[[StorageConnectionError], None],
        down: Callable[[], bool],
    ) -> None:
        """Report connection errors to ``report`` (the scheduler's outage state) instead
        of logging each, and pause the change poll while ``down()``."""
        self._report_outage = report
        self._outage_down = down

    def protect_claims_since(self, began: datetime, grace: float = TAKEOVER_GRACE) -> None:
        """The store is back after an outage that began at ``began``: for ``grace``
        seconds, do not take over claims whose lease ran out since then (their holders
        may still be writing the outcome of a run that ended meanwhile)."""
        self._protection = ClaimProtection(began - _NOTICED_LATE, time.monotonic() + grace)

    def _expiry_cutoff(self, now: datetime) -> datetime:
        clock = time.monotonic()
        if self._protection is not None and clock >= self._protection.until:
            self._protection = None
        return takeover_cutoff(now, self._protection, clock)

    def owns(self, job_id: str) -> bool:
        """Whether this process claims the runs of ``job_id`` as soon as they are due
        (:mod:`~tickwork._membership`); the others claim them after a pause, if still
        undone."""
        return self.membership is None or self.membership.owns(job_id)

    def holds(self, job_id: str, scheduled_at: datetime) -> bool:
        """Whether this process claimed (or is claiming) that run and has not released
        it: the run is going on here, or its outcome is being saved.

        A second delivery of such a run must be dropped. Asking the store would not do:
        it lets an owner claim its own run again, and until the outcome is saved the
        job is still due at ``scheduled_at``.
        """
        return self._held.get(job_id) == scheduled_at

    async def claim(self, job_id: str, scheduled_at: datetime) -> JobData | None:
        """Claim one due run; the job as stored when we own it, else None."""
        previous = self._held.get(job_id)
        self._held[job_id] = scheduled_at  # from now on, other deliveries of it are dropped
        claimed: JobData | None = None
        try:
            async with self._turn(job_id):
                if self._claims is not None:
                    claimed = await self._claims.submit((job_id, scheduled_at))
                else:
                    now = utcnow()
                    claimed = await self.store.claim_job(
                        job_id, scheduled_at, self.owner, now + self.lease, self._expiry_cutoff(now)
                    )
        finally:
            if claimed is None and self._held.get(job_id) == scheduled_at:
                if previous is None:
                    del self._held[job_id]
                else:
                    self._held[job_id] = previous
        return claimed

    async def release(self, job_id: str, scheduled_at: datetime) -> None:
        """Give up the claim on the run of ``job_id`` due at ``scheduled_at`` (after the
        job's next run has been saved).

        Nothing happens when this process no longer holds that run: it was released
        already, or the job's next run has been claimed since. The store keeps one claim
        per job and releases it by owner, so releasing then would drop the newer claim
        while its run goes on, and let another process run that again. For the same
        reason a release and a claim of one job never overlap: the job's next run may
        come due (and be claimed here) while its previous run is being released.
        """
        async with self._turn(job_id):
            if self._held.get(job_id) != scheduled_at:
                return
            del self._held[job_id]
            # A failure is logged: the lease expires by itself, and nothing is lost.
            await self.release_now(job_id, self.owner)

    async def settle(
        self,
        job_id: str,
        scheduled_at: datetime,
        write: Callable[[str | None], Awaitable[FinishOutcome]],
    ) -> FinishOutcome:
        """Finish the run of ``job_id`` due at ``scheduled_at`` with ``write(owner)``,
        which writes the run's outcome and, when ``owner`` is given, drops that owner's
        claim in the same store call.

        ``owner`` is None when this process no longer holds that run (see
        :meth:`release`). The claim counts as released unless the write lost to a
        change stored meanwhile (``CHANGED``): the run is then not over, and the claim
        is kept for the next try.
        """
        async with self._turn(job_id):
            holds = self._held.get(job_id) == scheduled_at
            outcome = await write(self.owner if holds else None)
            if holds and outcome is not FinishOutcome.CHANGED:
                del self._held[job_id]
            return outcome

    async def release_now(self, job_id: str, owner: str) -> None:
        """Drop ``owner``'s claim on ``job_id`` in the store (the caller holds the
        job's turn); a failure is logged: the lease expires by itself."""
        try:
            if self._releases is not None:
                await self._releases.submit(job_id)
            else:
                await self.store.release_claim(job_id, owner)
        except Exception as exc:
            logger.warning("job %r: releasing its claim failed: %s", job_id, exc)

    async def read(self, job_id: str) -> JobData:
        """The job as stored now (re-read after a run: another process may have
        changed it meanwhile).

        :raises JobDataNotFoundError: the job is gone.
        """
        if self._reads is None:
            return await self.store.get_job(job_id)
        found = await self._reads.submit(job_id)
        if found is None:
            raise JobDataNotFoundError(job_id)
        return found

    async def _claim_batch(self, runs: list[tuple[str, datetime]]) -> list[JobData | None]:
        assert self._batch_store is not None
        now = utcnow()
        claimed = await self._batch_store.claim_jobs(
            runs, self.owner, now + self.lease, self._expiry_cutoff(now)
        )
        return [claimed.get(job_id) for job_id, _ in runs]

    async def _release_batch(self, job_ids: list[str]) -> list[None]:
        assert self._batch_store is not None
        await self._batch_store.release_claims(job_ids, self.owner)
        return [None] * len(job_ids)

    async def _read_batch(self, job_ids: list[str]) -> list[JobData | None]:
        assert self._batch_store is not None
        found = await self._batch_store.get_jobs(list(dict.fromkeys(job_ids)))
        return [found.get(job_id) for job_id in job_ids]

    @contextlib.asynccontextmanager
    async def _turn(self, job_id: str) -> AsyncIterator[None]:
        """Wait until no other claim or release of ``job_id`` is with the store."""
        lock, users = self._turns.get(job_id) or (asyncio.Lock(), 0)
        self._turns[job_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[job_id]
            if users == 1:
                del self._turns[job_id]
            else:
                self._turns[job_id] = (lock, users - 1)

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
            except StorageConnectionError as exc:
                self._report_outage(exc)
                continue
            except Exception as exc:
                logger.warning("job %r: renewing its claim failed: %s", job_id, exc)
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
        """Poll for changed jobs every ``sync_interval``, and at once when another
        process signals a change, and hand them to ``apply``."""
        if self._poller is None:
            self._polling = True
            wake = asyncio.Event()  # set: poll now (made on the loop that polls)
            self._poller = asyncio.create_task(self._poll(apply, wake), name="tickwork-sync")
            if self._signals is not None:
                # The poll reads every job changed since its last poll, which is
                # cheap: the ids a signal names are not needed here.
                self._listener = ChangeListener(self._signals, lambda _ids: wake.set())
                self._listener.start()

    @property
    def listening(self) -> bool:
        """Whether changes signalled by other processes wake this one's poll now."""
        return self._listener is not None and self._listener.listening

    def announce_change(self, job_ids: Iterable[str] | None = None) -> None:
        """This process stored a change a user made (a job added, changed, paused,
        resumed or removed): tell the other processes, when the store can push
        (``job_ids``: the jobs it touched; None: "everything")."""
        if self._announcer is not None:
            self._announcer.announce(job_ids)

    async def stop_polling(self) -> None:
        # The flag ends the loop even if a store turns the cancel into an error of its
        # own (a client library reporting a cancelled request as a timeout), which the
        # loop would log and survive.
        self._polling = False
        poller, self._poller = self._poller, None
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        if self._announcer is not None:
            await self._announcer.drain()  # before the scheduler closes the store

    def note_saved(self, job: JobData) -> None:
        """This process stored ``job``: the poll need not hand that version back.

        Every run saves its job, so without this each poll would list (and re-apply and
        re-arm) every job this process ran within the overlap window: on a busy
        scheduler, nearly all of them, every ``sync_interval``.
        """
        if self._poller is not None:
            self._seen[job.id] = _version(job)

    async def _poll(
        self, apply: Callable[[list[JobData]], Awaitable[None]], wake: asyncio.Event
    ) -> None:
        since = utcnow() - _OVERLAP
        seen: dict[str, _Version] = {}  # what the last polls handed on (or we saved)
        self._seen = seen
        while self._polling:
            await self._next_poll(wake)
            started = utcnow()
            if self._outage_down():
                continue  # the outage's end re-reads every job
            try:
                if self.membership is not None:
                    await self.membership.beat()
                changed = await self.store.list_jobs_changed_since(since)
                fresh = [job for job in changed if seen.get(job.id) != _version(job)]
                if fresh:
                    await apply(fresh)
            except StorageConnectionError as exc:
                if self._poller is None:  # stop_polling() is under way
                    return
                self._report_outage(exc)
                continue
            except Exception:
                if self._poller is None:  # stop_polling() is under way
                    return
                logger.warning("polling the store for changed jobs failed", exc_info=True)
                continue
            since = started - _OVERLAP
            seen.update((job.id, _version(job)) for job in fresh)
            # What the next poll cannot list any more need not be remembered.
            self._seen = seen = {job_id: v for job_id, v in seen.items() if v[0] >= since}

    async def join(self) -> None:
        """The first heartbeat, at the very start of a start: the other schedulers learn
        of this one (and it of them) before it loads and arms its jobs, not a poll later."""
        if self.membership is None:
            return
        try:
            await self.membership.beat()
        except StorageConnectionError as exc:
            self._report_outage(exc)
        except Exception:
            logger.warning("the first heartbeat into the store failed", exc_info=True)

    async def _next_poll(self, wake: asyncio.Event) -> None:
        """Wait ``sync_interval``, or less when a signal wakes the poll. Signals that
        come while a poll is under way make one more poll right after it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.sync_interval):
                await wake.wait()
        wake.clear()


# What identifies a stored state of a job: some writes move next_run or the status
# without a new updated_at.
_Version = tuple[datetime, datetime | None, str]


def _version(job: JobData) -> _Version:
    return (job.updated_at, job.next_run, job.status)
