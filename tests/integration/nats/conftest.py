"""Fixtures that start real ``nats-server`` processes (see :mod:`support.nats_server`).

- ``nats_server``: a fresh single server with JetStream, per test (it starts in a few
  milliseconds, so every test gets an empty backend and may kill or restart it);
- ``nats_server_factory``: start more servers, with options (``config=``,
  ``jetstream=False``, a shared ``store_dir=``…); all are stopped after the test;
- ``nats_cluster``: three routed JetStream nodes ``n1``..``n3`` (slower: ~1 s);
- ``nats_client`` / ``jetstream``: a nats-py connection to ``nats_server``, closed after.

Without the binary the tests skip, and fail under ``CI=true`` (``support.services``).
Every process is stopped even when the test fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from support.nats_server import NatsServer


@pytest.fixture
async def nats_client(nats_server: NatsServer) -> AsyncIterator[Client]:
    """A nats-py connection to ``nats_server`` (closed after the test)."""
    nc = await nats.connect(nats_server.url, connect_timeout=2, max_reconnect_attempts=-1)
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
def jetstream(nats_client: Client) -> JetStreamContext:
    """The JetStream context of ``nats_client``."""
    return nats_client.jetstream()
