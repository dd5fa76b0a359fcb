"""The ``nats`` store is found through the ``tickwork`` entry point, by name and by URL."""

from __future__ import annotations

import pytest
from support.nats_server import NatsServer

import tickwork
from tickwork_nats_store import NATSStore

pytestmark = pytest.mark.nats


def test_registered_under_its_name() -> None:
    assert "nats" in tickwork.available_plugins()["stores"]


def test_create_store_by_name_passes_options() -> None:
    store = tickwork.create_store("nats", servers="nats://127.0.0.1:4222", job_bucket="J")
    assert isinstance(store, NATSStore)
    assert store.servers == ("nats://127.0.0.1:4222",)
    assert store.job_bucket == "J"


@pytest.mark.parametrize("url", ["nats://127.0.0.1:4222", "tls://nats.example.com:4222"])
def test_create_store_by_url(url: str) -> None:
    store = tickwork.create_store(url, exec_bucket="E")
    assert isinstance(store, NATSStore)
    assert store.servers == (url,)
    assert store.exec_bucket == "E"


def test_a_nats_store_is_a_store() -> None:
    assert isinstance(NATSStore(), tickwork.Store)


async def test_created_by_url_works(nats_server: NatsServer) -> None:
    store = tickwork.create_store(nats_server.url)
    await store.initialize()
    try:
        await store.health_check()
        assert await store.list_jobs() == []
    finally:
        await store.close()
