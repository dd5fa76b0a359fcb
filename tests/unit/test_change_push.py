"""Pushed changes in the coordinator, over an in-process store that signals: a signal
wakes the poll, bursts are coalesced both ways, a lost listener is logged once while
the regular poll carries on, and the listener comes back and polls at once.

The real backends (PostgreSQL's LISTEN/NOTIFY, a NATS subject) are tested against
real servers in tests/integration/; this store only stands in for the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from datetime import datetime, timedelta

import pytest
from support.rows import save_row
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    JobData,
    MemoryStore,
    StorageConnectionError,
)
from tickwork._change_push import ChangeAnnouncer
from tickwork._coordination import Coordinator
from tickwork.abc import ChangedJobs, ChangeSignalingStore

HOURLY = IntervalSchedule(timedelta(hours=1))


async def ignore(_event: object) -> None:
    return None


class SignalingMemoryStore(MemoryStore):
    """A shared MemoryStore whose signals travel through in-process queues; ``cut()``
    drops every listener and ``down`` refuses new ones, as a lost server would."""

    signals_changes = True

    def __init__(self) -> None:
        super().__init__(shared=True)
        self.listeners: list[asyncio.Queue[tuple[bool, ChangedJobs]]] = []
        self.down = False
        self.signals = 0
        self.sent: list[ChangedJobs] = []  # what each signal named
        self.polls = 0

    async def signal_changes(self, job_ids: Collection[str] | None = None) -> None:
        if self.down:
            raise StorageConnectionError("the signal server is down")
        self.signals += 1
        named = None if job_ids is None else frozenset(job_ids)
        self.sent.append(named)
        for queue in self.listeners:
            queue.put_nowait((True, named))

    @contextlib.asynccontextmanager
    async def listen_for_changes(self) -> AsyncIterator[AsyncIterator[ChangedJobs]]:
        if self.down:
            raise StorageConnectionError("the signal server is down")
        queue: asyncio.Queue[tuple[bool, ChangedJobs]] = asyncio.Queue()
        self.listeners.append(queue)
        try:
            yield self._heard(queue)
        finally:
            self.listeners.remove(queue)

    async def _heard(
        self, queue: asyncio.Queue[tuple[bool, ChangedJobs]]
    ) -> AsyncIterator[ChangedJobs]:
        while True:
            alive, named = await queue.get()
            if not alive:
                raise StorageConnectionError("the listening connection was cut")
            yield named

    def cut(self) -> None:
        for queue in self.listeners:
            queue.put_nowait((False, None))

    async def list_jobs_changed_since(self, since: datetime) -> list[JobData]:
        self.polls += 1
        return await super().list_jobs_changed_since(since)


@pytest.fixture
async def store() -> AsyncIterator[SignalingMemoryStore]:
    store = SignalingMemoryStore()
    await store.initialize()
    assert isinstance(store, ChangeSignalingStore)
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def polling(
    store: SignalingMemoryStore, sync_interval: float = 30.0
) -> AsyncIterator[tuple[Coordinator, list[str]]]:
    """A coordinator polling ``store``; the list collects the ids it hands on."""
    coordinator = Coordinator(store, "listener", sync_interval=sync_interval)
    seen: list[str] = []

    async def apply(changed: list[JobData]) -> None:
        seen.extend(job.id for job in changed)

    coordinator.start_polling(apply)
    try:
        yield coordinator, seen
    finally:
        await coordinator.stop_polling()


async def test_a_signal_wakes_the_poll(store: SignalingMemoryStore) -> None:
    async with polling(store) as (coordinator, seen):
        await until(lambda: coordinator.listening, what="listening")
        await save_row(store, "pushed")
        await store.signal_changes()
        await until(lambda: seen == ["pushed"], timeout=2, what="the pushed job")


async def test_a_burst_of_signals_makes_few_polls(store: SignalingMemoryStore) -> None:
    async with polling(store) as (coordinator, _seen):
        await until(lambda: coordinator.listening and store.polls == 1, what="the first poll")
        for _ in range(50):
            await store.signal_changes()
        await until(lambda: store.polls >= 2, what="a poll after the burst")
        await asyncio.sleep(0.05)
        assert store.polls <= 3  # one in flight and one queued, not fifty


async def test_a_lost_listener_falls_back_to_polling_and_logs_once(
    store: SignalingMemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork.coordination")
    async with polling(store, sync_interval=0.05) as (coordinator, seen):
        await until(lambda: coordinator.listening, what="listening")
        store.down = True
        store.cut()
        await until(lambda: not coordinator.listening, what="the loss")
        await save_row(store, "polled")  # no signal: only the regular poll finds it
        await until(lambda: "polled" in seen, timeout=2, what="the polled job")
        await asyncio.sleep(0.4)  # several attempts to listen again fail meanwhile
        store.down = False
        await until(lambda: coordinator.listening, timeout=6, what="listening again")
    messages = [r for r in caplog.records if r.name == "tickwork.coordination"]
    warnings = [r.getMessage() for r in messages if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "not listening for job changes" in warnings[0]
    assert [r.getMessage() for r in messages if r.levelno == logging.INFO] == [
        "listening for job changes from other processes again"
    ]


async def test_listening_again_polls_at_once(store: SignalingMemoryStore) -> None:
    """What changed while nobody listened is polled for as soon as the listener is
    back, not a ``sync_interval`` later."""
    async with polling(store) as (coordinator, seen):
        await until(lambda: coordinator.listening, what="listening")
        store.cut()
        await save_row(store, "in-the-gap")
        await store.signal_changes()  # heard by nobody
        await until(lambda: "in-the-gap" in seen, timeout=3, what="the job from the gap")


async def test_the_announcer_coalesces_and_drains(store: SignalingMemoryStore) -> None:
    announcer = ChangeAnnouncer(store)
    for _ in range(100):
        announcer.announce()
    await announcer.drain()
    assert 1 <= store.signals <= 2


async def test_a_failed_signal_is_logged_not_raised(
    store: SignalingMemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.down = True
    announcer = ChangeAnnouncer(store)
    announcer.announce()
    await announcer.drain()
    assert "could not signal a job change" in caplog.text


async def test_scheduler_changes_reach_another_scheduler_without_waiting_for_a_poll(
    store: SignalingMemoryStore,
) -> None:
    a = AsyncScheduler(store, ignore, worker_id="a", sync_interval=30)
    b = AsyncScheduler(store, ignore, worker_id="b", sync_interval=30)
    await a.start()
    await b.start()
    try:
        assert b._coordinator is not None
        await until(lambda: b._coordinator is not None and b._coordinator.listening)
        signals = store.signals
        await a.add_job("added", HOURLY)
        await until(lambda: "added" in b._entries, timeout=2, what="b to know the job")
        await a.pause_job("added")
        await until(lambda: b._entries["added"].status.value == "disabled", timeout=2)
        await a.remove_job("added")
        await until(lambda: store.signals == signals + 3, what="three signals")
        assert store.sent[-3:] == [frozenset({"added"})] * 3  # each names the job
    finally:
        await a.stop()
        await b.stop()


async def test_a_change_just_before_stop_is_still_signalled(store: SignalingMemoryStore) -> None:
    a = AsyncScheduler(store, ignore, worker_id="a", sync_interval=30)
    await a.start()
    await a.add_job("last", HOURLY)
    await a.stop()
    assert store.signals == 1


async def test_jobs_added_before_start_are_signalled_at_start(
    store: SignalingMemoryStore,
) -> None:
    a = AsyncScheduler(store, ignore, worker_id="a", sync_interval=30)
    await a.add_job("before-start", HOURLY)
    await a.start()
    try:
        await until(lambda: store.signals == 1, what="one signal for the changes kept")
    finally:
        await a.stop()
    assert store.signals == 1
