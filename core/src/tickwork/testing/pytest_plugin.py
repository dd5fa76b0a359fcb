"""Fixtures for a plugin's own test suite: ``pytest_plugins = ["tickwork.testing.pytest_plugin"]``.

Load it from your top-level ``conftest.py``. It is not loaded by itself (it registers no
``pytest11`` entry point), so installing tickwork never changes another project's tests.

- ``tickwork_sqlite_url``: a fresh, empty SQLite database file per test.
- ``tickwork_namespace``: a name unique to the test (``tw_`` and 12 hex digits: letters,
  digits and ``_``, safe as a schema, bucket, table prefix or subject token), so tests
  on one shared server each start from an empty corner of it.
- ``tickwork_require_server``: ``require(service, host, port, how_to="")``: skip the test
  when nothing answers there, or fail it under ``CI=true``
  (:func:`~tickwork.testing.server_unavailable` applies the same rule to any other
  check).
- ``tickwork_connection_leaks``: ``watch(host, port)``: after the test, fail it if this
  process holds more connections to that server than when watching began.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._connection_leaks import ConnectionLeakCheck
from ._service_rule import require_server

__all__ = [
    "tickwork_connection_leaks",
    "tickwork_namespace",
    "tickwork_require_server",
    "tickwork_sqlite_url",
]


@pytest.fixture
def tickwork_sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite database file no test used before (it does not exist yet)."""
    return f"sqlite:///{tmp_path / 'tickwork.db'}"


@pytest.fixture
def tickwork_namespace() -> str:
    """A name no other test (or test process) uses: an empty backend on a shared server."""
    return f"tw_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def tickwork_require_server() -> Callable[..., None]:
    """``require(service, host, port, how_to="")``: skip, or fail in CI, without the
    server."""
    return require_server


@pytest.fixture
def tickwork_connection_leaks() -> Iterator[Callable[[str, int], ConnectionLeakCheck]]:
    """``watch(host, port)``: the test must end with no more connections open to the
    server than when it began watching."""
    checks: list[ConnectionLeakCheck] = []

    def watch(host: str, port: int) -> ConnectionLeakCheck:
        check = ConnectionLeakCheck.start(host, port)
        checks.append(check)
        return check

    yield watch
    for check in checks:
        check.assert_no_leaks()
