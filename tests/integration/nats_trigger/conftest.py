"""Fixtures for the NATS trigger: real nats-server processes, and worker processes.

- ``nats_server`` / ``nats_server_factory`` / ``nats_cluster``: servers from
  :mod:`support.nats_server` (skipped without the 2.12+ binary, failed under CI=true);
- ``workers``: starts ``worker.py`` processes (one scheduler each) and stops them all
  after the test;

Helpers the tests import live in ``nats_trigger_helpers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nats_trigger_helpers import Workers


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Start worker processes; all are stopped after the test."""
    pool = Workers(tmp_path / "workers")
    try:
        yield pool
    finally:
        pool.stop_all()
