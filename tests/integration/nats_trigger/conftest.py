"""Fixtures for the NATS trigger: real nats-server processes, and worker processes.

- ``nats_server`` / ``nats_server_factory`` / ``nats_cluster``: servers from
  :mod:`support.nats_server` (skipped without the 2.12+ binary, failed under CI=true);
- ``workers``: starts ``worker.py`` processes (one scheduler each) and stops them all
  after the test;

Helpers the tests import live in ``nats_trigger_helpers``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from nats_trigger_helpers import Workers
from support.nats_server import NatsCluster, NatsServer, find_nats_server
from support.services import unavailable


@cache
def _binary() -> tuple[Path | None, str]:
    return find_nats_server()


@pytest.fixture
def nats_binary() -> Path:
    """The ``nats-server`` 2.12+ executable; skip (fail in CI) without one."""
    binary, why = _binary()
    if binary is None:
        unavailable("nats-server", why)
    assert binary is not None
    return binary


@pytest.fixture
def nats_server_factory(nats_binary: Path) -> Iterator[Callable[..., NatsServer]]:
    """``factory(**options) -> NatsServer`` (started); all stopped after the test."""
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
    """Three routed JetStream nodes, healthy (a meta leader is elected)."""
    with NatsCluster(3) as cluster:
        yield cluster


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Start worker processes; all are stopped after the test."""
    pool = Workers(tmp_path / "workers")
    try:
        yield pool
    finally:
        pool.stop_all()
