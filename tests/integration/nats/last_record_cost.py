"""What it costs to find a job's last record on the NATS store, by the size of its
history.

A scheduler asks once per job and process, before the job's first run there
(``JobEvent.last_completed_at``). Without :class:`tickwork.abc.LastRecordStore` it
would list the record that ended last, which on KV is a scan of every record of the
job. This fills jobs of growing histories on a fresh server and prints the median of
five calls each way::

    .venv/bin/python tests/integration/nats/last_record_cost.py --sizes 10,1000,10000
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from tickwork import ExecutionRecord, QueryOptions
from tickwork_nats_store import NATSStore

__all__ = ["measure"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _fill(store: NATSStore, job_id: str, size: int) -> None:
    records = [
        ExecutionRecord(
            job_id=job_id,
            execution_id=f"{job_id}-{i}",
            start_time=T0 + timedelta(minutes=i),
            end_time=T0 + timedelta(minutes=i, seconds=1),
        )
        for i in range(size)
    ]
    for start in range(0, size, 200):
        await asyncio.gather(*(store.save_execution(r) for r in records[start : start + 200]))


async def _median_ms(call: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


async def measure(url: str, sizes: list[int]) -> dict[int, tuple[float, float]]:
    """Per history size: milliseconds for the listing and for ``last_saved_execution``."""
    store = NATSStore(url)
    await store.initialize()
    newest = QueryOptions(limit=1, sort_by="end_time", sort_desc=True)
    found = {}
    try:
        for size in sizes:
            job_id = f"job-{size}"
            await _fill(store, job_id, size)
            listed = await _median_ms(partial(store.list_executions, job_id, newest))
            last = await _median_ms(partial(store.last_saved_execution, job_id))
            found[size] = (listed, last)
    finally:
        await store.close()
    return found


def _main() -> None:
    import argparse
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from support.nats_server import NatsServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with NatsServer() as server:
        found = asyncio.run(measure(server.url, sizes))
    for size, (listed, last) in found.items():
        print(
            f"{size:>7,} records: newest by listing {listed:8.2f} ms, "
            f"last_saved_execution {last:6.2f} ms"
        )


if __name__ == "__main__":
    _main()
