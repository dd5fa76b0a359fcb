"""Signals that name the jobs that changed: the message body, the announcer merging ids
while a signal is in flight, and the follower reading only the named jobs, with its
fallbacks to a full read (no ids, too many, a failed read).

Over real servers in tests/integration/nats/test_nats_change_follower.py and the
change-signal contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Collection, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.quiet_signals import DAILY, QuietSignalStore, job
from support.waiting import until

from tickwork import (
    ChangePayload,
    JobData,
    MemoryStore,
    StorageConnectionError,
)
from tickwork import _change_payload as payload_module
from tickwork._change_follower import ChangeFollower, SeenChange
from tickwork._change_payload import MOST_IDS
from tickwork._change_push import ChangeAnnouncer
from tickwork._event_bus import EventBus
from tickwork.abc import ChangedJobs

ids = st.text(min_size=1, max_size=12)


# -- the message body ----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(sender=st.text(max_size=16), job_ids=st.frozensets(ids, max_size=20) | st.none())
def test_a_payload_reads_back_as_sent(sender: str, job_ids: frozenset[str] | None) -> None:
    sent = ChangePayload.of(sender, job_ids)
    assert ChangePayload.decode(sent.encode(limit=1_000_000)) == sent
    assert sent.job_ids is None or sent.job_ids == job_ids


def test_ids_that_do_not_fit_say_everything() -> None:
    sent = ChangePayload.of("me", [f"job-{n}" for n in range(50)])
    body = sent.encode(limit=100)
    assert len(body) <= 100
    assert ChangePayload.decode(body) == ChangePayload("me", None)
    many = ChangePayload.of("me", [str(n) for n in range(MOST_IDS + 1)])
    assert many.job_ids is None


@pytest.mark.parametrize(
    "body",
    [b"0a1b2c3d4e5f6789", b"", b"\xff\xfe", b"[1, 2]", b"42", b'{"sender": 1, "jobs": []}',
     b'{"sender": "x", "jobs": [1]}', b'{"sender": "x"}', b'{"sender": "x", "jobs": "a"}'],
)  # fmt: skip
def test_an_unreadable_payload_says_everything(body: bytes) -> None:
    assert ChangePayload.decode(body).job_ids is None


def test_an_unreadable_payload_is_logged_once_at_debug(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payload_module, "_unreadable_logged", False)
    caplog.set_level(logging.DEBUG, logger="tickwork.coordination")
    for _ in range(3):
        ChangePayload.decode(b"not json")
    found = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert [r.levelno for r in found] == [logging.DEBUG]


def test_an_old_senders_tag_is_its_sender() -> None:
    """A bare tag from an older tickwork still leaves out that store's own signals."""
    assert ChangePayload.decode(b"0a1b2c3d") == ChangePayload("0a1b2c3d", None)


def test_a_burst_names_the_union_or_everything() -> None:
    a, b = frozenset({"a"}), frozenset({"b", "c"})
    assert ChangePayload.together([a, b]) == {"a", "b", "c"}
    assert ChangePayload.together([a, None, b]) is None
    big = [frozenset({str(n)}) for n in range(MOST_IDS + 1)]
    assert ChangePayload.together(big) is None


def test_ids_go_into_json_strings_only() -> None:
    body = ChangePayload.of("s", ['"}, "jobs": null, "x": {"']).encode(limit=10_000)
    assert json.loads(body)["jobs"] == ['"}, "jobs": null, "x": {"']


# -- the announcer ---------------------------------------------------------------------------


class GatedSignals(MemoryStore):
    """Records what each signal names; a signal waits for ``gate`` (a send in flight)."""

    signals_changes = True

    def __init__(self) -> None:
        super().__init__(shared=True)
        self.gate = asyncio.Event()
        self.sent: list[ChangedJobs] = []

    async def signal_changes(self, job_ids: Collection[str] | None = None) -> None:
        self.sent.append(None if job_ids is None else frozenset(job_ids))
        await self.gate.wait()

    @contextlib.asynccontextmanager
    async def listen_for_changes(self) -> AsyncIterator[AsyncIterator[ChangedJobs]]:
        raise StorageConnectionError("not listening in this test")
        yield self._never()  # (unreachable: makes this an async generator)

    async def _never(self) -> AsyncIterator[ChangedJobs]:
        yield None


async def announced(calls: list[list[str] | None]) -> list[ChangedJobs]:
    """What a store is sent when the first call is in flight while the rest come."""
    store = GatedSignals()
    announcer = ChangeAnnouncer(store)
    announcer.announce(calls[0])
    await until(lambda: len(store.sent) == 1, what="the first signal under way")
    for call in calls[1:]:
        announcer.announce(call)
    store.gate.set()
    await announcer.drain()
    return store.sent


async def test_ids_announced_during_a_send_go_out_together() -> None:
    assert await announced([["a"], ["b"], ["c", "b"]]) == [{"a"}, {"b", "c"}]
    assert await announced([["a"]]) == [{"a"}]


