"""A key whose last message is a removal marker is gone for every reader of the store.

nats-server 2.11+ leaves a message with a ``Nats-Marker-Reason`` header when a TTL or
a limit removes a key; here one is published by hand on a real server, as the server
would leave it. The batched read (direct gets), the scan and the last record of a job
must agree that the key does not exist. (A key-by-key read goes through nats-py's
``KeyValue.get``, which does not hand back headers: a job there reads as unreadable.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from nats.js import JetStreamContext
from support.nats_server import NatsServer

from tickwork import ExecutionRecord, JobData
from tickwork_nats_store import NATSStore, read_last_many
from tickwork_nats_store._removals import KV_MARKER_REASON, is_removal

pytestmark = pytest.mark.nats

T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_what_counts_as_a_removal() -> None:
    assert is_removal({"KV-Operation": "DEL"})
    assert is_removal({"KV-Operation": "PURGE"})
    assert is_removal({KV_MARKER_REASON: "MaxAge"})
    assert not is_removal({"KV-Operation": "PUT"})
    assert not is_removal({"Nats-Msg-Id": "x"})
    assert not is_removal({})
    assert not is_removal(None)


@pytest.fixture
async def store(nats_server: NatsServer) -> AsyncIterator[NATSStore]:
    store = NATSStore(nats_server.url, jetstream_ready_timeout=5)
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()


async def _mark_removed(js: JetStreamContext, bucket: str, key: str) -> None:
    await js.publish(f"$KV.{bucket}.{key}", b"", headers={KV_MARKER_REASON: "MaxAge"})


async def test_the_batched_read_and_the_scan_agree_on_a_removed_job(
    store: NATSStore, jetstream: JetStreamContext
) -> None:
    for job_id in ("kept", "expired"):
        await store.save_job(
            JobData(id=job_id, schedule_type="interval", schedule_config="5m0s", next_run=T0)
        )
    await _mark_removed(jetstream, store.job_bucket, "expired")
    prefix = f"$KV.{store.job_bucket}."
    found = await read_last_many(
        store.connection, f"KV_{store.job_bucket}", [prefix + "kept", prefix + "expired"], 5
    )
    assert list(found) == [prefix + "kept"]
    assert [job.id for job in await store.list_jobs()] == ["kept"]


async def test_a_record_removed_by_a_marker_is_not_the_last_one(
    store: NATSStore, jetstream: JetStreamContext
) -> None:
    records = [
        ExecutionRecord(
            job_id="job",
            execution_id=f"run-{i}",
            start_time=T0 + timedelta(minutes=i),
            end_time=T0 + timedelta(minutes=i, seconds=1),
        )
        for i in range(2)
    ]
    for record in records:
        await store.save_execution(record)
    await _mark_removed(jetstream, store.exec_bucket, "rec.job.run-1")
    assert await store.last_saved_execution("job") == records[0]
    assert await store.list_executions("job") == [records[0]]
