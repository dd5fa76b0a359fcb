"""The OpenTelemetry instrument's spans and metrics, with the SDK's in-memory exporter
and reader, on real schedulers over memory stores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from support.otel_telemetry import Telemetry
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    Instrument,
    JobEvent,
    OnceSchedule,
    RetryPolicy,
    TaskRegistry,
    create_instrument,
)
from tickwork.testing import InstrumentContract
from tickwork_otel import OtelInstrument

#: The "user's" tracer: what a handler would use to start spans of its own.
user_tracer = trace.get_tracer("test-user")


def soon() -> OnceSchedule:
    return OnceSchedule(datetime.now(UTC))


class TestOtelInstrumentContract(InstrumentContract):
    @pytest.fixture
    def make_instrument(self, telemetry: Telemetry) -> Callable[[], Instrument]:
        return lambda: OtelInstrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
        )


def user_span(tracer_provider: trace.TracerProvider, name: str) -> None:
    with tracer_provider.get_tracer("user").start_as_current_span(name):
        pass


async def test_user_spans_nest_under_the_run_span(telemetry: Telemetry) -> None:
    """Async handler, plain handler in a thread, tasks on the loop and thread executors."""
    provider = telemetry.tracer_provider
    tasks = TaskRegistry()

    @tasks.task(name="on_loop", executor="loop")
    async def on_loop() -> None:
        user_span(provider, "user:loop-task")

    @tasks.task(name="in_thread", executor="thread")
    def in_thread() -> None:
        user_span(provider, "user:thread-task")

    async def handler(event: JobEvent) -> None:
        user_span(provider, f"user:{event.id}")

    def plain(event: JobEvent) -> None:
        user_span(provider, f"user:{event.id}")

    instruments = [telemetry.instrument]
    async with AsyncScheduler(handler=handler, tasks=tasks, instruments=instruments) as s:
        await s.add_job("coroutine", soon())
        await s.add_job("loop-job", soon(), task=on_loop)
        await s.add_job("thread-job", soon(), task=in_thread)
        await until(lambda: len(telemetry.finished()) == 3)
    async with AsyncScheduler(handler=plain, instruments=instruments) as s:
        await s.add_job("plain", soon())
        await until(lambda: len(telemetry.finished()) == 4)
    runs = {span.attributes["tickwork.job.id"]: span for span in telemetry.finished()}
    nested = {
        "coroutine": "user:coroutine",
        "loop-job": "user:loop-task",
        "thread-job": "user:thread-task",
        "plain": "user:plain",
    }
    for job_id, user_name in nested.items():
        (user,) = telemetry.finished(user_name)
        run = runs[job_id]
        assert user.parent is not None, job_id
        assert user.parent.span_id == run.context.span_id, job_id
        assert user.context.trace_id == run.context.trace_id
    assert runs["loop-job"].attributes["tickwork.task"] == "on_loop"
    assert "tickwork.task" not in runs["coroutine"].attributes
    assert not telemetry.processor.open


async def test_a_run_span_says_what_ran_when_and_how(telemetry: Telemetry) -> None:
    tick = datetime.now(UTC) - timedelta(seconds=2)  # two seconds late

    async def handler(event: JobEvent) -> None:
        pass

    async with AsyncScheduler(handler=handler, instruments=[telemetry.instrument]) as s:
        await s.add_job("late", OnceSchedule(tick), misfire_grace_time=timedelta(minutes=1))
        await until(lambda: len(telemetry.finished()) == 1)
        records = [r for r in await s.run_history("late") if r.status == "completed"]
    (span,) = telemetry.finished()
    attributes = span.attributes
    assert attributes is not None
    assert attributes["tickwork.execution.id"] == records[0].execution_id
    assert attributes["tickwork.scheduled_at"] == tick.isoformat()
    assert 2.0 <= attributes["tickwork.lateness_s"] < 10.0
    assert attributes["tickwork.attempt"] == 1
    assert attributes["tickwork.worker"] == s.worker_id
    assert attributes["tickwork.manual"] is False
    assert attributes["tickwork.outcome"] == "completed"
    assert span.status.status_code is StatusCode.UNSET
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.start_time == int(records[0].start_time.timestamp() * 1e9)


async def test_failed_and_timed_out_runs_have_an_error_status(telemetry: Telemetry) -> None:
    async def handler(event: JobEvent) -> None:
        if event.id == "slow":
            await asyncio.sleep(5)
        if event.id == "fails" or (event.id == "retried" and event.attempt == 1):
            raise RuntimeError("boom")

    retry = RetryPolicy(max_attempts=2, backoff=timedelta(milliseconds=10))
    async with AsyncScheduler(handler=handler, instruments=[telemetry.instrument]) as s:
        await s.add_job("fails", soon())
        await s.add_job("slow", soon(), timeout=timedelta(milliseconds=50))
        await s.add_job("retried", soon(), retry=retry)
        await until(lambda: len(telemetry.finished()) == 4)
    by_attempt = {
        (span.attributes["tickwork.job.id"], span.attributes["tickwork.attempt"]): span
        for span in telemetry.finished()
    }
    failed, slow = by_attempt[("fails", 1)], by_attempt[("slow", 1)]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "boom"
    assert slow.status.status_code is StatusCode.ERROR
    assert "timed out" in (slow.status.description or "")
    assert slow.attributes["tickwork.outcome"] == "timed_out"
    assert by_attempt[("retried", 1)].status.status_code is StatusCode.ERROR
    assert by_attempt[("retried", 2)].status.status_code is StatusCode.UNSET
    runs = {p.attributes["tickwork.outcome"]: p.value for p in telemetry.points("tickwork.runs")}
    assert runs == {"failed": 2, "timed_out": 1, "completed": 1}
    durations = telemetry.points("tickwork.run.duration")
    assert sum(p.count for p in durations) == 4
    timed_out = next(p for p in durations if p.attributes["tickwork.outcome"] == "timed_out")
    assert 0.04 <= timed_out.sum < 2.0


async def test_a_run_cut_short_by_a_stop_ends_its_span(telemetry: Telemetry) -> None:
    started = asyncio.Event()

    async def handler(event: JobEvent) -> None:
        started.set()
        await asyncio.sleep(30)

    s = AsyncScheduler(handler=handler, instruments=[telemetry.instrument])
    await s.start()
    await s.add_job("long", soon())
    await asyncio.wait_for(started.wait(), 5)
    await s.stop(timeout=0.1)
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert not telemetry.processor.open


def test_it_is_registered_as_otel(telemetry: Telemetry) -> None:
    instrument = create_instrument(
        "otel",
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    assert isinstance(instrument, OtelInstrument)


async def test_named_otel_runs_on_the_global_providers() -> None:
    """Without an SDK installed globally the API does nothing, and runs go on."""
    ran = asyncio.Event()

    async def handler(event: JobEvent) -> None:
        ran.set()

    async with AsyncScheduler(handler=handler, instruments=["otel"]) as s:
        await s.add_job("a", soon())
        await asyncio.wait_for(ran.wait(), 5)
