"""The contract of a :class:`~tickwork.abc.Instrument`, as a reusable test suite.

Subclass :class:`InstrumentContract` and provide ``make_instrument``, a fixture
returning a factory of new instruments (over throwaway providers, for a metrics or
tracing library)::

    class TestMyInstrument(InstrumentContract):
        @pytest.fixture
        def make_instrument(self):
            return lambda: MyInstrument(exporter=InMemoryExporter())

What an instrument records is its own business; the suite checks what the scheduler
relies on: every call returns without raising, whatever the outcome; an attempt's
context variables are reset when its scope ends, also when attempts in several
asyncio tasks overlap and end in any order; an instrument opens again after closing;
and a real scheduler with the instrument runs coroutine, thread and failing handlers
as it would without it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .._jobs_view import JobsView
from .._run_attempt import AttemptInfo, AttemptOutcome
from ..abc import AttemptScope, Instrument

__all__ = ["InstrumentContract", "sample_attempt", "sample_outcome"]

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_OUTCOMES = (("completed", None), ("failed", "boom"), ("timed_out", "timed out after 0:00:01"))


def sample_attempt(job_id: str = "job-1", attempt: int = 1, task: str | None = None) -> AttemptInfo:
    """An attempt that started 250 ms after its tick."""
    return AttemptInfo(
        job_id=job_id,
        execution_id=f"exec-{job_id}-{attempt}",
        task=task,
        scheduled_at=T0,
        started_at=T0 + timedelta(milliseconds=250),
        attempt=attempt,
        worker_id="worker-a",
    )


def sample_outcome(status: str = "completed", error: str | None = None) -> AttemptOutcome:
    """An attempt that ended one second after it started."""
    return AttemptOutcome(
        status=status, error=error, ended_at=T0 + timedelta(seconds=1.25), duration=1.0
    )


def _empty_view() -> JobsView:
    return JobsView("worker-a", lambda: ())


def _context_items() -> dict[contextvars.ContextVar[object], object]:
    return dict(contextvars.copy_context().items())


class InstrumentContract:
    """Every rule of :class:`~tickwork.abc.Instrument` that holds for any instrument."""

    def test_it_is_an_instrument(self, make_instrument: Callable[[], Instrument]) -> None:
        instrument = make_instrument()
        assert isinstance(instrument, Instrument)
        instrument.open(_empty_view())
        scope = instrument.attempt(sample_attempt())
        assert isinstance(scope, AttemptScope)
        scope.end(sample_outcome())
        instrument.close()

    def test_every_call_returns_whatever_the_outcome(
        self, make_instrument: Callable[[], Instrument]
    ) -> None:
        instrument = make_instrument()
        instrument.open(_empty_view())
        for number, (status, error) in enumerate(_OUTCOMES, start=1):
            scope = instrument.attempt(sample_attempt(attempt=number, task="a-task"))
            scope.end(sample_outcome(status, error))
        instrument.store_call("finish", 0.002, False)
        instrument.store_call("claim", 0.5, True)
        instrument.store_call("save_records", 0.0, False)
        instrument.claim_conflict("job-1")
        instrument.close()

    def test_an_attempt_leaves_the_context_as_it_found_it(
        self, make_instrument: Callable[[], Instrument]
    ) -> None:
        instrument = make_instrument()
        instrument.open(_empty_view())
        before = _context_items()
        scope = instrument.attempt(sample_attempt())
        scope.end(sample_outcome("failed", "boom"))
        assert _context_items() == before
        instrument.close()

    async def test_overlapping_attempts_in_tasks_end_in_any_order(
        self, make_instrument: Callable[[], Instrument]
    ) -> None:
        instrument = make_instrument()
        instrument.open(_empty_view())
        first_begun, second_ended = asyncio.Event(), asyncio.Event()

        async def run(job_id: str, begun: asyncio.Event | None, wait: asyncio.Event | None) -> bool:
            before = _context_items()
            scope = instrument.attempt(sample_attempt(job_id))
            if begun is not None:
                begun.set()
            if wait is not None:
                await wait.wait()
            scope.end(sample_outcome())
            return _context_items() == before

        first = asyncio.create_task(run("job-1", first_begun, second_ended))
        await first_begun.wait()
        assert await asyncio.create_task(run("job-2", None, None))
        second_ended.set()
        assert await first
        instrument.close()

    def test_it_opens_again_after_closing(self, make_instrument: Callable[[], Instrument]) -> None:
        instrument = make_instrument()
        for _ in range(2):
            instrument.open(_empty_view())
            instrument.attempt(sample_attempt()).end(sample_outcome())
            instrument.close()

    async def test_a_scheduler_runs_as_it_would_without_it(
        self, make_instrument: Callable[[], Instrument]
    ) -> None:
        from .. import AsyncScheduler, JobEvent, OnceSchedule

        outcomes: dict[str, str] = {}
        done = threading.Event()

        async def coroutine(event: JobEvent) -> None:
            if event.id == "fails":
                raise RuntimeError("boom")

        def plain(event: JobEvent) -> None:
            done.set()

        when = OnceSchedule(datetime.now(UTC))
        async with AsyncScheduler(handler=coroutine, instruments=[make_instrument()]) as s:
            await s.add_job("ok", when)
            await s.add_job("fails", when)
            deadline = time.monotonic() + 5
            while len(outcomes) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                for job_id in ("ok", "fails"):
                    ran = {str(r.status.value) for r in await s.run_history(job_id)}
                    ran &= {"completed", "failed"}  # not the tick log's own records
                    if ran:
                        outcomes[job_id] = ran.pop()
        assert outcomes == {"ok": "completed", "fails": "failed"}, outcomes
        with_threads = AsyncScheduler(handler=plain, instruments=[make_instrument()])
        async with with_threads as s:
            await s.add_job("plain", when)
            assert await asyncio.to_thread(done.wait, 5)
