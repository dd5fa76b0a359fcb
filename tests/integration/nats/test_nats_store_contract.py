"""NATSStore runs the reusable store contract against a real nats-server, both with a
connection of its own (``servers=``) and with a caller's JetStream context (``js=``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from support.nats_server import NatsServer

from tickwork import ExecutionRecord
from tickwork.abc import Store
from tickwork.testing import (
    ConditionalUpdateStoreContract,
    ConnectionLeakCheck,
    FinishingStoreContract,
    IdLimitedStoreContract,
    LastRecordStoreContract,
)
from tickwork_nats_store import NATSStore

pytestmark = pytest.mark.nats


class TestNATSStoreOwnConnection(
    ConditionalUpdateStoreContract,
    FinishingStoreContract,
    IdLimitedStoreContract,
    LastRecordStoreContract,
):
    persistent = True

    @pytest.fixture
    def make_store(
        self,
        nats_server: NatsServer,
        tickwork_connection_leaks: Callable[[str, int], ConnectionLeakCheck],
    ) -> Callable[[], Store]:
        # Every store a test makes owns a connection: each must be gone after the test.
        tickwork_connection_leaks(nats_server.host, nats_server.port)
        return lambda: NATSStore(nats_server.url, connect_timeout=3, jetstream_ready_timeout=5)


class TestNATSStoreSharedConnection(ConditionalUpdateStoreContract, FinishingStoreContract):
    persistent = True

    @pytest.fixture
    def make_store(self, jetstream: JetStreamContext) -> Callable[[], Store]:
        return lambda: NATSStore(js=jetstream, jetstream_ready_timeout=5)


async def test_close_leaves_a_given_connection_open(
    nats_client: Client, jetstream: JetStreamContext
) -> None:
    store = NATSStore(js=jetstream)
    assert not store.owns_connection
    await store.initialize()
    assert store.jetstream is jetstream
    assert store.connection is nats_client
    await store.close()
    assert nats_client.is_connected
    await store.initialize()  # usable again over the same connection
    await store.health_check()
    await store.close()


async def test_own_connection_is_exposed_and_closed(nats_server: NatsServer) -> None:
    store = NATSStore([nats_server.url])
    assert store.owns_connection
    await store.initialize()
    nc = store.connection
    assert nc.is_connected
    info = await store.jetstream.account_info()  # reusable by other components
    assert info.streams == 3  # the job, execution and lock buckets
    await store.close()
    assert nc.is_closed
    with pytest.raises(Exception, match="not initialized"):
        _ = store.jetstream


async def test_custom_bucket_names(nats_server: NatsServer, jetstream: JetStreamContext) -> None:
    store = NATSStore(nats_server.url, job_bucket="MY_JOBS", exec_bucket="MY_EXECS")
    await store.initialize()
    try:
        names = sorted(str(s.config.name) for s in await jetstream.streams_info())
        assert names == ["KV_MY_EXECS", "KV_MY_JOBS", "KV_SCHEDULER_LOCKS"]
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"servers": "nats://a:4222", "js": object()}, "either"),
        ({"job_bucket": "has.dot"}, "job_bucket"),
        ({"exec_bucket": ""}, "exec_bucket"),
        ({"job_bucket": "SAME", "exec_bucket": "SAME"}, "different"),
        ({"replicas": 0}, "replicas"),
        ({"storage": "disk"}, "storage"),
        ({"connect_timeout": 0}, "greater than 0"),
        ({"jetstream_ready_timeout": -1}, "jetstream_ready_timeout"),
        ({"exec_ttl": 0}, "exec_ttl"),
        ({"servers": []}, "servers"),
        ({"once_key": ""}, "once_key"),
    ],
)
def test_bad_options_are_rejected_at_construction(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NATSStore(**kwargs)  # type: ignore[arg-type]


def test_servers_accepts_a_list_or_a_comma_separated_string() -> None:
    assert NATSStore("nats://a:4222, nats://b:4222").servers == ("nats://a:4222", "nats://b:4222")
    assert NATSStore(["tls://a:4222"]).servers == ("tls://a:4222",)
    assert NATSStore().servers == ("nats://127.0.0.1:4222",)
    assert "SCHEDULER_JOBS" in repr(NATSStore())


async def test_an_execution_saved_under_another_job_moves(nats_server: NatsServer) -> None:
    store = NATSStore(nats_server.url)
    await store.initialize()
    try:
        start = datetime(2025, 1, 1, tzinfo=UTC)
        first = ExecutionRecord(job_id="a", execution_id="e", start_time=start, end_time=start)
        await store.save_execution(first)
        moved = ExecutionRecord(job_id="b", execution_id="e", start_time=start, end_time=start)
        await store.save_execution(moved)
        assert await store.list_executions("a") == []
        assert await store.list_executions("b") == [moved]
        assert await store.get_execution("e") == moved
    finally:
        await store.close()


async def test_bucket_options_apply_to_new_buckets(
    nats_server: NatsServer, jetstream: JetStreamContext
) -> None:
    store = NATSStore(
        nats_server.url,
        storage="memory",
        max_value_size=4096,
        job_max_bytes=1 << 20,
        exec_max_bytes=2 << 20,
        exec_ttl=timedelta(days=7),
    )
    await store.initialize()
    await store.close()
    jobs = (await jetstream.stream_info("KV_SCHEDULER_JOBS")).config
    execs = (await jetstream.stream_info("KV_SCHEDULER_EXECUTIONS")).config
    assert jobs.storage == execs.storage == api.StorageType.MEMORY
    assert jobs.max_msg_size == execs.max_msg_size == 4096
    assert (jobs.max_bytes, execs.max_bytes) == (1 << 20, 2 << 20)
    assert jobs.max_age in (None, 0)
    assert execs.max_age == 7 * 86400
    assert jobs.max_msgs_per_subject == execs.max_msgs_per_subject == 1
