"""Failures are typed, bounded in time, and survivable: no server, no JetStream, a
server killed (SIGKILL) and restarted mid-use on the same port and store directory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import nats.errors
import pytest
from nats.js import JetStreamContext
from support.nats_server import NatsServer, free_port

from tickwork import (
    ExecutionRecord,
    InvalidJobDataError,
    JobData,
    JobDataNotFoundError,
    JobStatus,
    StorageConnectionError,
    StorageOperationError,
    StoreURLError,
)
from tickwork.abc import IdLimitedStore
from tickwork_nats_store import NATSStore
from tickwork_nats_store._keys import MAX_TOKEN_LENGTH

pytestmark = pytest.mark.nats

T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def job(job_id: str, **changes: object) -> JobData:
    fields: dict[str, object] = {
        "id": job_id,
        "schedule_type": "interval",
        "schedule_config": "5m0s",
        "created_at": T0,
        "updated_at": T0,
        "next_run": T0,
        "metadata": {"n": job_id},
    }
    fields.update(changes)
    return JobData(**fields)  # type: ignore[arg-type]


def record(job_id: str, execution_id: str, minutes: int = 0) -> ExecutionRecord:
    start = T0 + timedelta(minutes=minutes)
    return ExecutionRecord(
        job_id=job_id,
        execution_id=execution_id,
        start_time=start,
        end_time=start + timedelta(seconds=1),
        duration=timedelta(seconds=1),
        status=JobStatus.COMPLETED,
    )


async def eventually(call: Callable[[], object], timeout: float = 15.0) -> None:
    """Retry ``call`` (a coroutine function) until it stops raising connection errors."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await call()  # type: ignore[misc]
            return
        except StorageConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture
async def store(nats_server: NatsServer) -> AsyncIterator[NATSStore]:
    store = NATSStore(
        nats_server.url, request_timeout=0.5, reconnect_time_wait=0.2, jetstream_ready_timeout=5
    )
    await store.initialize()
    try:
        yield store
    finally:
        await asyncio.wait_for(store.close(), 5)


