"""Fixtures that start real ``nats-server`` processes (see :mod:`support.nats_server`).

Loaded for the whole suite by ``tests/conftest.py`` (``pytest_plugins``), so the NATS
store and the NATS trigger tests share one definition:

- ``nats_binary``: the ``nats-server`` 2.12+ executable; without it the test skips, and
  fails under ``CI=true`` (``support.services``);
- ``nats_server``: a fresh single server with JetStream, per test (it starts in a few
  milliseconds, so every test gets an empty backend and may kill or restart it);
- ``nats_server_factory``: start more servers, with options (``config=``,
  ``jetstream=False``, a shared ``store_dir=``...); all are stopped after the test;
- ``nats_cluster``: three routed JetStream nodes ``n1``..``n3`` (slower: ~1 s).

Every process is stopped even when the test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from support.nats_server import NatsCluster, NatsServer, find_nats_server
from support.services import unavailable


@cache
def _binary() -> tuple[Path | None, str]:
    return find_nats_server()


@pytest.fixture
def nats_binary() -> Path:
    """The ``nats-server`` executable (2.12+); skip, or fail in CI, without one."""
    binary, why = _binary()
    if binary is None:
        unavailable("nats-server", why)
    assert binary is not None
    return binary


@pytest.fixture
def nats_server_factory(nats_binary: Path) -> Iterator[Callable[..., NatsServer]]:
    """``factory(**options) -> NatsServer``: start a server (NatsServer's keywords)."""
    started: list[NatsServer] = []

    def factory(**options: Any) -> NatsServer:
        server = NatsServer(binary=nats_binary, **options)
        started.append(server)
        return server.start()

    try:
        yield factory
    finally:
        for server in started:
            server.cleanup()


@pytest.fixture
def nats_server(nats_server_factory: Callable[..., NatsServer]) -> NatsServer:
    """A fresh nats-server with JetStream on a free loopback port."""
    return nats_server_factory()


@pytest.fixture
def nats_cluster(nats_binary: Path) -> Iterator[NatsCluster]:
    """Three JetStream nodes with routes between them, healthy (meta leader elected)."""
    with NatsCluster(3) as cluster:
        yield cluster
