"""What an atomic batch costs the server, beside plain conditional publishes.

nats-server stages each atomic batch before committing it; for a file-backed stream
(every KV bucket tickwork makes) the staging is on disk. This writes ``count`` times
into a KV bucket of a fresh server, one way at a time, and prints per call the wait,
the server's CPU (from ``/proc``, so Linux only) and the client's::

    .venv/bin/python tests/integration/nats/batch_cost.py --count 2000

The figures set :data:`tickwork_nats_store.ATOMIC_FROM`: below it, separate publishes
sent together cost the two sides less than one batch.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.js import api

from tickwork_nats_store import Write, write_many

__all__ = ["measure"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _server_cpu(pid: int) -> float:
    """CPU seconds the process has used (user and system)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def _batch(nc: Client, size: int, first: int) -> None:
    batch_id = uuid.uuid4().hex
    for number in range(1, size + 1):
        headers = {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(number)}
        subject = f"$KV.cost.k{(first + number) % 100}"
        if number == size:
            headers["Nats-Batch-Commit"] = "1"
            await nc.request(subject, b'{"x":1}', 5, headers=headers)
        else:
            await nc.publish(subject, b'{"x":1}', headers=headers)


async def measure(url: str, pid: int, count: int) -> dict[str, tuple[float, float, float]]:
    """Per way of writing: milliseconds waited, of server CPU and of client CPU, per
    call (one request, four separate publishes sent together, or a batch)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.create_key_value(api.KeyValueConfig(bucket="cost", history=1))
    config = (await js.stream_info("KV_cost")).config
    await js.update_stream(config.evolve(allow_atomic=True))

    def separate(i: int) -> Awaitable[object]:
        writes = [Write(f"$KV.cost.k{(4 * i + n) % 100}", b'{"x":1}') for n in range(4)]
        return write_many(nc, writes, 5)

    ways: dict[str, Callable[[int], Awaitable[object]]] = {
        "one request": lambda i: nc.request(f"$KV.cost.k{i % 100}", b'{"x":1}', 5),
        "write_many of 4": separate,
        "atomic batch of 1": lambda i: _batch(nc, 1, i),
        "atomic batch of 8": lambda i: _batch(nc, 8, i * 8),
    }
    found = {}
    for name, write in ways.items():
        server, client, started = _server_cpu(pid), time.process_time(), time.perf_counter()
        for i in range(count):
            await write(i)
        found[name] = (
            1000 * (time.perf_counter() - started) / count,
            1000 * (_server_cpu(pid) - server) / count,
            1000 * (time.process_time() - client) / count,
        )
    await nc.close()
    return found


def _main() -> None:
    import argparse
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from support.nats_server import NatsServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    with NatsServer() as server:
        assert server.pid is not None
        found = asyncio.run(measure(server.url, server.pid, args.count))
    for name, (waited, server_ms, client_ms) in found.items():
        print(
            f"{name:18}: {waited:.3f} ms waited, {server_ms:.3f} ms server CPU, "
            f"{client_ms:.3f} ms client CPU per call"
        )


if __name__ == "__main__":
    _main()
