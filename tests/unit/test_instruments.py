"""Instruments (issue 15, part 4): what the core gives an instrument, with a recording
instrument on real schedulers over memory stores.

The OpenTelemetry instrument built on this is tested in tests/plugins/otel.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    AttemptInfo,
    AttemptOutcome,
    Instrument,
    InstrumentError,
    JobEvent,
    JobsView,
    MemoryStore,
    OnceSchedule,
    PluginNotFoundError,
    Scheduler,
    TaskRegistry,
    available_plugins,
    create_instrument,
    current_run,
    hookimpl,
    register_plugin,
    unregister_plugin,
)
from tickwork._plugins import reset_plugins
from tickwork.cli import main
from tickwork.cli._config import ConfigError, load_config
from tickwork.cli._run import load_worker_config, run_worker
from tickwork.testing import InstrumentContract

#: What the recording instrument makes current for an attempt (as a span would be).
CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("test_instrument_current")


class Scope:
    def __init__(self, recorder: Recorder, info: AttemptInfo) -> None:
        self._recorder, self._info = recorder, info
        self._token = CURRENT.set(info.execution_id)

    def end(self, outcome: AttemptOutcome) -> None:
        CURRENT.reset(self._token)
        self._recorder.ended.append((self._info, outcome))


class Recorder:
    """An instrument that keeps what it was told."""

    def __init__(self) -> None:
        self.views: list[JobsView] = []
        self.closed = 0
        self.started: list[AttemptInfo] = []
        self.ended: list[tuple[AttemptInfo, AttemptOutcome]] = []
        self.store_calls: list[tuple[str, float, bool]] = []
        self.conflicts: list[str] = []

    def open(self, jobs: JobsView) -> None:
        self.views.append(jobs)

    def attempt(self, info: AttemptInfo) -> Scope:
        self.started.append(info)
        return Scope(self, info)

    def store_call(self, operation: str, seconds: float, failed: bool) -> None:
        self.store_calls.append((operation, seconds, failed))

    def claim_conflict(self, job_id: str) -> None:
        self.conflicts.append(job_id)

    def close(self) -> None:
        self.closed += 1

    def outcome_of(self, job_id: str) -> AttemptOutcome:
        return next(o for info, o in self.ended if info.job_id == job_id)


class TestRecorderContract(InstrumentContract):
    @pytest.fixture
    def make_instrument(self) -> Callable[[], Instrument]:
        return Recorder


def soon() -> OnceSchedule:
    return OnceSchedule(datetime.now(UTC))


async def test_the_handler_sees_what_the_attempt_set_in_every_kind_of_call() -> None:
    """Coroutine handler, plain handler on the scheduler's threads, tasks on the loop
    and thread executors: each sees the attempt's context, and the scope ends with
    the outcome in the run's task (the context is reset there)."""
    seen: dict[str, str | None] = {}
    recorder = Recorder()
    tasks = TaskRegistry()

    @tasks.task(name="on_loop", executor="loop")
    async def on_loop() -> None:
        seen[current_run().job_id] = CURRENT.get(None)

    @tasks.task(name="in_thread", executor="thread")
    def in_thread() -> None:
        seen[current_run().job_id] = CURRENT.get(None)

    async def handler(event: JobEvent) -> None:
        seen[event.id] = CURRENT.get(None)

    def plain(event: JobEvent) -> None:
        seen[event.id] = CURRENT.get(None)

    async with AsyncScheduler(handler=handler, tasks=tasks, instruments=[recorder]) as s:
        await s.add_job("coroutine", soon())
        await s.add_job("loop-task", soon(), task=on_loop)
        await s.add_job("thread-task", soon(), task=in_thread)
        await until(lambda: len(recorder.ended) == 3)
    async with AsyncScheduler(handler=plain, instruments=[recorder]) as s:
        await s.add_job("plain", soon())
        await until(lambda: len(recorder.ended) == 4)
    by_job = {info.job_id: info for info in recorder.started}
    assert seen == {job: by_job[job].execution_id for job in seen}
    assert set(seen) == {"coroutine", "loop-task", "thread-task", "plain"}
    assert by_job["loop-task"].task is not None
    assert by_job["coroutine"].task is None
    assert all(o.status == "completed" and o.duration >= 0 for _, o in recorder.ended)
    assert recorder.closed == 2
    assert len(recorder.views) == 2
    assert CURRENT.get(None) is None


