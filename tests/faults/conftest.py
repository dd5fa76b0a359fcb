"""Fixtures for the fault tests: private database servers a test may stop and start.

The machine's shared PostgreSQL and MariaDB are never stopped by a test; these tests
start their own (:mod:`support.throwaway_servers`), one of each per session, started
on first use. Each test gets a database of its own on it, and finds the server running
whatever the test before it did to it.

Without the server binaries a test skips, saying how to provide them; under
``CI=true`` it fails instead (CI must never go green by skipping).

Run them with ``pytest tests/faults`` (or ``-m faults`` from anywhere); the scheduler
scenarios (``test_scheduler_outage.py``) take about four minutes, the rest seconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from support.services import IN_CI
from support.throwaway_servers import (
    ThrowawayMariaDB,
    ThrowawayPostgres,
    ThrowawayServer,
    ThrowawayServerError,
    find_mariadb,
    find_postgres,
)

HOW_TO = {
    "postgresql": "install the PostgreSQL server package (initdb and postgres in "
    "/usr/lib/postgresql/<version>/bin, e.g. apt-get install postgresql-15), or point "
    "$TICKWORK_PG_BINDIR at the directory holding them",
    "mariadb": "install the MariaDB server package (mariadbd and mariadb-install-db, e.g. "
    "apt-get install mariadb-server), or point $TICKWORK_MARIADB_BINDIR at mariadbd's "
    "directory",
}

_names = itertools.count(1)


def _unavailable(kind: str, why: str) -> None:
    message = f"a private {kind} server cannot be started: {why}; {HOW_TO[kind]}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def _session_server(kind: str) -> Iterator[ThrowawayServer]:
    finder = find_postgres if kind == "postgresql" else find_mariadb
    bindir, why = finder()
    if bindir is None:
        _unavailable(kind, why)
    assert bindir is not None
    server: ThrowawayServer
    try:
        if kind == "postgresql":
            server = ThrowawayPostgres(bindir=bindir)
        else:
            server = ThrowawayMariaDB(bindir=bindir)
        server.start()
    except ThrowawayServerError as exc:
        _unavailable(kind, str(exc))
        raise
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[ThrowawayServer]:
    yield from _session_server("postgresql")


@pytest.fixture(scope="session")
def _mariadb_server() -> Iterator[ThrowawayServer]:
    yield from _session_server("mariadb")


def _running(server: ThrowawayServer) -> Iterator[ThrowawayServer]:
    if not server.running:  # a test before this one failed while it was stopped
        server.start()
    yield server
    if not server.running:
        server.start()


@pytest.fixture
def postgres_server(_postgres_server: ThrowawayServer) -> Iterator[ThrowawayServer]:
    """This session's private PostgreSQL, running; the test may stop, kill and start it."""
    yield from _running(_postgres_server)


@pytest.fixture
def mariadb_server(_mariadb_server: ThrowawayServer) -> Iterator[ThrowawayServer]:
    """This session's private MariaDB, running; the test may stop, kill and start it."""
    yield from _running(_mariadb_server)


@pytest.fixture(params=["postgresql", "mariadb"])
def db_server(request: pytest.FixtureRequest) -> ThrowawayServer:
    """Each private server in turn (ids ``[postgresql]``, ``[mariadb]``)."""
    name = "postgres_server" if request.param == "postgresql" else "mariadb_server"
    server: ThrowawayServer = request.getfixturevalue(name)
    return server


@pytest.fixture
def new_database() -> Callable[[ThrowawayServer], str]:
    """``new_database(server)``: create an empty database on ``server``; its store URL."""

    def create(server: ThrowawayServer) -> str:
        return server.create_database(f"fault_{next(_names)}")

    return create
