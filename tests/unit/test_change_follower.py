"""The change follower's own logic, without a server: which job events a stored change
stands for, removals, and a job this process writes while a read is under way (the
read may list it as it was, or not at all, and must not undo it).

End to end, over a real NATS server, in tests/integration/nats/test_nats_change_follower.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from support.quiet_signals import DAILY, QuietSignalStore, job
from support.waiting import until

from tickwork import (
    JobData,
    JobStatus,
    StorageConnectionError,
)
from tickwork._change_follower import ChangeFollower, SeenChange, what_changed
from tickwork._event_bus import EventBus
from tickwork._events import JobAdded, JobChanged, JobPaused, JobRemoved, JobResumed
from tickwork.abc import ChangedJobs


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        (None, job(), [(JobAdded, "")]),
        (job(), None, [(JobRemoved, "")]),
        (job(), job(status=JobStatus.DISABLED), [(JobPaused, "")]),
        (job(status=JobStatus.DISABLED), job(), [(JobResumed, "")]),
        (job(), job(schedule_config=DAILY), [(JobChanged, "schedule")]),
        (job(), job(status=JobStatus.RUNNING), []),  # a run elsewhere says nothing
        (job(), job(status=JobStatus.COMPLETED), []),
    ],
)
def test_what_a_stored_change_stands_for(
    before: JobData | None, after: JobData | None, said: list[tuple[type, str]]
) -> None:
    assert list(what_changed(before, after)) == said


class SlowListingStore(QuietSignalStore):
    """``list_jobs`` waits for ``go`` once ``hold`` is set, so a test can write while a
    read is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.reading = asyncio.Event()
        self.go = asyncio.Event()

    async def list_jobs(self) -> list[JobData]:
        found = await super().list_jobs()
        if self.hold:
            self.reading.set()
            await self.go.wait()
        return found


async def test_removals_are_seen_and_a_write_during_a_read_is_not_undone() -> None:
    store = SlowListingStore()
    await store.initialize()
    applied: list[SeenChange] = []
    follower = ChangeFollower(store, applied.extend, EventBus("w"), sync_interval=30.0)
    await store.save_job(job("gone"))
    follower.note_saved(job("gone"))
    await store.delete_job("gone")  # by another process
    assert [(c.job_id, c.data) for c in await follower.read_once()] == [("gone", None)]

    store.hold = True
    reading = asyncio.create_task(follower.read_once())
    await store.reading.wait()  # the listing is taken, not yet handed back
    new = job("mine")
    await store.save_job(new)
    follower.note_saved(new)  # this process added it meanwhile
    store.go.set()
    assert await reading == []  # neither removed nor re-added
    store.hold = False
    assert await follower.read_once() == []  # and the next read agrees
    assert [c.job_id for c in applied] == ["gone"]
    await store.close()


class DeafStore(SlowListingStore):
    """Its signals never arrive: listening always fails."""

    @contextlib.asynccontextmanager
    async def listen_for_changes(self) -> AsyncIterator[AsyncIterator[ChangedJobs]]:
        raise StorageConnectionError("no signals here")
        yield self._never()  # (unreachable: makes this an async generator)


async def test_without_signals_it_reads_every_sync_interval() -> None:
    store = DeafStore()
    await store.initialize()
    applied: list[SeenChange] = []
    follower = ChangeFollower(store, applied.extend, EventBus("w"), sync_interval=0.05)
    follower.start([])
    try:
        await until(lambda: follower._reads >= 2, 2.0, "the read at start, then a poll")
        await store.save_job(job("late"))  # by another process, whose signal was lost
        await until(lambda: [c.job_id for c in applied] == ["late"], 2.0, "a poll")
        assert not follower.listening
    finally:
        await follower.stop()
        await store.close()
