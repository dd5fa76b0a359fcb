"""The NATS trigger on a 3-node JetStream cluster (loopback, replicas 3)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.nats_server import NatsCluster
from support.waiting import until

from tickwork import AsyncScheduler, IntervalSchedule, JobEvent, MemoryStore, StorageConnectionError
from tickwork_nats_store import NATSStore
from tickwork_nats_trigger import NATSTrigger, create_nats_scheduler

pytestmark = [pytest.mark.nats, pytest.mark.slow]

INTERVAL = timedelta(milliseconds=400)


class Recorder:
    def __init__(self) -> None:
        self.events: dict[str, list[JobEvent]] = defaultdict(list)

    async def __call__(self, event: JobEvent) -> None:
        self.events[event.id].append(event)

    def count(self, job_id: str) -> int:
        return len(self.events[job_id])


@pytest.fixture
def unstarted_cluster(nats_binary: Path) -> Iterator[NatsCluster]:
    """A 3-node cluster whose nodes the test starts itself."""
    cluster = NatsCluster(3)
    for server in cluster:
        server.binary = nats_binary
    try:
        yield cluster
    finally:
        cluster.cleanup()


async def test_killing_one_node_keeps_every_job_running(nats_cluster: NatsCluster) -> None:
    recorder = Recorder()
    scheduler = create_nats_scheduler(
        nats_cluster.urls,
        recorder,
        ack_wait=3,
        replicas=3,
        reconciler_interval=1,
        reconciler_grace_period=3,
    )
    jobs = ["a", "b", "c", "d"]
    async with scheduler:
        for job_id in jobs:
            await scheduler.add_job(job_id, IntervalSchedule(INTERVAL))
        await until(lambda: all(recorder.count(j) >= 3 for j in jobs), timeout=10)
        store = scheduler.store
        assert isinstance(store, NATSStore)
        url = store.connection.connected_url
        assert url is not None
        victim = next(s for s in nats_cluster if s.port == url.port)
        await asyncio.to_thread(victim.kill)  # the node this worker is connected to
        killed = time.monotonic()
        counts = {j: recorder.count(j) for j in jobs}
        await until(
            lambda: all(recorder.count(j) >= counts[j] + 4 for j in jobs),
            timeout=30,
            what="every job running again with one node down",
        )
        recovered = time.monotonic() - killed
    for job_id in jobs:
        ticks = [e.scheduled_at for e in recorder.events[job_id]]
        assert len(ticks) == len(set(ticks)), f"{job_id}: a tick ran twice"
    print(f"\ncluster: one node killed, every job ran 4 more times within {recovered:.1f} s")


async def test_start_on_a_freshly_booted_cluster_is_bounded_and_logged(
    unstarted_cluster: NatsCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork.nats.trigger")
    for server in unstarted_cluster:
        server.start(wait=False)  # no waiting for the meta leader
    recorder = Recorder()
    trigger = NATSTrigger(
        unstarted_cluster.urls,
        ack_wait=3,
        replicas=3,
        jetstream_ready_timeout=20,
        start_phase_timeout=20,
        startup_stream_ready_timeout=20,
    )
    began = time.monotonic()
    async with AsyncScheduler(MemoryStore(), recorder, trigger=trigger) as scheduler:
        took = time.monotonic() - began
        await scheduler.add_job("j", IntervalSchedule(INTERVAL))
        await until(lambda: recorder.count("j") >= 2, timeout=10)
    assert took < 25
    phases = [r.getMessage() for r in caplog.records if "start phase" in r.getMessage()]
    for name in ("connect", "wait for JetStream", "provision", "stream leaders", "subscribe"):
        assert any(name in p for p in phases), f"phase {name!r} not logged: {phases}"
    print(f"\ncluster: start on a freshly booted cluster took {took:.1f} s")


async def test_start_without_a_meta_leader_fails_in_bounded_time(
    unstarted_cluster: NatsCluster,
) -> None:
    unstarted_cluster[0].start(wait=False)  # one node of three: no quorum, no leader
    trigger = NATSTrigger(
        unstarted_cluster[0].url,
        ack_wait=3,
        jetstream_ready_timeout=2,
        start_phase_timeout=3,
    )
    scheduler = AsyncScheduler(MemoryStore(), Recorder(), trigger=trigger)
    began = time.monotonic()
    with pytest.raises(StorageConnectionError, match="JetStream"):
        await scheduler.start()
    assert time.monotonic() - began < 10
    assert not scheduler.is_running
