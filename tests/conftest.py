"""Suite-wide fixtures."""

from __future__ import annotations

import logging

import pytest

# The real-server fixtures (nats_server, nats_cluster, ...) are shared by every suite,
# and so are the fixtures tickwork ships to plugin authors (the tests use them as a
# plugin's suite would).
pytest_plugins = ["support.nats_fixtures", "tickwork.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _tickwork_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Keep tickwork's debug logs in failure reports."""
    caplog.set_level(logging.DEBUG, logger="tickwork")
