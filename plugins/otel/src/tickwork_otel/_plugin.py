"""The ``tickwork`` entry point of this distribution: it registers the instrument.

Plugin discovery imports this module in every program that uses tickwork, so it
imports nothing of OpenTelemetry: that loads when a scheduler names ``otel``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tickwork


def create_otel_instrument(**options: Any) -> tickwork.Instrument:
    """Build an :class:`~tickwork_otel.OtelInstrument` (imported on first use)."""
    from ._instrument import OtelInstrument

    return OtelInstrument(**options)


@tickwork.hookimpl
def register_instruments(register: Callable[..., None]) -> None:
    """The OpenTelemetry instrument, as ``otel``."""
    register("otel", create_otel_instrument)
