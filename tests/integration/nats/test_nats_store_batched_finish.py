"""``finish_runs`` with atomic batches, batched job reads and listings without
consumers (NATS Server 2.12+).

The finishes of one call go to the server as one atomic batch of records and one of
job writes, each job on condition of the revision it was read at; reads asked for
together are one batched direct get. A batch the server rejects (someone wrote a job
since it was read, a record id that exists) is written key by key, deciding again:
these tests make each of those happen against a real server and check what is stored.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import attrs
import pytest
from nats.js import JetStreamContext, api
from support.nats_publishes import observing_publishes
from support.nats_server import NatsServer
from support.rows import T0
from support.rows import job_row as job

from tickwork import FinishOutcome, RunFinish
from tickwork.testing import make_record
from tickwork_nats_store import NATSStore

pytestmark = pytest.mark.nats

LATER = T0 + timedelta(seconds=1)


@pytest.fixture
async def stores(nats_server: NatsServer) -> AsyncIterator[list[NATSStore]]:
    """Two initialized stores with a connection each (like two processes)."""
    made = [NATSStore(nats_server.url) for _ in range(2)]
    for store in made:
        await store.initialize()
    try:
        yield made
    finally:
        await asyncio.gather(*(s.close() for s in made))


@pytest.fixture
def requests() -> Iterator[Counter[str]]:
    """Requests (messages that wait for an answer) sent meanwhile, by stream or bucket."""
    counted: Counter[str] = Counter()

    def seen(subject: str, _payload: bytes, reply: str) -> None:
        if not reply:
            return
        if subject.startswith("$KV."):
            counted["write " + subject.split(".")[1]] += 1
        elif subject.startswith(("$JS.API.DIRECT.GET.", "$JS.API.STREAM.MSG.GET.")):
            counted["read " + subject.split(".")[4]] += 1
        elif subject.startswith("$JS.API.CONSUMER."):
            counted["consumer " + subject.split(".")[3].lower()] += 1

    with observing_publishes(seen):
        yield counted


def finish(job_id: str, n: int, **metadata: str) -> RunFinish:
    return RunFinish(
        records=(make_record(job_id, f"{job_id}-run-{n}"),),
        job=attrs.evolve(job(job_id, **metadata), updated_at=LATER),
        seen=T0,
    )


async def test_a_batch_of_finishes_is_two_writes_and_reads_are_batched(
    stores: list[NATSStore], requests: Counter[str]
) -> None:
    mine = stores[0]
    ids = [f"job-{i}" for i in range(40)]
    for job_id in ids:
        await mine.save_job(job(job_id))
    requests.clear()
    read = await asyncio.gather(*(mine.get_job(job_id) for job_id in ids))
    assert [j.id for j in read] == ids
    assert requests["read KV_SCHEDULER_JOBS"] <= 2, requests  # one, and one for stragglers
    requests.clear()
    outcomes = await mine.finish_runs([finish(job_id, 1, v="done") for job_id in ids])
    assert outcomes == [FinishOutcome.STORED] * len(ids)
    assert requests == Counter({"write SCHEDULER_EXECUTIONS": 1, "write SCHEDULER_JOBS": 1})
    other = stores[1]
    for job_id in ids:
        stored = await other.get_job(job_id)
        assert stored.metadata == {"v": "done"}
        assert stored.updated_at == LATER
        [record] = await other.list_executions(job_id)
        assert record.execution_id == f"{job_id}-run-1"
        assert (await other.get_execution(record.execution_id)).job_id == job_id


async def test_a_job_written_since_its_read_is_decided_again(
    stores: list[NATSStore], requests: Counter[str]
) -> None:
    """Another process writes two jobs between our read and our finish: one keeps its
    version (the finish is STORED over it), one moves it (CHANGED, the other write
    stays); the rest of the batch is written as it was."""
    mine, other = stores
    for job_id in ("same", "moved", "quiet"):
        await mine.save_job(job(job_id))
        await mine.get_job(job_id)  # the version the run started from
    await other.update_job(job("same", v="other"))
    await other.update_job(attrs.evolve(job("moved", v="other"), updated_at=T0 + timedelta(5)))
    requests.clear()
    outcomes = await mine.finish_runs(
        [finish("same", 1, v="mine"), finish("moved", 1, v="mine"), finish("quiet", 1, v="mine")]
    )
    assert outcomes == [FinishOutcome.STORED, FinishOutcome.CHANGED, FinishOutcome.STORED]
    assert requests["write SCHEDULER_JOBS"] > 1  # the batch was rejected: key by key
    assert (await other.get_job("same")).metadata == {"v": "mine"}
    assert (await other.get_job("moved")).metadata == {"v": "other"}
    assert (await other.get_job("quiet")).metadata == {"v": "mine"}
    for job_id in ("same", "moved", "quiet"):
        assert len(await other.list_executions(job_id)) == 1


async def test_records_saved_again_or_moved_fall_back_key_by_key(
    stores: list[NATSStore],
) -> None:
    mine, other = stores
    await mine.save_job(job("a"))
    await mine.save_job(job("b"))
    first = make_record("a", "shared-id")
    assert await mine.finish_runs([RunFinish(records=(first,))]) == [FinishOutcome.STORED]
    # The same record again (a retried finish), then its id under another job.
    assert await mine.finish_runs([RunFinish(records=(first,))]) == [FinishOutcome.STORED]
    assert [r.execution_id for r in await other.list_executions("a")] == ["shared-id"]
    moved = make_record("b", "shared-id")
    fresh = make_record("b", "fresh-id")
    await mine.finish_runs([RunFinish(records=(moved, fresh))])
    assert await other.list_executions("a") == []
    assert {r.execution_id for r in await other.list_executions("b")} == {"shared-id", "fresh-id"}
    assert (await other.get_execution("shared-id")).job_id == "b"


async def test_removed_and_unread_jobs(stores: list[NATSStore]) -> None:
    """A job removed since it was read is MISSING; one never read is read, then written."""
    mine, other = stores
    await mine.save_job(job("gone"))
    await mine.get_job("gone")
    await other.save_job(job("unread"))
    await other.delete_job("gone")
    outcomes = await mine.finish_runs([finish("gone", 1), finish("unread", 1, v="mine")])
    assert outcomes == [FinishOutcome.MISSING, FinishOutcome.STORED]
    assert (await other.get_job("unread")).metadata == {"v": "mine"}
    assert len(await other.list_executions("gone")) == 1  # records are always saved


async def test_a_read_only_store_leaves_the_buckets_settings_alone(
    nats_server: NatsServer, jetstream: JetStreamContext
) -> None:
    """``create=False`` (commands that only read) turns nothing on in the buckets."""
    for name in ("SCHEDULER_JOBS", "SCHEDULER_EXECUTIONS"):
        await jetstream.create_key_value(config=api.KeyValueConfig(bucket=name, history=1))
    before = {
        name: (await jetstream.stream_info(name)).config
        for name in ("KV_SCHEDULER_JOBS", "KV_SCHEDULER_EXECUTIONS")
    }
    store = NATSStore(nats_server.url, create=False)
    await store.initialize()
    try:
        assert await store.list_jobs() == []
    finally:
        await store.close()
    for name, config in before.items():
        after = (await jetstream.stream_info(name)).config
        assert (after.allow_atomic, after.allow_direct) == (
            config.allow_atomic,
            config.allow_direct,
        )


async def test_listings_need_no_consumer(stores: list[NATSStore], requests: Counter[str]) -> None:
    """A listing (every job, one job's history) is batched direct gets on a bucket with
    one replica, not an ordered consumer created and deleted for each."""
    mine, other = stores
    for i in range(1500):  # more than one batch of a listing
        await mine.save_job(job(f"job-{i:04}"))
    await mine.finish_runs(
        [RunFinish(records=(make_record("job-0000", f"e{n}", n),)) for n in range(3)]
    )
    requests.clear()
    listed = await other.list_jobs()
    assert [j.id for j in listed] == [f"job-{i:04}" for i in range(1500)]
    history = await other.list_executions("job-0000")
    assert sorted(r.execution_id for r in history) == ["e0", "e1", "e2"]
    await other.delete_job("job-0001")
    assert len(await other.list_jobs()) == 1499  # a deleted key is left out
    assert not [kind for kind in requests if kind.startswith("consumer")], requests