async def test_failed_timed_out_and_retried_attempts_end_with_their_outcome() -> None:
    recorder = Recorder()

    async def handler(event: JobEvent) -> None:
        if event.id == "slow":
            await asyncio.sleep(5)
        if event.id == "fails" or (event.id == "retried" and event.attempt == 1):
            raise RuntimeError("boom")

    async with AsyncScheduler(handler=handler, instruments=[recorder]) as s:
        await s.add_job("fails", soon())
        await s.add_job("slow", soon(), timeout=timedelta(milliseconds=50))
        await s.add_job(
            "retried", soon(), retry={"max_attempts": 2, "backoff": timedelta(milliseconds=10)}
        )
        await until(lambda: len(recorder.ended) == 4)
    assert recorder.outcome_of("fails").status == "failed"
    assert recorder.outcome_of("fails").error == "boom"
    assert recorder.outcome_of("slow").status == "timed_out"
    retried = [(i.attempt, o.status) for i, o in recorder.ended if i.job_id == "retried"]
    assert retried == [(1, "failed"), (2, "completed")]


async def test_a_run_cut_short_by_stop_still_ends_its_scope() -> None:
    recorder = Recorder()
    started = asyncio.Event()

    async def handler(event: JobEvent) -> None:
        started.set()
        await asyncio.sleep(30)

    s = AsyncScheduler(handler=handler, instruments=[recorder])
    await s.start()
    await s.add_job("long", soon())
    await asyncio.wait_for(started.wait(), 5)
    await s.stop(timeout=0.1)
    assert [o.status for _, o in recorder.ended] == ["failed"]
    assert recorder.closed == 1


async def test_store_calls_are_timed_and_jobs_counted() -> None:
    recorder = Recorder()

    async def handler(event: JobEvent) -> None:
        pass

    async with AsyncScheduler(handler=handler, instruments=[recorder]) as s:
        await s.add_job("a", soon())
        await s.add_job("b", OnceSchedule(datetime.now(UTC) + timedelta(hours=1)))
        await s.pause_job("b")
        await until(lambda: any(op == "finish" for op, _, _ in recorder.store_calls))
        counts = await asyncio.to_thread(recorder.views[0].count_by_status)
    assert counts.get("disabled") == 1
    assert sum(counts.values()) == 2
    assert all(s >= 0 and not failed for _, s, failed in recorder.store_calls)


async def test_claims_are_timed_and_a_lost_claim_is_a_conflict() -> None:
    """Two coordinated schedulers on one store: one of them loses the claim (the one
    that does not own the job claims after a pause, while the owner's run still goes
    on: see tickwork._membership)."""
    store = MemoryStore()
    first, second = Recorder(), Recorder()
    ran = threading.Event()

    def handler(event: JobEvent) -> None:
        ran.set()
        time.sleep(0.5)  # still running when the other scheduler asks for the claim

    options: dict[str, Any] = {"coordinate": True, "sync_interval": 0.05}
    async with (
        AsyncScheduler(store, handler, instruments=[first], **options) as a,
        AsyncScheduler(store, handler, instruments=[second], **options) as b,
    ):
        when = datetime.now(UTC) + timedelta(milliseconds=400)
        await a.add_job("shared", OnceSchedule(when))
        await until(lambda: b._table.get("shared") is not None)
        await until(lambda: len(first.conflicts) + len(second.conflicts) == 1)
    claims = [c for r in (first, second) for c in r.store_calls if c[0] == "claim"]
    assert len(claims) == 2
    assert not any(failed for _, _, failed in claims)
    assert (first.conflicts or second.conflicts) == ["shared"]
    assert len(first.ended) + len(second.ended) == 1


