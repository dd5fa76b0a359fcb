"""A store that goes away: its calls show up as failed store calls, the spans of the
runs under way still end, and once it is back the runs and their spans go on. A real
NATS server, killed mid-use and restarted on the same port and store directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from support.nats_server import NatsServer
from support.otel_telemetry import Telemetry
from support.waiting import until

from tickwork import AsyncScheduler, IntervalSchedule, JobEvent
from tickwork_nats_store import NATSStore

pytestmark = pytest.mark.nats


@pytest.fixture
async def store(nats_server: NatsServer) -> AsyncIterator[NATSStore]:
    store = NATSStore(nats_server.url, request_timeout=0.5, reconnect_time_wait=0.2)
    try:
        yield store
    finally:
        await store.close()


def failed_calls(telemetry: Telemetry) -> dict[str, int]:
    return {
        point.attributes["tickwork.store.operation"]: point.count
        for point in telemetry.points("tickwork.store.call.duration")
        if point.attributes["tickwork.outcome"] == "error"
    }


def stored_calls(telemetry: Telemetry) -> int:
    return sum(
        point.count
        for point in telemetry.points("tickwork.store.call.duration")
        if point.attributes["tickwork.outcome"] == "ok"
    )


async def test_a_store_that_goes_away_shows_in_store_calls(
    nats_server: NatsServer, store: NATSStore, telemetry: Telemetry
) -> None:
    ran = 0

    async def handler(event: JobEvent) -> None:
        nonlocal ran
        ran += 1

    every = IntervalSchedule(timedelta(milliseconds=100))
    s = AsyncScheduler(store, handler, instruments=[telemetry.instrument])
    await s.start()
    try:
        await s.add_job("tick", every)
        await until(lambda: ran >= 2)
        nats_server.kill()
        await until(lambda: failed_calls(telemetry), timeout=10, what="a failed store call")
        assert set(failed_calls(telemetry)) <= {"claim", "finish", "save_records"}
        assert not telemetry.processor.open, "every run span ended"
        spans_before, ok_before = len(telemetry.finished()), stored_calls(telemetry)
        nats_server.restart()
        await until(lambda: len(telemetry.finished()) > spans_before + 1, timeout=15)
        await until(lambda: stored_calls(telemetry) > ok_before, what="a store call after")
    finally:
        await s.stop(timeout=2)
    assert not telemetry.processor.open
