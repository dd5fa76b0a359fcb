"""A job document the NATS KV store cannot read is quarantined on its own (issue 13).

Each kind of damage is a raw value put into the job bucket of a real nats-server, as
another program (or ``nats kv put``) would leave it. ``list_jobs`` and ``get_job`` hand
it back as :meth:`tickwork.JobData.unreadable_row` with a reason naming the field and
the value; the other jobs read as before; nothing writes it back; ``tickwork jobs
list`` shows it and exits 0.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.js import JetStreamContext
from support.nats_server import NatsServer

import tickwork
from tickwork import InvalidJobDataError, JobData, JobStatus
from tickwork.cli import main
from tickwork_nats_store import NATSStore

pytestmark = pytest.mark.nats

T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
GOOD = ["alpha", "omega"]


def job(job_id: str) -> JobData:
    return JobData(
        id=job_id,
        schedule_type="interval",
        schedule_config="5m0s",
        next_run=T0,
        created_at=T0,
        updated_at=T0,
        metadata={"team": "core"},
    )


def document(job_id: str, **changes: Any) -> bytes:
    """A good job document with ``changes`` (a value of ``...`` removes the field)."""
    doc: dict[str, Any] = {
        "v": 1,
        "id": job_id,
        "schedule_type": "interval",
        "schedule_config": "5m0s",
        "status": "pending",
        "next_run": "2025-01-02T03:04:05.123456Z",
        "last_run": None,
        "created_at": "2025-01-02T03:04:05.123456Z",
        "updated_at": "2025-01-02T03:04:05.123456Z",
        "metadata": {"team": "core"},
    }
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc).encode()


#: job id -> (the raw value put under its key, the reason it must be listed with)
DAMAGES: dict[str, tuple[bytes, str]] = {
    "not-json": (b"{not json", "document: '{not json' is not JSON"),
    "a-list": (b"[1, 2]", "document: [1, 2] is not a JSON object"),
    "no-status": (document("no-status", status=...), "status: missing"),
    "bad-status": (document("bad-status", status="weird"), "status: 'weird' is not a job status"),
    "bad-next-run": (
        document("bad-next-run", next_run="2024-13-99"),
        "next_run: '2024-13-99' is not a time (RFC 3339)",
    ),
    "number-time": (document("number-time", last_run=17), "last_run: 17 is not a time"),
    "no-created": (document("no-created", created_at=...), "created_at: missing"),
    "null-updated": (document("null-updated", updated_at=None), "updated_at: null"),
    "number-value": (
        document("number-value", metadata={"team": "core", "x": 3}),
        "metadata: value of 'x' is 3, not a string",
    ),
    "metadata-text": (
        document("metadata-text", metadata="team=core"),
        "metadata: 'team=core' is not a JSON object",
    ),
    "number-config": (
        document("number-config", schedule_config=5),
        "schedule_config: 5 is not a string",
    ),
    "other-id": (
        document("someone-else"),
        "id: 'someone-else' is not the id of its key ('other-id')",
    ),
    "newer": (
        document("newer", v=2),
        "v: 2 is not format version 1 (this tickwork-nats-store reads only that one: upgrade it)",
    ),
    "two-faults": (
        document("two-faults", status="weird", metadata=[]),
        "status: 'weird' is not a job status; metadata: [] is not a JSON object",
    ),
}


@pytest.fixture
async def damaged(nats_server: NatsServer, jetstream: JetStreamContext) -> AsyncIterator[NATSStore]:
    """A store holding the good jobs and one damaged document per kind of damage."""
    store = NATSStore(nats_server.url)
    await store.initialize()
    try:
        for job_id in GOOD:
            await store.save_job(job(job_id))
        kv = await jetstream.key_value(store.job_bucket)
        for job_id, (raw, _) in DAMAGES.items():
            await kv.put(job_id, raw)
        yield store
    finally:
        await store.close()


def assert_unreadable(found: JobData, job_id: str) -> None:
    assert found.id == job_id
    assert found.unreadable == DAMAGES[job_id][1]
    assert found.status is JobStatus.DISABLED  # nothing that ignores `unreadable` runs it
    assert found.next_run is None


async def test_list_and_get_hand_back_each_unreadable_document_on_its_own(
    damaged: NATSStore,
) -> None:
    listed = await damaged.list_jobs()
    assert [j.id for j in listed] == sorted([*GOOD, *DAMAGES])
    for found in listed:
        if found.id in DAMAGES:
            assert_unreadable(found, found.id)
        else:
            assert found == job(found.id)
    for job_id in DAMAGES:
        assert_unreadable(await damaged.get_job(job_id), job_id)
    # What can be read is kept, so that a listing still shows what the job was.
    kept = await damaged.get_job("bad-status")
    assert (kept.schedule_type, kept.schedule_config, kept.metadata) == (
        "interval",
        "5m0s",
        {"team": "core"},
    )
    pending = await damaged.list_jobs_by_status(JobStatus.PENDING)
    assert [j.id for j in pending] == GOOD


async def test_an_unreadable_document_is_never_written_back(
    damaged: NATSStore, jetstream: JetStreamContext
) -> None:
    kv = await jetstream.key_value(damaged.job_bucket)
    stand_in = await damaged.get_job("bad-status")
    before = await kv.get("bad-status")
    for write in (damaged.update_job(stand_in), damaged.update_job_if(stand_in, T0)):
        with pytest.raises(InvalidJobDataError, match="bad-status") as excinfo:
            await write
        assert "never written back" in str(excinfo.value)
    # A readable job written on condition of a version the stand-in never had loses.
    assert not await damaged.update_job_if(job("bad-status"), T0)
    after = await kv.get("bad-status")
    assert (after.value, after.revision) == (before.value, before.revision)
    await damaged.delete_job("bad-status")  # the way out: remove it
    with pytest.raises(tickwork.JobDataNotFoundError):
        await damaged.get_job("bad-status")


async def test_the_cli_lists_every_job_and_says_why_one_cannot_be_read(
    damaged: NATSStore, nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(main, ["jobs", "--store", nats_server.url, "list"]) == 0
    out = capsys.readouterr().out
    for job_id in GOOD:
        assert job_id in out
    for job_id, (_, reason) in DAMAGES.items():
        assert f"job {job_id!r} cannot be read: {reason}" in out
    assert await asyncio.to_thread(main, ["history", "--store", nats_server.url, "alpha"]) == 0


async def test_a_scheduler_starts_beside_unreadable_documents(
    damaged: NATSStore, nats_server: NatsServer
) -> None:
    async def handler(event: tickwork.JobEvent) -> None:
        pass

    scheduler = tickwork.AsyncScheduler(NATSStore(nats_server.url), handler)
    await scheduler.start()
    try:
        assert {j.id for j in await scheduler.list_jobs()} >= set(GOOD)
    finally:
        await scheduler.stop()
    for job_id in DAMAGES:  # it wrote nothing over them
        assert (await damaged.get_job(job_id)).unreadable == DAMAGES[job_id][1]
