"""Runs start at their time, not on the server's timer.

nats-server looks for due schedules about every 250 ms (``schedule_floor.py`` measures
it), so a message fires up to that much after its ``@at``. Schedules are armed
``FIRE_LEAD`` early and the worker holds each message until its run's time: a run
never starts before ``scheduled_at``, and its lateness is the worker's own, not the
timer's (uniform over 0..250 ms, a median of about 125 ms, without the lead).
"""

from __future__ import annotations

import statistics

import pytest
from round_trips import measure
from support.nats_server import NatsServer

pytestmark = pytest.mark.nats


async def test_runs_spread_over_the_second_start_on_time(nats_server: NatsServer) -> None:
    late: list[float] = []
    _, runs = await measure(
        nats_server.url, workers=1, jobs=20, seconds=3.0, spread=True, lateness=late
    )
    assert runs >= 40
    assert min(late) >= 0, "a run started before its time"
    median = statistics.median(late)
    assert median < 0.08, f"median lateness {1000 * median:.0f} ms: on the server's timer?"
