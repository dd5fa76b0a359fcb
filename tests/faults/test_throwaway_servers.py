"""The private servers themselves: stop, kill and start again keep port and data."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from support.services import port_open
from support.throwaway_servers import ThrowawayMariaDB, ThrowawayPostgres, ThrowawayServer

pytestmark = pytest.mark.faults


def _select(server: ThrowawayServer, sql: str) -> str:
    if isinstance(server, ThrowawayPostgres):
        return server.psql(sql, database="survives").strip()
    assert isinstance(server, ThrowawayMariaDB)
    return server.mariadb(f"USE survives; {sql}").strip()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_data_survives_a_stop_or_kill_on_the_same_port(
    db_server: ThrowawayServer, how: str
) -> None:
    db_server.create_database("survives")
    _select(db_server, "CREATE TABLE t (n INTEGER)")
    _select(db_server, "INSERT INTO t VALUES (42)")
    port, pid = db_server.port, db_server.pid

    started = time.monotonic()
    db_server.kill() if how == "kill" else db_server.stop()
    assert time.monotonic() - started < 10
    assert not db_server.running
    assert not port_open("127.0.0.1", port, timeout=0.5)

    started = time.monotonic()
    db_server.start()
    assert time.monotonic() - started < 15, "a restart should take about a second"
    assert db_server.port == port
    assert db_server.pid != pid
    assert db_server.url("survives").rsplit("@", 1)[1].startswith(f"127.0.0.1:{port}/")
    assert _select(db_server, "SELECT n FROM t") == "42"


def test_every_database_is_new(
    db_server: ThrowawayServer, new_database: Callable[[ThrowawayServer], str]
) -> None:
    first, second = new_database(db_server), new_database(db_server)
    assert first != second
    assert "127.0.0.1" in first
