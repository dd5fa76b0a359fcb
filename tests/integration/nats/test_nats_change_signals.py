"""Job changes signalled on a core NATS subject: the capability contract (with the
store's own connection and with a caller's), the subject per job bucket, and a server
killed and restarted under a listener.

Schedulers on the NATS store do not poll (they share the NATS trigger, whose stream
carries every arm and disarm), so nothing here waits for a scheduler's poll; the
listener is the scheduler's own (:class:`tickwork._change_push.ChangeListener`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from nats.js import JetStreamContext
from support.change_push import PUSHED_WITHIN
from support.nats_server import NatsServer
from support.recording_proxy import recording_proxy
from support.waiting import until

from tickwork import _change_payload as change_payload
from tickwork._change_push import ChangeListener
from tickwork.abc import Store
from tickwork.testing import ChangeSignalingStoreContract
from tickwork.testing._change_contract import next_signal
from tickwork_nats_store import NATSStore

pytestmark = pytest.mark.nats


def _store(server: NatsServer, **options: object) -> NATSStore:
    return NATSStore(
        server.url,
        connect_timeout=3,
        jetstream_ready_timeout=5,
        reconnect_time_wait=0.2,
        **options,  # type: ignore[arg-type]
    )


class TestNATSChangeSignalsOwnConnection(ChangeSignalingStoreContract):
    @pytest.fixture
    def make_store(self, nats_server: NatsServer) -> Callable[[], Store]:
        return lambda: _store(nats_server)


class TestNATSChangeSignalsSharedConnection(ChangeSignalingStoreContract):
    """Store objects over one caller's connection hear each other (each object has a
    sender id of its own)."""

    @pytest.fixture
    def make_store(self, jetstream: JetStreamContext) -> Callable[[], Store]:
        return lambda: NATSStore(js=jetstream, jetstream_ready_timeout=5)


async def test_stores_on_other_buckets_are_not_woken(nats_server: NatsServer) -> None:
    sender = _store(nats_server, job_bucket="TEAM_A", exec_bucket="TEAM_A_EXEC")
    listener = _store(nats_server, job_bucket="TEAM_A", exec_bucket="TEAM_A_EXEC")
    other = _store(nats_server)
    try:
        for store in (sender, listener, other):
            await store.initialize()
        async with (
            listener.listen_for_changes() as signals,
            other.listen_for_changes() as elsewhere,
        ):
            await sender.signal_changes()
            await next_signal(signals)
            with pytest.raises(TimeoutError):
                await next_signal(elsewhere, timeout=0.2)
    finally:
        for store in (sender, listener, other):
            await store.close()


async def test_a_restarted_server_under_a_listener_misses_nothing(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The server is killed and restarted: the listener reports the loss once, listens
    again once the connection is back and then wakes its poll at once (which finds
    what changed meanwhile), and signals reach it again."""
    caplog.set_level(logging.INFO, logger="tickwork.coordination")
    sender, listening = _store(nats_server), _store(nats_server)
    wakes: list[float] = []
    await sender.initialize()
    await listening.initialize()
    listener = ChangeListener(listening, lambda _ids: wakes.append(time.monotonic()))
    try:
        listener.start()
        await until(lambda: listener.listening and wakes, what="listening (and one wake)")
        await sender.signal_changes()
        await until(lambda: len(wakes) == 2, what="the signal")
        await asyncio.to_thread(nats_server.restart, kill=True)
        await until(lambda: not listener.listening, what="the loss to be noticed")
        await until(lambda: listener.listening, PUSHED_WITHIN, "listening again")
        await until(lambda: len(wakes) == 3, what="the wake after listening again")
        await sender.signal_changes()  # its connection is back too (it reconnects)
        await until(lambda: len(wakes) == 4, PUSHED_WITHIN, "a signal after the restart")
    finally:
        await listener.stop()
        await sender.close()
        await listening.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "tickwork.coordination"]
    assert len([m for m in messages if m.startswith("not listening for job changes")]) == 1
    assert len([m for m in messages if "job changes from other processes again" in m]) == 1


async def test_a_message_that_does_not_parse_says_everything(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A foreign body or an older tickwork's bare sender tag on the subject wakes the
    listener with "everything" (None), never an error; a readable one names its jobs."""
    caplog.set_level(logging.DEBUG, logger="tickwork.coordination")
    monkeypatch.setattr(change_payload, "_unreadable_logged", False)
    sender, listener = _store(nats_server), _store(nats_server)
    subject = "tickwork.jobs-changed.SCHEDULER_JOBS"  # the default job bucket's
    try:
        await sender.initialize()
        await listener.initialize()
        async with listener.listen_for_changes() as signals:
            for body in (b"0a1b2c3d4e5f6789", b"{not json", b'{"sender": "x", "jobs": [1]}'):
                await sender.connection.publish(subject, body)
                assert await next_signal(signals) is None
            await sender.signal_changes(["named"])
            assert await next_signal(signals) == frozenset({"named"})
    finally:
        await sender.close()
        await listener.close()
    unreadable = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert [r.levelno for r in unreadable] == [logging.DEBUG]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_listening_returns_once_the_server_has_the_subscription(
    nats_server: NatsServer,
) -> None:
    """nats-py writes a flush's PING ahead of commands its writer task has not sent yet,
    so a listener that flushed once could return before its SUB reached the server, and
    a signal sent then from another process was dropped (seen once in a loaded run). On
    the wire, a PING must follow the SUB before ``listen_for_changes`` returns."""
    async with recording_proxy(nats_server.host, nats_server.port) as proxy:
        listener = NATSStore(proxy.url, connect_timeout=3, jetstream_ready_timeout=5)
        try:
            await listener.initialize()
            async with listener.listen_for_changes():
                sent = bytes(proxy.sent)  # no await since: what the PONG answered
        finally:
            await listener.close()
    subscribed = sent.rfind(b"SUB tickwork.jobs-changed.SCHEDULER_JOBS ")
    assert subscribed >= 0, sent[-400:]
    assert sent.find(b"PING\r\n", subscribed) > subscribed, sent[subscribed:]