async def test_one_announcement_without_ids_makes_the_next_signal_everything() -> None:
    assert await announced([["a"], ["b"], None, ["c"]]) == [{"a"}, None]
    assert await announced([None]) == [None]


async def test_too_many_merged_ids_make_the_next_signal_everything() -> None:
    many = [[f"job-{n}"] for n in range(MOST_IDS + 1)]
    assert await announced([["first"], *many]) == [{"first"}, None]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(ids, max_size=4) | st.none(), min_size=1, max_size=8))
def test_every_announced_id_is_signalled(calls: list[list[str] | None]) -> None:
    sent = asyncio.run(announced(calls))
    assert 1 <= len(sent) <= 2
    for call in calls[1:]:
        assert sent[-1] is None or set(call or ()) <= sent[-1]
    if None in calls[1:]:
        assert sent[-1] is None


# -- the follower ----------------------------------------------------------------------------


class CountingStore(QuietSignalStore):
    """Counts full listings and the ids read (one by one or in one batch);
    ``fail_reads`` makes those reads fail."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0
        self.reads: list[str] = []
        self.fail_reads = False

    async def list_jobs(self) -> list[JobData]:
        self.listings += 1
        return await super().list_jobs()

    async def get_job(self, job_id: str) -> JobData:
        self.reads.append(job_id)
        if self.fail_reads:
            raise StorageConnectionError("the store is away")
        return await super().get_job(job_id)

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobData]:
        self.reads.extend(job_ids)
        if self.fail_reads:
            raise StorageConnectionError("the store is away")
        return await super().get_jobs(job_ids)


@pytest.fixture
async def following() -> AsyncIterator[tuple[CountingStore, ChangeFollower, list[SeenChange]]]:
    store = CountingStore()
    await store.initialize()
    for n in range(20):
        await store.save_job(job(f"kept-{n}"))
    applied: list[SeenChange] = []
    follower = ChangeFollower(store, applied.extend, EventBus("w"), sync_interval=30.0)
    follower.start(await store.list_jobs())
    # The read at start and the one on starting to listen (or one for both) are done
    # once the listener listens and no wake is pending.
    await until(lambda: follower.listening and not follower._wake.is_set(), what="listening")
    await asyncio.sleep(0)
    follower.full_reads = 0
    try:
        yield store, follower, applied
    finally:
        await follower.stop()
        await store.close()


async def test_a_signal_with_ids_reads_only_those_jobs(
    following: tuple[CountingStore, ChangeFollower, list[SeenChange]],
) -> None:
    store, follower, applied = following
    listings = store.listings
    await store.save_job(job("new"))  # by another process
    await store.update_job(job("kept-3", DAILY))
    await store.delete_job("kept-7")
    follower.wake(frozenset({"new", "kept-3", "kept-7", "never-was"}))
    await until(lambda: len(applied) == 3, what="the three changes")
    assert {(c.job_id, c.data is None) for c in applied} == {
        ("new", False),
        ("kept-3", False),
        ("kept-7", True),
    }
    assert sorted(store.reads) == ["kept-3", "kept-7", "never-was", "new"]
    assert store.listings == listings
    assert follower.full_reads == 0


async def test_a_signal_without_ids_reads_everything(
    following: tuple[CountingStore, ChangeFollower, list[SeenChange]],
) -> None:
    store, follower, applied = following
    await store.delete_job("kept-1")
    follower.wake(None)
    await until(lambda: follower.full_reads == 1, what="a full read")
    await until(lambda: [c.job_id for c in applied] == ["kept-1"], what="the removal")
    assert store.reads == []


async def test_ids_signalled_during_a_read_are_read_next_together(
    following: tuple[CountingStore, ChangeFollower, list[SeenChange]],
) -> None:
    _store, follower, _applied = following
    follower._wake.clear()
    follower.wake(frozenset({"a"}))
    follower.wake(frozenset({"b"}))
    assert follower._wanted == {"a", "b"}
    follower.wake(None)  # one without ids: the next read is a full one
    follower.wake(frozenset({"c"}))
    assert follower._wanted is None
    await until(lambda: follower.full_reads == 1, what="the full read")


async def test_too_many_ids_waiting_make_a_full_read(
    following: tuple[CountingStore, ChangeFollower, list[SeenChange]],
) -> None:
    _store, follower, _applied = following
    follower._wake.clear()
    follower.wake(frozenset(str(n) for n in range(MOST_IDS)))
    follower.wake(frozenset({"one more"}))
    assert follower._wanted is None


async def test_a_failed_read_of_named_jobs_asks_for_a_full_read(
    following: tuple[CountingStore, ChangeFollower, list[SeenChange]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, follower, applied = following
    store.fail_reads = True
    await store.delete_job("kept-2")
    follower.wake(frozenset({"kept-2"}))
    await until(lambda: follower.full_reads == 1, what="a full read after the failure")
    await until(lambda: [c.job_id for c in applied] == ["kept-2"], what="the removal")
    assert "reading the jobs other processes changed failed" in caplog.text
