"""A ``/metrics`` endpoint for Prometheus, through OpenTelemetry's Prometheus exporter.

The instrument never installs providers itself. This helper builds the usual set-up
for scraping (a :class:`~opentelemetry.sdk.metrics.MeterProvider` read by a
``PrometheusMetricReader``, and prometheus_client's HTTP server) and hands back the
provider, for ``OtelInstrument(meter_provider=endpoint.meter_provider)``. It uses a
registry of its own rather than prometheus_client's global one, so two endpoints in
one process (two schedulers, tests) do not clash; pass ``registry=REGISTRY`` to share
the process's default metrics (``process_*``, ``python_*``) on the same page.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

__all__ = ["PrometheusEndpoint", "serve_prometheus"]


@attrs.frozen
class PrometheusEndpoint:
    """A running ``/metrics`` endpoint and the meter provider it shows."""

    meter_provider: Any  # opentelemetry.sdk.metrics.MeterProvider
    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """Where Prometheus scrapes it: ``http://host:port/metrics``."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and shut the meter provider down."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.meter_provider.shutdown()


def serve_prometheus(
    port: int = 9464, host: str = "127.0.0.1", *, registry: Any = None, **provider_options: Any
) -> PrometheusEndpoint:
    """Serve OpenTelemetry metrics for Prometheus at ``http://host:port/metrics``.

    ``port=0`` takes a free port (read it from the result). ``provider_options`` go to
    the ``MeterProvider`` (``resource=...``). Needs the ``prometheus`` extra.
    """
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            f"serve_prometheus needs the prometheus extra: pip install 'tickwork-otel[prometheus]' "
            f"({exc})"
        ) from exc
    registry = registry if registry is not None else CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    provider = MeterProvider(metric_readers=[reader], **provider_options)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return PrometheusEndpoint(provider, host, server.server_port, server, thread)
