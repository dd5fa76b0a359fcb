"""Several worker processes on one NATS deployment: exactly once, and a worker crash.

The workers are ``worker.py`` processes (a scheduler with the NATS trigger and the
NATS KV store each). Jobs are seeded straight into the store before they start; the
verdict comes from the execution records the schedulers write (metadata
``scheduled_at`` and ``worker``) and from the handler events each worker logs.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from nats_trigger_helpers import Workers, seed_jobs
from support.nats_server import NatsServer

from tickwork import ExecutionRecord, IntervalSchedule, JobStatus
from tickwork_nats_store import NATSStore

pytestmark = [pytest.mark.nats, pytest.mark.slow]

SECOND = timedelta(seconds=1)


def scheduled(record: ExecutionRecord) -> datetime:
    return datetime.fromisoformat(record.metadata["scheduled_at"])


async def history(url: str, job_ids: list[str]) -> dict[str, list[ExecutionRecord]]:
    """Completed runs of each job, in scheduled order."""
    store = NATSStore(url)
    await store.initialize()
    try:
        found = {}
        for job_id in job_ids:
            records = await store.list_executions(job_id)
            runs = [r for r in records if r.status == JobStatus.COMPLETED]
            found[job_id] = sorted(runs, key=scheduled)
        return found
    finally:
        await store.close()


async def seed(url: str, jobs: list[str], first: datetime, **metadata: str) -> None:
    store = NATSStore(url)
    await store.initialize()
    try:
        await seed_jobs(store, [(j, IntervalSchedule(SECOND), first) for j in jobs], metadata)
    finally:
        await store.close()


async def test_three_workers_run_every_tick_exactly_once(
    nats_server: NatsServer, workers: Workers
) -> None:
    """3 processes, 50 jobs every second for 30 s: no duplicate, no gap."""
    jobs = [f"job-{i:02d}" for i in range(50)]
    first = datetime.now(UTC) + timedelta(seconds=8)
    await seed(nats_server.url, jobs, first)
    await asyncio.to_thread(workers.start, ["w1", "w2", "w3"], servers=nats_server.url)
    assert datetime.now(UTC) < first - SECOND, "the workers took too long to start"
    await asyncio.sleep(max(0.0, (first - datetime.now(UTC)).total_seconds()) + 30)
    stopped_at = datetime.now(UTC)
    await asyncio.to_thread(workers.stop_all)

    runs = await history(nats_server.url, jobs)
    per_worker: Counter[str] = Counter()
    total = 0
    for job_id, records in runs.items():
        times = [scheduled(r) for r in records]
        assert len(times) == len(set(times)), f"{job_id}: a tick ran twice"
        assert times, f"{job_id} never ran"
        assert times[0] == first, f"{job_id}: its first run was lost"
        for previous, record in itertools.pairwise(records):
            # Each tick is the one the previous run left: next_run = end_time + 1 s.
            assert scheduled(record) == previous.end_time + SECOND, f"{job_id}: a gap"
        assert records[-1].end_time > stopped_at - timedelta(seconds=4), f"{job_id} stalled"
        per_worker.update(r.metadata["worker"] for r in records)
        total += len(records)
    # Handler invocations match the records one for one (no run without a record).
    starts = Counter(
        (e["job"], e["scheduled_at"]) for e in workers.events() if e["kind"] == "start"
    )
    assert max(starts.values()) == 1, "a handler ran twice for one tick"
    assert sum(starts.values()) >= total
    assert set(per_worker) == {"w1", "w2", "w3"}, f"work was not shared: {per_worker}"
    print(f"\nexactly-once: {total} runs of 50 jobs in 30 s by {dict(per_worker)}; 0 duplicates")


async def test_a_run_of_a_killed_worker_goes_to_another(
    nats_server: NatsServer, workers: Workers
) -> None:
    """SIGKILL mid-run: the run is redelivered after the ack wait, nothing else lost."""
    ack_wait = 3.0
    first = datetime.now(UTC) + timedelta(seconds=3)
    await seed(nats_server.url, ["slow"], first, sleep="2")
    started = await asyncio.to_thread(
        workers.start, ["k1", "k2"], servers=nats_server.url, ack_wait=ack_wait
    )
    by_name = {w.name: w for w in started}

    def starts(events: list[dict[str, object]]) -> list[dict[str, object]]:
        return [e for e in events if e["kind"] == "start" and e["job"] == "slow"]

    events = await asyncio.to_thread(
        workers.wait_for, lambda ev: len(starts(ev)) >= 2, 20, "two runs of the slow job"
    )
    victim_event = starts(events)[-1]
    victim = by_name[str(victim_event["worker"])]
    survivor = next(w for w in started if w is not victim)
    victim.kill()  # mid-run: the handler sleeps 2 s
    killed_at = time.time()
    tick = victim_event["scheduled_at"]

    # The survivor gets the run back once the ack wait has passed. The scheduler then
    # applies the job's catch-up policy: the run stands for the ticks missed meanwhile.
    tick_at = datetime.fromisoformat(str(tick))
    events = await asyncio.to_thread(
        workers.wait_for,
        lambda ev: any(_is_takeover(e, tick_at, survivor.name) for e in starts(ev)),
        ack_wait + 15,
        "the killed run to be redelivered",
    )
    taken = next(e for e in starts(events) if _is_takeover(e, tick_at, survivor.name))
    waited = float(str(taken["at"])) - killed_at
    assert waited <= ack_wait + 2.0, f"redelivered {waited:.1f} s after the kill"
    late = float(str(taken["at"])) - tick_at.timestamp()
    # No more than one interval plus the ack wait (plus the 2 s the killed handler ran).
    assert late <= 1.0 + ack_wait + 2.0 + 1.0, f"the job ran again only {late:.1f} s later"

    count = len(starts(events))
    await asyncio.to_thread(
        workers.wait_for, lambda ev: len(starts(ev)) >= count + 2, 15, "runs after the takeover"
    )
    await asyncio.to_thread(workers.stop_all)
    records = (await history(nats_server.url, ["slow"]))["slow"]
    times = [scheduled(r) for r in records]
    assert len(times) == len(set(times)), "a tick ran twice"
    taken_tick = datetime.fromisoformat(str(taken["scheduled_at"]))
    after = [r for r in records if scheduled(r) >= taken_tick]
    assert scheduled(after[0]) == taken_tick
    for previous, record in itertools.pairwise(after):
        assert scheduled(record) == previous.end_time + SECOND
    print(
        f"\nkill: run back {waited:.2f} s after SIGKILL; job ran again {late:.2f} s after the tick"
    )


async def test_a_long_run_keeps_its_message(nats_server: NatsServer, workers: Workers) -> None:
    """A handler running for 3x the ack wait is not handed to the other worker."""
    ack_wait = 2.0
    first = datetime.now(UTC) + timedelta(seconds=3)
    await seed(nats_server.url, ["long"], first, sleep="6.5")
    await asyncio.to_thread(workers.start, ["l1", "l2"], servers=nats_server.url, ack_wait=ack_wait)
    events = await asyncio.to_thread(
        workers.wait_for,
        lambda ev: any(e["kind"] == "end" and e["job"] == "long" for e in ev),
        20,
        "the long run to end",
    )
    ended = next(e for e in events if e["kind"] == "end" and e["job"] == "long")
    same_tick = [
        e for e in events if e["kind"] == "start" and e["scheduled_at"] == ended["scheduled_at"]
    ]
    assert len(same_tick) == 1, f"the long run was handed out twice: {same_tick}"
    assert ended["at"] - same_tick[0]["at"] >= 3 * ack_wait


def _is_takeover(event: dict[str, object], tick: datetime, worker: str) -> bool:
    return event["worker"] == worker and datetime.fromisoformat(str(event["scheduled_at"])) >= tick
