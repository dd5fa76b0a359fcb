"""The names of everything the instrument reports: spans, attributes, metrics.

Kept in one place because they are an interface: dashboards, alerts and trace
queries are written against them. Metric names follow OpenTelemetry's conventions
(dots, a unit); Prometheus' exporter turns ``tickwork.run.duration`` with unit ``s``
into ``tickwork_run_duration_seconds``, and a counter ``tickwork.runs`` into
``tickwork_runs_total``.
"""

from __future__ import annotations

__all__ = [
    "DURATION_BUCKETS",
    "SCOPE",
    "SPAN_NAME",
    "STORE_BUCKETS",
]

#: The instrumentation scope (tracer and meter name).
SCOPE = "tickwork_otel"

#: Every attempt's span has this name; the job is an attribute (names stay few).
SPAN_NAME = "tickwork.run"

# Span attributes.
JOB_ID = "tickwork.job.id"
EXECUTION_ID = "tickwork.execution.id"
TASK = "tickwork.task"
SCHEDULED_AT = "tickwork.scheduled_at"
LATENESS = "tickwork.lateness_s"
ATTEMPT = "tickwork.attempt"
WORKER = "tickwork.worker"
MANUAL = "tickwork.manual"
OUTCOME = "tickwork.outcome"

# Metric attributes.
STATUS = "tickwork.job.status"
OPERATION = "tickwork.store.operation"

# Metrics.
RUNS = "tickwork.runs"
LATENESS_HISTOGRAM = "tickwork.run.lateness"
DURATION_HISTOGRAM = "tickwork.run.duration"
JOBS = "tickwork.jobs"
RUNNING = "tickwork.runs.running"
CLAIM_CONFLICTS = "tickwork.claim.conflicts"
STORE_CALLS = "tickwork.store.call.duration"

#: Bucket bounds (seconds) for lateness and duration: a millisecond to five minutes
#: (OpenTelemetry's default bounds are meant for milliseconds).
DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
#: Bucket bounds (seconds) for store calls: half a millisecond to ten seconds.
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
