"""Errors from public calls and commands: a ``TickworkError`` in one line that names
the thing at fault and suggests a fix that exists where the user is (issue 16)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tickwork
from tickwork import (
    AsyncScheduler,
    ExecutionRecord,
    IntervalSchedule,
    JobIDTooLongError,
    JobStatus,
    MemoryStore,
    StoreURLError,
    TickworkError,
    UnsupportedScheduleError,
)
from tickwork._url_text import redacted
from tickwork.cli import main
from tickwork.cli._argv import attach_negative_values
from tickwork.cli._duration_text import duration_cell

T0 = datetime(2025, 10, 2, 9, 0, 1, 3000, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert isinstance(exc, TickworkError)
    assert "\n" not in text
    return text


def _cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the command, which must fail with status 1, and return its one error line."""
    capsys.readouterr()
    assert main(list(argv)) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert "Traceback" not in err
    return err


# -- the Python API ----------------------------------------------------------------------


def test_a_negative_interval_is_shown_as_a_duration() -> None:
    with pytest.raises(tickwork.InvalidIntervalError) as info:
        IntervalSchedule(timedelta(seconds=-5))
    text = _one_line(info.value)
    assert "interval -5s" in text
    assert "timedelta(" not in text
    assert "days=-1" not in text


async def test_a_string_given_as_a_schedule_is_explained() -> None:
    scheduler = AsyncScheduler(handler=lambda event: None)
    with pytest.raises(UnsupportedScheduleError) as info:
        await scheduler.add_job("x", "*/5 * * * *")  # type: ignore[arg-type]
    text = _one_line(info.value)
    assert "not the string '*/5 * * * *'" in text
    assert "CronSchedule('*/5 * * * *')" in text
    assert "Install the plugin" not in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("sqlite:/jobs.db", "sqlite:///relative/path.db", id="one-slash"),
        pytest.param("SQLite:jobs.db", "sqlite:///relative/path.db", id="no-slash"),
        pytest.param("nats:127.0.0.1:4222", "nats://HOST:4222", id="nats-no-slash"),
    ],
)
def test_a_registered_scheme_without_slashes_names_the_forms(url: str, expected: str) -> None:
    with pytest.raises(StoreURLError) as info:
        tickwork.create_store(url)
    text = _one_line(info.value)
    assert expected in text
    assert "SCHEME://" in text
    assert isinstance(info.value, ValueError)


def test_a_malformed_url_with_a_password_is_not_echoed() -> None:
    with pytest.raises(StoreURLError) as info:
        tickwork.create_store("postgresql:/user:s3cret@host/db")
    assert "s3cret" not in str(info.value)


def test_an_unknown_name_is_still_a_plugin_not_found() -> None:
    with pytest.raises(tickwork.PluginNotFoundError):
        tickwork.create_store("nosuchstore")


async def test_an_id_longer_than_the_store_holds_is_refused_by_add_job(tmp_path: Path) -> None:
    """Before the fix the job was kept, and ``start()`` failed to save it."""
    store = tickwork.create_store(f"sqlite:///{tmp_path / 'jobs.db'}", shared=False)
    scheduler = AsyncScheduler(store, handler=lambda event: None)
    every_minute = IntervalSchedule(timedelta(minutes=1))
    with pytest.raises(JobIDTooLongError) as info:
        await scheduler.add_job("y" * 256, every_minute)
    text = _one_line(info.value)
    assert "255" in text
    assert "256" in text
    with pytest.raises(JobIDTooLongError):
        await scheduler.add_jobs([("ok", every_minute), ("z" * 300, every_minute)])
    await scheduler.add_job("\U0001f680" * 255, every_minute)  # characters, not bytes
    async with scheduler:
        assert [job.id for job in await scheduler.list_jobs()] == ["\U0001f680" * 255]


