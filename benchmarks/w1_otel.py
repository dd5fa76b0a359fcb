"""W1-otel: W1 with the OpenTelemetry instrument on, over the SDK with no-op exporters.

Issue 15's target: "W1 with the OpenTelemetry plugin on (SDK with a no-op exporter):
CPU at most 10% above W1 without them, in the same benchmark run". So this is W1
exactly (the same jobs, grid, window and figures), with ``instruments=[OtelInstrument]``
over a real SDK: a ``TracerProvider`` whose spans go through a ``BatchSpanProcessor``
to an exporter that drops them, and a ``MeterProvider`` whose periodic reader hands
the metrics to an exporter that drops them, every second. Everything the SDK does per
run (a span started, made current, ended and queued; a counter and four histogram
points) is paid; only the export itself is not. Read its CPU row against W1's
(``--workloads W1,W1-otel``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from . import w1_interval
from ._harness import Figures, Params, Workload

METRICS = tuple(
    replace(m, target=None) if m.key == "cpu_core_pct" else m for m in w1_interval.METRICS
)

WORKLOAD = Workload(
    id="W1-otel",
    title="W1 with the OpenTelemetry instrument (SDK, no-op exporters)",
    module="w1_otel",
    metrics=METRICS,
    params=w1_interval.params,
    sides=("tickwork", "tickwork-async"),
    timeout=180.0,
    default=False,
    groups=("otel",),
    notes="W1's 1,000 jobs with tickwork-otel on over the OpenTelemetry SDK, spans and "
    "metrics exported to nowhere; target: CPU at most 1.1 x W1's.",
)


def _instrument() -> Any:
    """The instrument over fresh SDK providers whose exporters drop everything."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from tickwork_otel import OtelInstrument

    class NoSpans(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class NoMetrics(MetricExporter):
        def export(
            self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            pass

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(NoSpans()))
    reader = PeriodicExportingMetricReader(NoMetrics(), export_interval_millis=1000)
    meter_provider = MeterProvider(metric_readers=[reader])
    return OtelInstrument(tracer_provider=tracer_provider, meter_provider=meter_provider)


def run_tickwork(case: str, p: Params) -> Figures:
    """The blocking ``tickwork.Scheduler`` of W1, with the instrument."""
    return w1_interval.run_tickwork(case, p, options={"instruments": [_instrument()]})


def run_tickwork_async(case: str, p: Params) -> Figures:
    """The ``AsyncScheduler`` of W1, with the instrument."""
    return w1_interval.run_tickwork_async(case, p, options={"instruments": [_instrument()]})
