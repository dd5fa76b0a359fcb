"""What ``tickwork.testing`` ships for a plugin's own suite besides the contract kits:
the skip-or-fail rule, the connection-leak check and the pytest plugin's fixtures."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.nats_server import NatsServer, free_port

from tickwork import create_store
from tickwork.testing import (
    ConnectionLeakCheck,
    in_ci,
    open_connections,
    require_server,
    server_unavailable,
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP server socket on a free loopback port (connections are never accepted)."""
    server = socket.create_server(("127.0.0.1", 0), backlog=8)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE"])
def test_a_missing_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match=r"CI=true and redis is not available"):
        server_unavailable("redis", "nothing answers", "start it with: redis-server")


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_a_missing_server_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception) as skipped:
        server_unavailable("redis", "nothing answers", "start it with: redis-server")
    assert str(skipped.value.msg) == (
        "redis is not available: nothing answers; start it with: redis-server"
    )


def test_require_server_names_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"nothing answers at 127.0.0.1:{port}"):
        require_server("my-db", "127.0.0.1", port, "docker run my-db")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="docker run my-db"):
        require_server("my-db", "127.0.0.1", port, "docker run my-db")


def test_require_server_passes_when_something_answers(listener: socket.socket) -> None:
    require_server("my-db", "127.0.0.1", listener.getsockname()[1])


def test_the_leak_check_counts_this_processs_connections(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    check = ConnectionLeakCheck.start("127.0.0.1", port, grace=0.1)
    assert check.baseline == 0
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    try:
        assert open_connections("127.0.0.1", port) == 2
        assert open_connections("localhost", port) == 2  # by address, however named
        with pytest.raises(AssertionError, match=rf"2 connection\(s\) to 127.0.0.1:{port}"):
            check.assert_no_leaks()
        clients.pop().close()
        with pytest.raises(AssertionError, match=r"1 connection\(s\)"):
            check.assert_no_leaks()
    finally:
        for client in clients:
            client.close()
    check.assert_no_leaks()


def test_a_connection_the_server_closed_is_still_a_leak(listener: socket.socket) -> None:
    """The server hanging up does not free the client's socket: only close() does."""
    port = listener.getsockname()[1]
    check = ConnectionLeakCheck.start("127.0.0.1", port, grace=0.1)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()
    try:
        with pytest.raises(AssertionError):
            check.assert_no_leaks()
    finally:
        client.close()
    check.assert_no_leaks()


def test_the_fixtures_give_each_test_a_fresh_backend(
    tickwork_sqlite_url: str, tickwork_namespace: str, tmp_path: Path
) -> None:
    assert tickwork_sqlite_url.startswith("sqlite:///")
    assert not Path(tickwork_sqlite_url.removeprefix("sqlite:///")).exists()
    assert Path(tickwork_sqlite_url.removeprefix("sqlite:///")).parent == tmp_path
    assert re.fullmatch(r"tw_[0-9a-f]{12}", tickwork_namespace)


async def test_a_fresh_sqlite_database_per_test_is_empty(tickwork_sqlite_url: str) -> None:
    store = create_store(tickwork_sqlite_url)
    await store.initialize()
    try:
        assert await store.list_jobs() == []
    finally:
        await store.close()


@pytest.mark.nats
async def test_a_store_closed_properly_passes_the_leak_fixture(
    nats_server: NatsServer,
    tickwork_require_server: Callable[..., None],
    tickwork_connection_leaks: Callable[[str, int], ConnectionLeakCheck],
) -> None:
    """The fixtures on a real server, as a plugin's suite uses them."""
    tickwork_require_server("nats-server", nats_server.host, nats_server.port)
    watched = tickwork_connection_leaks(nats_server.host, nats_server.port)
    store = create_store(nats_server.url)
    await store.initialize()
    assert open_connections(nats_server.host, nats_server.port) > watched.baseline
    await store.close()  # the fixture checks, after the test, that this let go of it all