async def test_an_unknown_job_in_the_api_names_the_store_without_its_password(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    async with AsyncScheduler(url, handler=lambda event: None) as scheduler:
        for call in (scheduler.get_job("nope"), scheduler.pause_job("nope")):
            with pytest.raises(tickwork.JobNotFoundError) as info:
                await call
            assert _one_line(info.value).startswith("no job with id 'nope' in SQLAlchemyStore(")
            assert "jobs.db" in str(info.value)
            assert info.value.store is not None
    secret = tickwork.create_store("postgresql://u:hunter2@127.0.0.1:1/test")
    assert "hunter2" not in repr(secret)  # what the message would show


async def test_a_store_without_an_id_limit_takes_long_ids() -> None:
    async with AsyncScheduler(MemoryStore(), handler=lambda event: None) as scheduler:
        await scheduler.add_job("m" * 10_000, IntervalSchedule(timedelta(minutes=1)))


async def test_run_history_of_an_unknown_or_removed_job_is_what_is_stored() -> None:
    """As the API reference says: no JobNotFoundError; a removed job keeps its records."""
    store = MemoryStore()
    async with AsyncScheduler(store, handler=lambda event: None) as scheduler:
        assert await scheduler.run_history("never-added") == []
        await store.save_execution(
            ExecutionRecord(
                job_id="gone",
                execution_id="e1",
                start_time=T0,
                end_time=T0 + timedelta(seconds=3),
                duration=timedelta(seconds=3),
                status=JobStatus.COMPLETED,
            )
        )
        assert [r.execution_id for r in await scheduler.run_history("gone")] == ["e1"]


# -- the command line --------------------------------------------------------------------


def test_a_negative_interval_flag_is_refused_with_its_own_message(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _cli_error(capsys, "jobs", "--store", db, "add", "x", "--interval", "-5s")
    assert "--interval" in err
    assert "-5s" in err
    assert "greater than zero" in err
    assert "expected one argument" not in err
    assert not Path(db.removeprefix("sqlite:///")).exists()  # refused before opening


def test_only_duration_flags_get_their_negative_value_attached() -> None:
    assert attach_negative_values(["add", "--interval", "-1.5h", "--limit", "-1"]) == [
        "add",
        "--interval=-1.5h",
        "--limit",
        "-1",
    ]
    assert attach_negative_values(["--", "--interval", "-5s"]) == ["--", "--interval", "-5s"]


@pytest.mark.parametrize("flag", ["--since", "--until"])
def test_a_time_flag_that_is_no_time_is_named(
    db: str, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "--store", db, "add", "x", "--interval", "1m"]) == 0
    err = _cli_error(capsys, "history", "x", "--store", db, flag, "yesterday")
    assert f"{flag} 'yesterday' is not an RFC 3339 time" in err


def test_jobs_add_refuses_a_too_long_id_before_creating_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.db"
    err = _cli_error(
        capsys, "jobs", "--store", f"sqlite:///{path}", "add", "y" * 256, "--interval", "1m"
    )
    assert "255" in err
    assert not path.exists()  # refused before the store was opened, so never created


def test_an_id_already_stored_suggests_a_command_not_update_job(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "--store", db, "add", "x y", "--interval", "1m"]) == 0
    err = _cli_error(capsys, "jobs", "--store", db, "add", "x y", "--interval", "1m")
    assert "update_job" not in err
    assert db in err
    assert "tickwork jobs remove 'x y'" in err


def test_an_unknown_job_names_the_store(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--store", db, "add", "x", "--interval", "1m"]) == 0
    for action in ("remove", "pause", "show"):
        err = _cli_error(capsys, "jobs", "--store", db, action, "nope")
        assert f"no job with id 'nope' in {db}" in err
    span = ["--start", "2025-01-01T00:00:00Z", "--end", "2025-01-02T00:00:00Z", "--dry-run"]
    err = _cli_error(capsys, "backfill", "nope", "--store", db, *span)
    assert f"no job with id 'nope' in {db}" in err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/jobs", "postgresql://app:***@db:5432/jobs"),
        ("postgresql://app:p@ss@db/jobs", "postgresql://app:***@db/jobs"),
        ("nats://t0ken@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
        ("postgresql://app@db/jobs", "postgresql://app@db/jobs"),
        ("sqlite:///jobs.db", "sqlite:///jobs.db"),
        ("memory", "memory"),
    ],
)
def test_store_urls_in_messages_hide_secrets(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_history_json_gives_seconds_and_the_table_a_readable_unit(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    async def seed() -> None:
        store = tickwork.create_store(db)
        await store.initialize()
        for n, seconds in enumerate((0.0436, 3.000007)):
            await store.save_execution(
                ExecutionRecord(
                    job_id="report",
                    execution_id=f"e{n}",
                    start_time=T0 + timedelta(minutes=n),
                    end_time=T0 + timedelta(minutes=n, seconds=seconds),
                    duration=timedelta(seconds=seconds),
                    status=JobStatus.COMPLETED,
                )
            )
        await store.close()

    asyncio.run(seed())
    assert main(["history", "report", "--store", db, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["execution_id"], r["duration_seconds"]) for r in lines] == [
        ("e1", 3.000007),
        ("e0", 0.0436),
    ]  # newest first, as the table
    assert all("duration" not in r for r in lines)
    assert main(["history", "report", "--store", db]) == 0
    table = capsys.readouterr().out
    assert "3.00 s" in table
    assert "43.6 ms" in table


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0436, "43.6 ms"), (3.000007, "3.00 s"), (125, "2m 05s"), (3720, "1h 02m"), (-2, "-2.00 s")],
)
def test_durations_in_tables_pick_their_unit(seconds: float, text: str) -> None:
    assert duration_cell(timedelta(seconds=seconds)) == text