class Raising(Recorder):
    def attempt(self, info: AttemptInfo) -> Scope:
        raise ValueError("instrument bug")

    def store_call(self, operation: str, seconds: float, failed: bool) -> None:
        raise ValueError("instrument bug")


async def test_an_instrument_that_raises_is_logged_and_the_runs_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()

    async def handler(event: JobEvent) -> None:
        pass

    async with AsyncScheduler(handler=handler, instruments=[Raising(), recorder]) as s:
        await s.add_job("a", soon())
        await s.add_job("b", soon())
        await until(lambda: len(recorder.ended) == 2)
    warnings = [r for r in caplog.records if r.name == "tickwork.instruments"]
    assert [r.levelno for r in warnings].count(logging.WARNING) == 1
    assert all(o.status == "completed" for _, o in recorder.ended)


@pytest.fixture
def instrument_plugin() -> Iterator[Recorder]:
    recorder = Recorder()

    class Plugin:
        @hookimpl
        def register_instruments(self, register: Callable[..., None]) -> None:
            register("recorder", lambda: recorder)

    name = register_plugin(Plugin(), "test-instruments")
    try:
        yield recorder
    finally:
        unregister_plugin(name)


def test_register_instruments(instrument_plugin: Recorder) -> None:
    """A plugin's instrument is named on the blocking scheduler too."""
    assert "recorder" in available_plugins()["instruments"]
    assert create_instrument("recorder") is instrument_plugin
    done = threading.Event()
    with Scheduler(handler=lambda event: done.set(), instruments=["recorder"]) as s:
        s.add_job("a", soon())
        assert done.wait(5)
    assert instrument_plugin.closed == 1


def test_bad_instruments_are_refused_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWORK_PLUGINS", "")  # no entry points: tickwork-otel is absent
    reset_plugins()
    try:
        with pytest.raises(PluginNotFoundError, match="pip install tickwork-otel"):
            create_instrument("otel")
    finally:
        monkeypatch.delenv("TICKWORK_PLUGINS")
        reset_plugins()
    with pytest.raises(PluginNotFoundError, match="'nope'"):
        AsyncScheduler(instruments=["nope"])
    with pytest.raises(InstrumentError, match="42"):
        AsyncScheduler(instruments=[42])  # type: ignore[list-item]


def test_without_instruments_the_run_path_holds_none() -> None:
    s = AsyncScheduler()
    assert s._path.instruments is None
    assert s._path.executor.instruments is None
    assert s._gateway.instruments is None
    assert s._intake.instruments is None


def test_the_config_file_and_run_name_instruments(tmp_path: Path) -> None:
    path = tmp_path / "worker.toml"
    path.write_text('[scheduler]\napp = "os:getcwd"\ninstruments = ["otel", "x"]\n')
    assert load_config(path).instruments == ("otel", "x")
    merged = load_worker_config(path, None, None, "memory", instruments=["y", "otel"])
    assert merged.instruments == ("otel", "x", "y")
    alone = load_worker_config(None, "os:getcwd", None, "memory", instruments=["otel"])
    assert alone.instruments == ("otel",)
    path.write_text('[scheduler]\napp = "os:getcwd"\ninstruments = "otel"\n')
    with pytest.raises(ConfigError, match=r"scheduler\.instruments must be a list"):
        load_config(path)


async def test_run_worker_refuses_an_unknown_instrument_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "worker.toml"
    path.write_text('[scheduler]\nhandler = "os:getcwd"\ninstruments = ["nope"]\n')
    with pytest.raises(PluginNotFoundError, match="no instrument named 'nope'"):
        await run_worker(load_config(path), StringIO())


def test_plugins_lists_instruments(
    instrument_plugin: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["instrument", "recorder"] for line in out.splitlines())


def test_run_takes_instrument_flags() -> None:
    from tickwork.cli import _parser

    args = _parser().parse_args(
        ["run", "--app", "m:a", "--instrument", "otel", "--instrument", "x"]
    )
    assert args.instrument == ["otel", "x"]
