"""Which schedulers share the store now, and which of them owns each job's runs.

Every scheduler sharing a store arms every job, so every one of them wakes for every
due run. Letting all of them claim it makes each run cost one claim per scheduler, all
but one of which lose (and re-read the job). With a
:class:`~tickwork.abc.WorkerRegistryStore` the schedulers heartbeat into the store and
agree, without talking, on one owner per job: rendezvous hashing of the job id over the
live schedulers (the one with the highest hash of ``(scheduler, job)`` owns it). A
scheduler joining or leaving moves only its own share of the jobs.

The owner claims at once; the others wait :attr:`Membership.defer_for` and claim only
if the run is still undone then (their change poll has brought the owner's finish
meanwhile), so a dead owner's runs are taken over after that pause, and safety never
rests on the hashing: the claim in the store still decides who runs. A job whose run
was taken over that way (its owner is dead) is claimed at once from then on, until the
members change. Jobs that run a task are left out (the delivery intake claims them at
once everywhere): a task may be registered in some schedulers only, and the registry
does not say which.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from ._timeutil import utcnow
from .abc import WorkerRegistryStore

__all__ = ["Membership", "owner_of"]

logger = logging.getLogger("tickwork.coordination")

#: Schedulers not heard from for this many change-poll intervals (and at least
#: :data:`MIN_TTL` seconds) are taken for dead.
TTL_POLLS = 5
MIN_TTL = 5.0


def _score(member: str, job_id: str) -> bytes:
    return hashlib.blake2b(f"{member}\x00{job_id}".encode(), digest_size=8).digest()


def owner_of(job_id: str, members: tuple[str, ...]) -> str:
    """The member that owns ``job_id``: the same answer in every process that knows the
    same members, and only the departed member's jobs move when one leaves."""
    return max(members, key=lambda member: _score(member, job_id))


class Membership:
    """This scheduler's view of the live schedulers, kept by its heartbeat."""

    def __init__(self, store: WorkerRegistryStore, me: str, sync_interval: float) -> None:
        self._store = store
        self.me = me
        self.members: tuple[str, ...] = (me,)
        self._ttl = timedelta(seconds=max(MIN_TTL, TTL_POLLS * sync_interval))
        #: How long a run this scheduler does not own waits before it is claimed here:
        #: two change polls, time for the owner's finish to arrive.
        self.defer_for = 2 * sync_interval
        self._owners: dict[str, bool] = {}  # job id -> whether it is ours, for members
        # Jobs whose owner left a run undone (dead, or without the job's task): claimed
        # here at once from then on, until the members change.
        self._adopted: set[str] = set()

    def owns(self, job_id: str) -> bool:
        """Whether this scheduler claims ``job_id``'s runs at once."""
        if len(self.members) == 1 or job_id in self._adopted:
            return True
        mine = self._owners.get(job_id)
        if mine is None:
            mine = self._owners[job_id] = owner_of(job_id, self.members) == self.me
        return mine

    def adopt(self, job_id: str) -> None:
        """A run of ``job_id`` its owner left undone was claimed here: claim its next
        runs at once too (the owner may be dead and not yet forgotten, or stuck),
        instead of waiting :attr:`defer_for` every time."""
        self._adopted.add(job_id)

    async def beat(self) -> None:
        """Tell the store this scheduler lives; learn who else does. A failed beat keeps
        the members as they were (the caller reports the store's errors)."""
        now = utcnow()
        live = tuple(await self._store.heartbeat(self.me, now + self._ttl, now))
        if self.me not in live:  # (a store that lost our row: we are alive all the same)
            live = tuple(sorted((*live, self.me)))
        if live != self.members:
            logger.info("schedulers sharing the store: %d (%s)", len(live), ", ".join(live))
            self.members = live
            self._owners.clear()
            self._adopted.clear()

    async def leave(self) -> None:
        """Leave at a clean stop, so the others take this scheduler's jobs at once."""
        try:
            await self._store.leave(self.me)
        except Exception as exc:
            logger.debug("leaving the schedulers' registry failed: %s", exc)
        self.members = (self.me,)
        self._owners.clear()
        self._adopted.clear()
