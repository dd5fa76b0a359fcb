"""Schedulers sharing the NATS store through the NATS trigger follow each other's job
changes (:mod:`tickwork._change_follower`): no coordinator polls there, so without the
follower a job added, paused, changed or removed in one would never reach the others'
job tables or job events.

Both schedulers have connections of their own and a ``sync_interval`` of 30 s, so a
change seen within :data:`PUSHED_WITHIN` came through a signal (or through the read the
follower makes when its listener connects again)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from support.change_push import PUSHED_WITHIN
from support.nats_server import NatsServer
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    CronSchedule,
    IntervalSchedule,
    JobData,
    JobStatus,
    default_codec,
)
from tickwork import _change_push as change_push
from tickwork._events import (
    Event,
    JobAdded,
    JobChange,
    JobChanged,
    JobPaused,
    JobRemoved,
    JobResumed,
)
from tickwork_nats_store import NATSStore
from tickwork_nats_trigger import NATSTrigger

pytestmark = pytest.mark.nats

HOURLY = IntervalSchedule(timedelta(hours=1))


async def _ignore(_event: object) -> None:
    return None


@asynccontextmanager
async def replica(server: NatsServer, name: str) -> AsyncIterator[AsyncScheduler]:
    """A running scheduler on the NATS store and trigger, with its own connection."""
    store = NATSStore(
        server.url, connect_timeout=3, jetstream_ready_timeout=5, reconnect_time_wait=0.2
    )
    trigger = NATSTrigger(server.url, ack_wait=3)
    scheduler = AsyncScheduler(store, _ignore, trigger=trigger, worker_id=name, sync_interval=30.0)
    await scheduler.start()
    try:
        follower = scheduler._follower
        assert follower is not None, "a NATS store behind the NATS trigger is followed"
        assert scheduler._coordinator is None
        await until(lambda: follower.listening, PUSHED_WITHIN, f"{name} listens")
        yield scheduler
    finally:
        await scheduler.stop()


def heard(scheduler: AsyncScheduler) -> list[JobChange]:
    """The job events ``scheduler`` publishes, from now on."""
    events: list[JobChange] = []

    def keep(event: Event) -> None:
        if isinstance(event, JobChange):
            events.append(event)

    scheduler.subscribe(keep, JobChange)
    return events


async def test_changes_in_one_replica_reach_the_others_table_and_events(
    nats_server: NatsServer,
) -> None:
    async with replica(nats_server, "a") as a, replica(nats_server, "b") as b:
        seen = heard(b)
        table = b._entries

        await a.add_job("report", HOURLY)
        await until(lambda: "report" in table, PUSHED_WITHIN, "the add in b")
        await a.pause_job("report")
        await until(
            lambda: table["report"].status is JobStatus.DISABLED, PUSHED_WITHIN, "the pause"
        )
        await a.resume_job("report")
        await until(
            lambda: table["report"].status is not JobStatus.DISABLED, PUSHED_WITHIN, "resume"
        )
        await a.update_job_schedule("report", CronSchedule("*/5 * * * *"))
        await until(
            lambda: isinstance(table["report"].schedule, CronSchedule), PUSHED_WITHIN, "schedule"
        )
        await a.remove_job("report")
        await until(lambda: "report" not in table, PUSHED_WITHIN, "the removal in b")

        await until(lambda: len(seen) == 5, PUSHED_WITHIN, "five job events in b")
        assert [(type(e), e.job_id, e.worker_id) for e in seen] == [
            (JobAdded, "report", "b"),
            (JobPaused, "report", "b"),
            (JobResumed, "report", "b"),
            (JobChanged, "report", "b"),
            (JobRemoved, "report", "b"),
        ]
        assert isinstance(seen[3], JobChanged)
        assert seen[3].what == "schedule"
        # a published its own events once each: its follower does not repeat them.
        mine = heard(a)
        await a.add_job("own", HOURLY)
        await until(lambda: "own" in table, PUSHED_WITHIN, "the second add in b")
        await until(lambda: mine, PUSHED_WITHIN, "a's own JobAdded")
        assert a._follower is not None
        assert await a._follower.read_once() == []  # its own add is known already
        assert [type(e) for e in mine] == [JobAdded]


async def test_a_change_made_while_the_listener_was_down_arrives_after_reconnecting(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server is killed and restarted; before b listens again a job is removed
    straight in the store (as by a process whose signal nobody heard); once b listens
    again its follower reads at once and finds it, long before the 30 s poll."""
    # b waits at least 1.5 s before listening again: time enough to write first.
    monkeypatch.setattr(change_push, "FIRST_PAUSE", 3.0)
    async with replica(nats_server, "a") as a, replica(nats_server, "b") as b:
        follower = b._follower
        assert follower is not None
        await a.add_job("before", HOURLY)
        await until(lambda: "before" in b._entries, PUSHED_WITHIN, "the first add")
        await asyncio.to_thread(nats_server.restart, kill=True)
        await until(lambda: not follower.listening, PUSHED_WITHIN, "b to notice the loss")
        writer = NATSStore(nats_server.url, connect_timeout=3, jetstream_ready_timeout=5)
        await writer.initialize()
        try:
            await writer.delete_job("before")  # no signal: nobody would hear it
        finally:
            await writer.close()
        assert not follower.listening, "the write must come before b listens again"
        assert "before" in b._entries
        await until(lambda: follower.listening, 10.0, "b to listen again")
        await until(lambda: "before" not in b._entries, PUSHED_WITHIN, "the removal in b")


#: Jobs in the store for the test below: enough that a full read of the list is slow.
MANY = 3000


async def _store_many(url: str, count: int) -> None:
    writer = NATSStore(url, connect_timeout=3, jetstream_ready_timeout=5)
    await writer.initialize()
    try:
        kind, config = default_codec().encode(HOURLY)
        later = datetime.now(UTC) + timedelta(hours=1)
        gate = asyncio.Semaphore(64)

        async def save(n: int) -> None:
            async with gate:
                await writer.save_job(
                    JobData(
                        id=f"stored-{n:05d}",
                        schedule_type=kind,
                        schedule_config=config,
                        next_run=later,
                    )
                )

        await asyncio.gather(*(save(n) for n in range(count)))
    finally:
        await writer.close()


async def test_a_change_among_thousands_of_jobs_is_read_alone(nats_server: NatsServer) -> None:
    """With 3,000 jobs stored, a job added in one replica reaches the other's table
    through a signal naming it: the other's follower reads that job, not the list."""
    await _store_many(nats_server.url, MANY)
    async with replica(nats_server, "a") as a, replica(nats_server, "b") as b:
        follower = b._follower
        assert follower is not None
        assert len(b._entries) == MANY
        # the reads at start and on starting to listen are over
        await until(lambda: not follower.busy, PUSHED_WITHIN, "b's first reads")
        full_reads = follower.full_reads
        assert full_reads >= 1
        await a.add_job("one-more", HOURLY)
        await until(lambda: "one-more" in b._entries, PUSHED_WITHIN, "the add in b")
        await a.pause_job("stored-01234")
        await until(
            lambda: b._entries["stored-01234"].status is JobStatus.DISABLED,
            PUSHED_WITHIN,
            "the pause in b",
        )
        await a.remove_job("one-more")
        await until(lambda: "one-more" not in b._entries, PUSHED_WITHIN, "the removal in b")
        assert follower.full_reads == full_reads  # each change was read alone
