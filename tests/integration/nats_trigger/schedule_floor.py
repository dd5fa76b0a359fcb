"""The floor the server sets: how late nats-server fires an ``@at`` schedule.

JetStream message scheduling checks for due schedules on a timer, not at each one's
exact time, so a run can never start earlier than its time and may start up to one
timer period later, whatever the scheduler does. This publishes ``samples`` schedules
at random sub-second offsets, receives the messages they produce, and prints how late
each arrived (receipt minus the ``@at`` time)::

    .venv/bin/python tests/integration/nats_trigger/schedule_floor.py --samples 400
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import nats
from nats.js import api

__all__ = ["measure_floor"]


async def measure_floor(url: str, samples: int = 400, spread: float = 4.0) -> list[float]:
    """Lateness in seconds of ``samples`` schedules due over ``spread`` seconds."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(
        api.StreamConfig(
            name="FLOOR",
            subjects=["floor.>"],
            allow_msg_schedules=True,
            retention=api.RetentionPolicy.WORK_QUEUE,
        )
    )
    arrived: dict[str, float] = {}
    done = asyncio.Event()

    async def on_due(msg: nats.aio.msg.Msg) -> None:
        arrived[msg.subject] = time.time()
        await msg.ack()
        if len(arrived) == samples:
            done.set()

    await js.subscribe("floor.due.>", cb=on_due, stream="FLOOR", manual_ack=True)
    base = datetime.now(UTC) + timedelta(seconds=1)
    due: dict[str, float] = {}
    for i in range(samples):
        at = base + timedelta(seconds=random.uniform(0, spread))
        target = f"floor.due.{i}"
        due[target] = at.timestamp()
        await js.publish(
            f"floor.schedule.{i}",
            json.dumps({"i": i}).encode(),
            headers={
                "Nats-Schedule": f"@at {at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}",
                "Nats-Schedule-Target": target,
            },
        )
    await asyncio.wait_for(done.wait(), timeout=spread + 10)
    await nc.close()
    return sorted(arrived[s] - due[s] for s in due)


def _main() -> None:
    import argparse
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from support.nats_server import NatsServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400)
    args = parser.parse_args()
    with NatsServer() as server:
        late = asyncio.run(measure_floor(server.url, args.samples))
    ms = [1000 * x for x in late]
    print(
        f"{len(ms)} schedules: lateness min {ms[0]:.1f} ms, median {statistics.median(ms):.1f} ms,"
        f" p99 {ms[int(0.99 * (len(ms) - 1))]:.1f} ms, max {ms[-1]:.1f} ms,"
        f" mean {statistics.fmean(ms):.1f} ms"
    )


if __name__ == "__main__":
    _main()
