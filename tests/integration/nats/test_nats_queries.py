"""NATSStore answers the browsing queries (tickwork.abc.QueryableStore), paging in
Python over its scans: the query contract against a real nats-server of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from nats.js import JetStreamContext
from support.nats_server import NatsServer

from tickwork import StoreQueries
from tickwork.abc import QueryableStore, Store
from tickwork.testing import UnreadableRowsQueryContract
from tickwork_nats_store import NATSStore

pytestmark = pytest.mark.nats


class TestNATSQueries(UnreadableRowsQueryContract):
    @pytest.fixture
    def make_store(self, nats_server: NatsServer) -> Callable[[], Store]:
        return lambda: NATSStore(nats_server.url, connect_timeout=3, jetstream_ready_timeout=5)

    @pytest.fixture
    def damage_job(self) -> Callable[[Store, str], Awaitable[None]]:
        async def damage(store: Store, job_id: str) -> None:
            assert isinstance(store, NATSStore)
            assert job_id.replace("-", "").isalnum()  # its key is the id itself
            kv = await store.jetstream.key_value(store.job_bucket)
            await kv.put(job_id, b"{not json")

        return damage

    @pytest.fixture
    def backend_objects(self, jetstream: JetStreamContext) -> Callable[[], Awaitable[set[str]]]:
        """Streams (the buckets) and their durable state: scans leave no consumer."""

        async def objects() -> set[str]:
            names: set[str] = set()
            for info in await jetstream.streams_info():
                names.add(info.config.name or "")
                for consumer in await jetstream.consumers_info(info.config.name or ""):
                    names.add(f"{info.config.name}/{consumer.name}")
            return names

        return objects


def test_the_nats_store_is_queryable() -> None:
    store = NATSStore("nats://127.0.0.1:4222")
    assert isinstance(store, QueryableStore)
    assert StoreQueries(store).native
