"""The rule for a test whose server is missing: skip on a laptop, fail in CI.

A developer without PostgreSQL should still be able to run the rest of a plugin's
suite, so there the test is skipped with a note on how to provide the server. In CI a
skip would turn a broken service into a green build, so with ``CI=true`` (the variable
every CI system sets) the same test fails instead.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest

__all__ = ["in_ci", "require_server", "server_unavailable"]

_TRUE = frozenset({"1", "true", "yes"})


def in_ci() -> bool:
    """Whether ``CI`` is set to true (read on each call, so tests can change it)."""
    return os.environ.get("CI", "").strip().lower() in _TRUE


def server_unavailable(service: str, detail: str = "", how_to: str = "") -> NoReturn:
    """Fail the running test under ``CI=true``, skip it elsewhere, naming ``service``,
    what is wrong (``detail``) and how to provide it (``how_to``)."""
    message = f"{service} is not available"
    if detail:
        message += f": {detail}"
    if how_to:
        message += f"; {how_to}"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def require_server(
    service: str, host: str, port: int, how_to: str = "", timeout: float = 1.0
) -> None:
    """Apply the rule unless something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        server_unavailable(service, f"nothing answers at {host}:{port} ({exc})", how_to)