async def test_no_server_fails_fast_with_a_connection_error() -> None:
    store = NATSStore(f"nats://127.0.0.1:{free_port()}", connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(StorageConnectionError, match="cannot connect") as info:
        await store.initialize()
    assert time.monotonic() - started < 3
    assert info.value.__cause__ is not None
    with pytest.raises(Exception, match="not initialized"):
        await store.get_job("x")
    await store.close()  # harmless


async def test_server_without_jetstream_fails_after_the_ready_timeout(
    nats_server_factory: Callable[..., NatsServer],
) -> None:
    server = nats_server_factory(jetstream=False)
    store = NATSStore(server.url, jetstream_ready_timeout=0.5, request_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StorageConnectionError, match="JetStream did not answer"):
        await store.initialize()
    assert time.monotonic() - started < 4
    assert store.owns_connection
    await store.close()


async def test_killed_server_gives_connection_errors_then_recovers_with_all_data(
    nats_server: NatsServer, store: NATSStore
) -> None:
    for i in range(20):
        await store.save_job(job(f"job-{i}"))
        await store.save_execution(record(f"job-{i}", f"exec-{i}", minutes=i))
    await store.update_job(job("job-0", status=JobStatus.DISABLED))

    nats_server.kill()
    started = time.monotonic()
    with pytest.raises(StorageConnectionError) as info:
        await store.get_job("job-1")
    assert time.monotonic() - started < 3  # bounded by request_timeout
    assert isinstance(info.value.__cause__, nats.errors.Error | asyncio.TimeoutError)
    with pytest.raises(StorageConnectionError):
        await store.list_jobs()
    with pytest.raises(StorageConnectionError):
        await store.health_check()
    with pytest.raises(StorageConnectionError, match="last execution of job 'job-5'"):
        await store.last_saved_execution("job-5")

    nats_server.restart()
    await eventually(store.health_check)
    assert await store.last_saved_execution("job-5") == record("job-5", "exec-5", minutes=5)

    assert [j.id for j in await store.list_jobs()] == sorted(f"job-{i}" for i in range(20))
    assert (await store.get_job("job-0")).status is JobStatus.DISABLED
    assert (await store.get_job("job-7")) == job("job-7")
    assert (await store.get_execution("exec-3")) == record("job-3", "exec-3", minutes=3)
    assert [r.execution_id for r in await store.list_executions("job-5")] == ["exec-5"]
    # And it keeps working: writes, compare-and-set updates, deletes.
    await store.save_job(job("after"))
    await store.update_job(job("after", status=JobStatus.FAILED))
    await store.delete_job("job-1")
    with pytest.raises(JobDataNotFoundError):
        await store.get_job("job-1")


async def test_every_acknowledged_write_survives_a_crash(
    nats_server: NatsServer, store: NATSStore
) -> None:
    acknowledged: list[str] = []
    stop = asyncio.Event()
    progress = asyncio.Event()  # set at each acknowledged write

    async def writer() -> None:
        i = 0
        while not stop.is_set():
            job_id = f"w-{i:05d}"
            i += 1
            try:
                await store.save_job(job(job_id))
            except StorageConnectionError:
                await asyncio.sleep(0.05)
                continue
            except Exception:  # a write retried after the crash may find its own copy
                continue
            acknowledged.append(job_id)
            progress.set()

    async def acknowledged_reach(count: int) -> None:
        while len(acknowledged) < count:
            progress.clear()
            await progress.wait()

    task = asyncio.create_task(writer())
    await asyncio.wait_for(acknowledged_reach(50), 10)
    nats_server.kill()  # mid-write
    before_crash = len(acknowledged)
    nats_server.restart()
    await eventually(store.health_check)
    await asyncio.wait_for(acknowledged_reach(before_crash + 20), 10)  # writes resume
    stop.set()
    await task

    stored = {j.id for j in await store.list_jobs()}
    assert set(acknowledged) <= stored


async def test_close_during_an_outage_does_not_hang(
    nats_server: NatsServer, store: NATSStore
) -> None:
    nats_server.kill()
    await asyncio.wait_for(store.close(), 3)
    with pytest.raises(Exception, match="not initialized"):
        await store.get_job("x")


async def test_initialize_fails_at_once_naming_a_port_that_refuses_then_works(
    nats_server: NatsServer,
) -> None:
    """A refused port is reported in a moment with its host and port, not after
    ``connect_timeout``; once the server is back, the same store initializes."""
    nats_server.kill()
    store = NATSStore(nats_server.url, connect_timeout=10, reconnect_time_wait=0.1)
    started = time.monotonic()
    with pytest.raises(StorageConnectionError, match="connection refused") as info:
        await store.initialize()
    assert time.monotonic() - started < 2
    assert f"127.0.0.1:{nats_server.port}" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    await asyncio.to_thread(nats_server.restart)
    try:
        await store.initialize()
        await store.health_check()
    finally:
        await store.close()


async def test_server_refusals_are_operation_errors_with_the_cause(
    nats_server: NatsServer,
) -> None:
    store = NATSStore(nats_server.url, max_value_size=512, exec_max_bytes=2048)
    await store.initialize()
    try:
        with pytest.raises(StorageOperationError) as info:
            await store.save_job(job("big", metadata={"blob": "x" * 2000}))
        assert isinstance(info.value.__cause__, nats.errors.Error)
        with pytest.raises(JobDataNotFoundError):
            await store.get_job("big")

        async def fill_the_bucket() -> int:
            for saved in range(100):
                await store.save_execution(record("j", f"e-{saved}"))
            return 100

        with pytest.raises(StorageOperationError, match="maximum bytes"):
            await fill_the_bucket()
    finally:
        await store.close()


async def test_corrupt_documents_are_unreadable_jobs(
    store: NATSStore, jetstream: JetStreamContext
) -> None:
    """(Every kind of damage: test_nats_unreadable_documents.)"""
    await store.save_job(job("ok"))
    kv = await jetstream.key_value(store.job_bucket)
    await kv.put("broken", b"{not json")
    await kv.put("impostor", (await kv.get("ok")).value or b"")
    assert (await store.get_job("broken")).unreadable == "document: '{not json' is not JSON"
    impostor = await store.get_job("impostor")
    assert impostor.unreadable == "id: 'ok' is not the id of its key ('impostor')"
    assert [(j.id, j.unreadable is None) for j in await store.list_jobs()] == [
        ("broken", False),
        ("impostor", False),
        ("ok", True),
    ]
    with pytest.raises(InvalidJobDataError, match="never written back"):
        await store.update_job(impostor)


async def test_the_last_record_past_a_removal_marker_and_a_damaged_one(
    store: NATSStore, jetstream: JetStreamContext
) -> None:
    """A key deleted by hand leaves a marker as the last message under the job's
    records: the record written before it is found through a scan. A damaged record
    written last is reported, naming its key."""
    kv = await jetstream.key_value(store.exec_bucket)
    await store.save_execution(record("job", "old"))
    await store.save_execution(record("job", "new", minutes=1))
    await store.save_execution(record("job.other", "x", minutes=2))  # another job's key
    await kv.delete("rec.job.new")
    assert await store.last_saved_execution("job") == record("job", "old")
    await kv.put("rec.job.bad", b"{not json")
    with pytest.raises(InvalidJobDataError, match=r"'rec\.job\.bad'"):
        await store.last_saved_execution("job")
    await kv.purge("rec.job.bad")  # a purge marker, then nothing live after "old"
    assert await store.last_saved_execution("job") == record("job", "old")
    await kv.delete("rec.job.old")
    assert await store.last_saved_execution("job") is None


async def test_a_deleted_bucket_is_reported(store: NATSStore, jetstream: JetStreamContext) -> None:
    await jetstream.delete_key_value(store.job_bucket)
    with pytest.raises((StorageOperationError, StorageConnectionError)):
        await store.health_check()
    with pytest.raises((StorageOperationError, StorageConnectionError)):
        await store.save_job(job("x"))
    # A fresh initialize() recreates what is missing.
    await store.close()
    await store.initialize()
    await store.save_job(job("x"))


async def test_ids_up_to_the_length_limit_work_and_longer_ones_are_rejected(
    store: NATSStore,
) -> None:
    longest = "x" * MAX_TOKEN_LENGTH  # two of them in one key still fit a protocol line
    await store.save_job(job(longest))
    await store.save_execution(record(longest, longest))
    assert (await store.get_job(longest)).id == longest
    assert [r.execution_id for r in await store.list_executions(longest)] == [longest]
    assert (await store.get_execution(longest)).job_id == longest

    too_long = "é" * 300  # 600 UTF-8 bytes: 1800 key characters
    with pytest.raises(InvalidJobDataError, match="too long") as info:
        await store.save_job(job(too_long))
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidJobDataError, match="too long"):
        await store.save_execution(record("ok", too_long))
    with pytest.raises(JobDataNotFoundError):
        await store.get_job(too_long)
    with pytest.raises(JobDataNotFoundError):
        await store.update_job(job(too_long))
    with pytest.raises(JobDataNotFoundError):
        await store.delete_job(too_long)
    with pytest.raises(LookupError):
        await store.get_execution(too_long)
    assert await store.list_executions(too_long) == []
    await store.delete_executions(too_long, T0)
    await store.health_check()  # the connection was never disturbed


def test_an_at_sign_in_a_password_is_refused_at_construction_without_the_secret() -> None:
    with pytest.raises(StoreURLError) as info:
        NATSStore("nats://app:p@ss@127.0.0.1:4222")
    text = str(info.value)
    assert "connect_options" in text
    assert "'127.0.0.1:4222'" in text
    assert "ss@" not in text
    assert isinstance(info.value, ValueError)


def test_passwords_and_tokens_stay_out_of_repr() -> None:
    shown = repr(NATSStore(["nats://app:s3cret@a:4222", "nats://t0ken@b:4222"]))
    assert "s3cret" not in shown
    assert "t0ken" not in shown
    assert "nats://app:***@a:4222" in shown
    assert "nats://***@b:4222" in shown


def test_the_store_declares_the_ids_it_holds() -> None:
    store = NATSStore()
    assert isinstance(store, IdLimitedStore)
    assert store.max_id_length == 125
    assert store.id_too_long("x" * MAX_TOKEN_LENGTH) is None
    reason = store.id_too_long("é" * 300)
    assert reason is not None
    assert "1800" in reason
