"""What a run costs on NATS: the round trips of the runs that end together are shared.

Each run takes a claim, reads its job, saves its record and the job's new state, arms
its next run and settles its claim. Alone, each of those is a request the worker
waits on; runs due together share them (batched reads, writes sent together), so per
run they cost a fraction of a round trip. ``round_trips.py`` counts every message the
clients send, by kind.
"""

from __future__ import annotations

import pytest
from round_trips import measure
from support.nats_server import NatsServer

pytestmark = pytest.mark.nats


@pytest.mark.parametrize("workers", [1, 3])
async def test_runs_due_together_share_their_round_trips(
    nats_server: NatsServer, workers: int
) -> None:
    counter, runs = await measure(nats_server.url, workers=workers, jobs=40, seconds=3.0)
    table = counter.table(max(1, runs))
    print(f"\n{workers} worker(s), {runs} runs\n{table}")
    assert runs >= 40 * 2, table
    # 11 round trips per run before batching; 4 is the target.
    assert counter.per_run(runs) <= 4.0, table
    for kind in ("claim read", "claim write", "job read", "job write", "record write"):
        assert counter.trips[kind] <= runs / 2, f"{kind} is not batched:\n{table}"
    assert counter.trips["schedule publish"] <= runs / 2, table


async def test_a_lone_run_costs_seven_round_trips(nats_server: NatsServer) -> None:
    """Nothing to share: claim read and write, job read, record and job writes (in
    parallel), the next arm and the claim's release, each one round trip; the record
    is two requests sent together (the record and its index entry)."""
    counter, runs = await measure(nats_server.url, workers=1, jobs=1, seconds=3.0)
    table = counter.table(max(1, runs))
    assert runs >= 2, table
    assert counter.per_run(runs) <= 7.0, table
    assert counter.requests["record write"] == 2 * runs, table  # sent together
    assert counter.trips["record write"] == runs, table
    assert counter.messages["ack"] == runs, table
