"""Providers of the OpenTelemetry SDK that keep what they get, for the instrument's tests.

Each test gets its own providers (never the global ones, which can be set once per
process): spans go to an ``InMemorySpanExporter`` through a processor that also keeps
the spans started and not ended, metrics to an ``InMemoryMetricReader``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tickwork_otel import OtelInstrument


class OpenSpans(SimpleSpanProcessor):
    """Exports each ended span, and keeps the ids of spans started and not ended."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        super().__init__(exporter)
        self.open: set[int] = set()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.open.add(span.context.span_id)

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.open.discard(span.context.span_id)
        super().on_end(span)


@attrs.frozen
class Telemetry:
    """Providers for one test and the instrument over them."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    processor: OpenSpans
    metrics: InMemoryMetricReader
    instrument: OtelInstrument

    def finished(self, name: str = "tickwork.run") -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` as last collected (empty when absent)."""
        data = self.metrics.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for m in scope.metrics
            if m.name == metric
            for point in m.data.data_points
        ]


@contextmanager
def in_memory_telemetry() -> Iterator[Telemetry]:
    """Fresh providers and an instrument over them, shut down afterwards."""
    exporter = InMemorySpanExporter()
    processor = OpenSpans(exporter)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrument = OtelInstrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Telemetry(tracer_provider, meter_provider, exporter, processor, reader, instrument)
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
