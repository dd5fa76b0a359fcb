"""OpenTelemetry for tickwork: a span per run attempt, run and store metrics.

Installing this distribution registers the instrument as ``otel``, so
``AsyncScheduler(..., instruments=["otel"])`` (or ``tickwork run --instrument otel``)
turns it on, over the tracer and meter providers the program installed globally. Give
your own providers with ``OtelInstrument(tracer_provider=..., meter_provider=...)``;
:func:`serve_prometheus` makes a meter provider whose metrics a Prometheus server can
scrape (the ``prometheus`` extra). See ``docs/observability.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._instrument import OtelInstrument
    from ._prometheus import PrometheusEndpoint, serve_prometheus

__all__ = ["OtelInstrument", "PrometheusEndpoint", "serve_prometheus"]


def __getattr__(name: str) -> Any:
    # OpenTelemetry loads when the instrument is first made, not when tickwork's plugin
    # discovery imports this package in every program.
    if name == "OtelInstrument":
        from ._instrument import OtelInstrument

        return OtelInstrument
    if name in ("PrometheusEndpoint", "serve_prometheus"):
        from . import _prometheus

        return getattr(_prometheus, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
