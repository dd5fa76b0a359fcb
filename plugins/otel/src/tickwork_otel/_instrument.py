"""The instrument: a span per attempt, made current for the handler, and metrics.

Everything goes through the OpenTelemetry *API*: the program decides where spans and
metrics go by the providers it installs (or passes in). Without an SDK the API's
providers do nothing, so the instrument then costs little more than the calls.

The run path calls the instrument at every attempt, so the per-attempt work is kept
small: metric attributes are built once per (outcome, task) and reused, the span's
times come from the attempt (the same instants as its execution record), and nothing
is looked up by name per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from tickwork import AttemptInfo, AttemptOutcome, JobsView

from . import _names as names

__all__ = ["OtelInstrument"]

Attributes = Mapping[str, Any]


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


class _AttemptSpan:
    """One attempt's span and the context token that made it current."""

    __slots__ = ("_info", "_instrument", "_span", "_token")

    def __init__(self, instrument: OtelInstrument, info: AttemptInfo, span: Span) -> None:
        self._instrument = instrument
        self._info = info
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))

    def end(self, outcome: AttemptOutcome) -> None:
        otel_context.detach(self._token)
        span = self._span
        span.set_attribute(names.OUTCOME, outcome.status)
        if not outcome.ok:
            span.set_status(Status(StatusCode.ERROR, outcome.error or outcome.status))
        span.end(end_time=_nanos(outcome.ended_at))
        self._instrument._ended(self._info, outcome)


class OtelInstrument:
    """A :class:`tickwork.abc.Instrument` on the OpenTelemetry API.

    :param tracer_provider: where spans go; the global one (``trace.set_tracer_provider``)
        when None.
    :param meter_provider: where metrics go; the global one when None.

    Per attempt: a span ``tickwork.run`` (attributes ``tickwork.job.id``,
    ``tickwork.execution.id``, ``tickwork.task``, ``tickwork.scheduled_at``,
    ``tickwork.lateness_s``, ``tickwork.attempt``, ``tickwork.worker``,
    ``tickwork.manual``, and at its end ``tickwork.outcome``; an error status for a
    failed or timed-out attempt), current while the handler runs; the counter
    ``tickwork.runs`` and the histograms ``tickwork.run.lateness`` and
    ``tickwork.run.duration`` (seconds), by ``tickwork.outcome`` and ``tickwork.task``.
    Per store call of the run path: the histogram ``tickwork.store.call.duration`` by
    ``tickwork.store.operation`` and ``tickwork.outcome`` (``ok`` or ``error``); per
    claim another process won: the counter ``tickwork.claim.conflicts``. Read when the
    metrics are collected: the gauges ``tickwork.jobs`` (by ``tickwork.job.status``) and
    ``tickwork.runs.running``, each with ``tickwork.worker``.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        version = _version()
        self._tracer = trace.get_tracer(names.SCOPE, version, tracer_provider=tracer_provider)
        meter = metrics.get_meter(names.SCOPE, version, meter_provider=meter_provider)
        self._runs = meter.create_counter(names.RUNS, unit="{run}", description="Run attempts")
        self._lateness = meter.create_histogram(
            names.LATENESS_HISTOGRAM,
            unit="s",
            description="How long after its scheduled time an attempt started",
            explicit_bucket_boundaries_advisory=names.DURATION_BUCKETS,
        )
        self._duration = meter.create_histogram(
            names.DURATION_HISTOGRAM,
            unit="s",
            description="How long an attempt took",
            explicit_bucket_boundaries_advisory=names.DURATION_BUCKETS,
        )
        self._store_calls = meter.create_histogram(
            names.STORE_CALLS,
            unit="s",
            description="How long the run path waited for a store call (batching included)",
            explicit_bucket_boundaries_advisory=names.STORE_BUCKETS,
        )
        self._conflicts = meter.create_counter(
            names.CLAIM_CONFLICTS, unit="{claim}", description="Claims another process won"
        )
        meter.create_observable_gauge(
            names.JOBS, [self._observe_jobs], unit="{job}", description="Jobs by status"
        )
        meter.create_observable_gauge(
            names.RUNNING, [self._observe_running], unit="{run}", description="Runs under way"
        )
        self._jobs: JobsView | None = None
        self._run_attributes: dict[tuple[str, str | None], Attributes] = {}
        self._store_attributes: dict[tuple[str, bool], Attributes] = {}

    def __repr__(self) -> str:
        return f"OtelInstrument(tracer={self._tracer!r})"

    # -- the tickwork.abc.Instrument protocol -----------------------------------------

    def open(self, jobs: JobsView) -> None:
        self._jobs = jobs

    def close(self) -> None:
        self._jobs = None

    def attempt(self, info: AttemptInfo) -> _AttemptSpan:
        attributes: dict[str, Any] = {
            names.JOB_ID: info.job_id,
            names.EXECUTION_ID: info.execution_id,
            names.SCHEDULED_AT: info.scheduled_at.isoformat(),
            names.LATENESS: info.lateness.total_seconds(),
            names.ATTEMPT: info.attempt,
            names.WORKER: info.worker_id,
            names.MANUAL: info.manual,
        }
        if info.task is not None:
            attributes[names.TASK] = info.task
        span = self._tracer.start_span(
            names.SPAN_NAME,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=_nanos(info.started_at),
        )
        return _AttemptSpan(self, info, span)

    def store_call(self, operation: str, seconds: float, failed: bool) -> None:
        key = (operation, failed)
        attributes = self._store_attributes.get(key)
        if attributes is None:
            attributes = self._store_attributes[key] = {
                names.OPERATION: operation,
                names.OUTCOME: "error" if failed else "ok",
            }
        self._store_calls.record(seconds, attributes)

    def claim_conflict(self, job_id: str) -> None:
        self._conflicts.add(1)

    # -- metrics ------------------------------------------------------------------------

    def _ended(self, info: AttemptInfo, outcome: AttemptOutcome) -> None:
        key = (outcome.status, info.task)
        attributes = self._run_attributes.get(key)
        if attributes is None:
            attributes = {names.OUTCOME: outcome.status}
            if info.task is not None:
                attributes[names.TASK] = info.task
            if len(self._run_attributes) < _ATTRIBUTE_CACHE:
                self._run_attributes[key] = attributes
        self._runs.add(1, attributes)
        self._lateness.record(info.lateness.total_seconds(), attributes)
        self._duration.record(outcome.duration, attributes)

    def _observe_jobs(self, options: CallbackOptions) -> Iterable[Observation]:
        jobs = self._jobs
        if jobs is None:
            return []
        worker = jobs.worker_id
        return [
            Observation(count, {names.STATUS: status, names.WORKER: worker})
            for status, count in sorted(jobs.count_by_status().items())
        ]

    def _observe_running(self, options: CallbackOptions) -> Iterable[Observation]:
        jobs = self._jobs
        if jobs is None:
            return []
        return [Observation(jobs.running_count(), {names.WORKER: jobs.worker_id})]


#: Distinct (outcome, task) attribute sets kept; tasks are few, but not bounded.
_ATTRIBUTE_CACHE = 1024


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("tickwork-otel")
    except metadata.PackageNotFoundError:  # a source tree
        return "0+unknown"
