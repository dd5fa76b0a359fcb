"""Fixtures for the OpenTelemetry instrument (see :mod:`support.otel_telemetry`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.otel_telemetry import Telemetry, in_memory_telemetry


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """SDK providers that keep spans and metrics, and an instrument over them."""
    with in_memory_telemetry() as telemetry:
        yield telemetry
