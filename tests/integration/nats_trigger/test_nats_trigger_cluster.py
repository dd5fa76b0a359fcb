"""The NATS trigger on a 3-node JetStream cluster (loopback, replicas 3)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, Placement, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from support.nats_server import NatsCluster, NatsServer
from support.waiting import until

from tickwork import AsyncScheduler, IntervalSchedule, JobEvent, MemoryStore, StorageConnectionError
from tickwork.abc import Delivery
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

    def twice(self, job_id: str) -> list[str]:
        """The ticks of ``job_id`` that ran more than once, each with its starts."""
        starts: dict[datetime, list[str]] = defaultdict(list)
        for event in self.events[job_id]:
            starts[event.scheduled_at].append(f"{event.started_at:%H:%M:%S.%f}")
        return [f"{tick:%H:%M:%S.%f} started {at}" for tick, at in starts.items() if len(at) > 1]


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
        assert not recorder.twice(job_id), f"{job_id}: a tick ran twice: {recorder.twice(job_id)}"
    print(f"\ncluster: one node killed, every job ran 4 more times within {recovered:.1f} s")


@pytest.fixture
def tagged_cluster(nats_binary: Path) -> Iterator[NatsCluster]:
    """A 3-node cluster whose nodes carry the tag ``node:<name>`` (for placement)."""
    cluster = NatsCluster(3)
    for server in cluster:
        server.binary = nats_binary
        server.config = f'server_tags: ["node:{server.server_name}"]\n'
    try:
        yield cluster.start()
    finally:
        cluster.cleanup()


def _listening(server: NatsServer) -> bool:
    """Whether the node's client port takes connections (a loaded machine can take a
    moment to start the process; the node need not have a meta leader yet)."""
    try:
        socket.create_connection((server.host, server.port), timeout=0.2).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def frozen(server: NatsServer) -> Iterator[None]:
    """The node stops answering (SIGSTOP, a paused VM) until the block ends."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


@pytest.mark.parametrize("workers", [1, 2], ids=["same worker", "two workers"])
async def test_a_message_redelivered_while_its_claim_is_written_is_handed_out_once(
    tagged_cluster: NatsCluster, workers: int
) -> None:
    """The cause of a tick run twice when a node was lost under load: the claims bucket
    does not answer for longer than the ack wait, so the server redelivers the due
    message, to the worker still claiming it or to another one. Each delivery found the
    claim "carried by this very message" (a takeover) and each was handed out. Here
    the claims bucket's node is frozen while the message comes due and is redelivered;
    the stream and the workers' connections are on another node."""
    ack_wait = 1.0
    want = NATSTrigger(ack_wait=ack_wait).provisioning
    claims_node, other = await _claims_bucket_apart(tagged_cluster, want.claim_bucket)
    triggers = [
        NATSTrigger(other.url, ack_wait=ack_wait, request_timeout=20) for _ in range(workers)
    ]
    nc = await nats.connect(other.url)
    try:
        js = nc.jetstream()
        await _stream_on(js, want.stream_config(), other)
        handed: list[tuple[str, datetime]] = []

        def dispatch(delivery: Delivery) -> None:
            handed.append((delivery.job_id, delivery.scheduled_at))
            asyncio.get_running_loop().call_later(0.5, asyncio.ensure_future, delivery.ack())

        for trigger in triggers:
            await trigger.start(dispatch)
        try:
            run_at = datetime.now(UTC) + timedelta(seconds=0.5)
            await triggers[0].arm("j", run_at)
            with frozen(claims_node):
                # Due, delivered, claimed in vain, redelivered meanwhile.
                await asyncio.sleep(0.5 + 3.5 * ack_wait)
                consumer = await js.consumer_info(want.stream_name, want.consumer_name)
            assert consumer.delivered.consumer_seq >= 2, "the message was never redelivered"
            await until(lambda: bool(handed), timeout=20, what="the run handed out")
            await asyncio.sleep(3 * ack_wait)  # time for a second hand-out
        finally:
            for trigger in triggers:
                await trigger.stop()
    finally:
        await nc.close()
    assert handed == [("j", run_at)], f"handed out {len(handed)} times: {handed}"


async def _stream_on(js: JetStreamContext, config: StreamConfig, node: NatsServer) -> None:
    """Create the trigger's stream on ``node`` (by its tag)."""
    placed = dataclasses.replace(config, placement=Placement(tags=[f"node:{node.server_name}"]))
    refused = ""
    for _ in range(150):  # the meta leader learns the nodes' tags a moment after boot
        try:
            await js.add_stream(placed)
            return
        except BadRequestError as exc:
            if exc.err_code != 10005:  # no suitable peers (tags not known yet, or offline)
                raise
            refused = str(exc.description)
            await asyncio.sleep(0.2)
    raise AssertionError(f"the stream could not be placed on {node.server_name}: {refused}")


async def _claims_bucket_apart(cluster: NatsCluster, bucket: str) -> tuple[NatsServer, NatsServer]:
    """Create the claims bucket (one replica, wherever the cluster puts it: nats-py
    does not pass a bucket's placement on); its node, and another node."""
    nc = await nats.connect(cluster.urls)
    try:
        js = nc.jetstream()
        await js.create_key_value(KeyValueConfig(bucket=bucket, storage=StorageType.FILE))
        leader = (await js.stream_info(f"KV_{bucket}")).cluster.leader  # type: ignore[union-attr]
    finally:
        await nc.close()
    node = next(s for s in cluster if s.server_name == leader)
    return node, next(s for s in cluster if s is not node)


async def test_start_on_a_freshly_booted_cluster_is_bounded_and_logged(
    unstarted_cluster: NatsCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork.nats.trigger")
    for server in unstarted_cluster:
        server.start(wait=False)  # no waiting for the meta leader
    for server in unstarted_cluster:
        await until(lambda s=server: _listening(s), timeout=20, what=f"{server} to listen")
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
