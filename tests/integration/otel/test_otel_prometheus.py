"""Prometheus exposition: the exporter's HTTP endpoint on a free loopback port, scraped
with urllib after a few runs, parsed with prometheus_client's own text parser."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.waiting import until

from tickwork import AsyncScheduler, JobEvent, OnceSchedule
from tickwork_otel import OtelInstrument, PrometheusEndpoint, serve_prometheus

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def endpoint() -> Iterator[PrometheusEndpoint]:
    served = serve_prometheus(port=0)
    try:
        yield served
    finally:
        served.close()


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if not k.startswith("otel_scope")}
            samples[(sample.name, frozenset(labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_metrics_are_scraped_from_a_real_endpoint(endpoint: PrometheusEndpoint) -> None:
    ended = 0

    async def handler(event: JobEvent) -> None:
        nonlocal ended
        ended += 1
        if event.id.startswith("bad"):
            raise RuntimeError("boom")

    instrument = OtelInstrument(meter_provider=endpoint.meter_provider)
    now = datetime.now(UTC)
    async with AsyncScheduler(handler=handler, instruments=[instrument]) as s:
        for job_id in ("a", "b", "c", "bad-1"):
            await s.add_job(job_id, OnceSchedule(now))
        await s.add_job("later", OnceSchedule(now + timedelta(hours=1)))
        await until(lambda: ended == 4)
        await until(lambda: s._table.get("bad-1").status == "failed")  # finish written
        samples = await asyncio.to_thread(scrape, endpoint.url)
        worker = s.worker_id
    assert endpoint.url.startswith("http://127.0.0.1:")
    assert value(samples, "tickwork_runs_total", tickwork_outcome="completed") == 3
    assert value(samples, "tickwork_runs_total", tickwork_outcome="failed") == 1
    for histogram in ("tickwork_run_duration_seconds", "tickwork_run_lateness_seconds"):
        assert value(samples, f"{histogram}_count", tickwork_outcome="completed") == 3
        inf = value(samples, f"{histogram}_bucket", tickwork_outcome="completed", le="+Inf")
        assert inf == 3
    finishes = value(
        samples,
        "tickwork_store_call_duration_seconds_count",
        tickwork_store_operation="finish",
        tickwork_outcome="ok",
    )
    assert finishes is not None
    assert finishes >= 3
    jobs = {
        status: value(samples, "tickwork_jobs", tickwork_job_status=status, tickwork_worker=worker)
        for status in ("completed", "failed", "pending")
    }
    assert jobs == {"completed": 3, "failed": 1, "pending": 1}
