"""The configuration file and the flags of ``tickwork jobs add`` are strict: what would
be ignored or misread is an error, one line naming the key (and the job) at fault
(issue 16)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tickwork import RetryPolicy
from tickwork.cli import main
from tickwork.cli._config import ConfigError, load_config

HEAD = '[scheduler]\nhandler = "os:getcwd"\n'


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "worker.toml"
    path.write_text(HEAD + text, encoding="utf-8")
    return load_config(path)


def _refused(tmp_path: Path, text: str, *fragments: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_an_unknown_job_key_is_named_with_the_closest_known_one(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        '[[jobs]]\nid = "a"\nintervall = "1m"\n',
        "job 'a'",
        "unknown key 'intervall'",
        "did you mean 'interval'?",
    )


def test_a_misspelt_run_policy_points_to_the_options_table(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        '[[jobs]]\nid = "a"\ninterval = "1m"\ntimout = "30s"\n',
        "unknown key 'timout'",
        "options = { timeout = ... }",
    )


def test_unknown_keys_in_every_table(tmp_path: Path) -> None:
    _refused(tmp_path, "max_worker = 3\n", "[scheduler]", "'max_worker'", "'max_workers'")
    _refused(tmp_path, '[[job]]\nid = "a"\n', "unknown key 'job'", "'jobs'")
    _refused(
        tmp_path,
        '[[jobs]]\nid = "a"\ninterval = "1m"\noptions = { timout = "30s" }\n',
        "options",
        "'timout'",
        "'timeout'",
    )
    _refused(
        tmp_path,
        '[[jobs]]\nid = "a"\ninterval = "1m"\noptions = { retry = { max_attempt = 2 } }\n',
        "options.retry",
        "'max_attempts'",
    )


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ('interval = "1m"\ncron = "0 9 * * *"', "not interval and cron"),
        ('cron = "0 9 * * *"\nonce = 2030-01-01T00:00:00Z', "not cron and once"),
        ('interval = "1m"\nonce = 2030-01-01T00:00:00Z', "not interval and once"),
    ],
)
def test_two_schedule_kinds_are_refused(tmp_path: Path, schedule: str, fragment: str) -> None:
    _refused(tmp_path, f'[[jobs]]\nid = "both"\n{schedule}\n', "job 'both'", fragment)


def test_timezone_and_start_at_where_they_would_be_ignored(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        '[[jobs]]\nid = "a"\ninterval = "1m"\ntimezone = "Europe/Paris"\n',
        "job 'a'",
        "timezone goes with cron, not with interval",
    )
    _refused(
        tmp_path,
        '[[jobs]]\nid = "a"\ncron = "0 9 * * *"\nstart_at = 2030-01-01T00:00:00Z\n',
        "start_at goes with interval, not with cron",
    )


def test_metadata_values_must_be_strings(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        '[[jobs]]\nid = "a"\ninterval = "1m"\nmetadata = { retries = 3 }\n',
        "job 'a'",
        "metadata.retries must be a string, got 3",
    )


def test_run_policies_take_the_interval_duration_syntax(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        '[[jobs]]\nid = "a"\ninterval = "30s"\n'
        'options = { timeout = "30s", jitter = "1m30s", misfire_grace_time = 5, '
        'retry = { max_attempts = 2, backoff = "2s", max_backoff = "1m" } }\n',
    )
    options = config.jobs[0].options  # type: ignore[attr-defined]
    assert options.timeout == timedelta(seconds=30)
    assert options.jitter == timedelta(seconds=90)
    assert options.misfire_grace_time == timedelta(seconds=5)
    assert options.retry == RetryPolicy(
        max_attempts=2, backoff=timedelta(seconds=2), max_backoff=timedelta(minutes=1)
    )
    _refused(
        tmp_path,
        '[[jobs]]\nid = "a"\ninterval = "1m"\noptions = { timeout = "soon" }\n',
        "options.timeout",
        "soon",
    )


@pytest.mark.parametrize("value", ['"twenty"', "0", "true", "2.5"])
def test_max_workers_names_the_key(tmp_path: Path, value: str) -> None:
    _refused(tmp_path, f"max_workers = {value}\n", "scheduler.max_workers", "whole number")


def test_the_whole_file_is_checked_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "jobs.db"
    path = tmp_path / "worker.toml"
    path.write_text(
        f'[scheduler]\nhandler = "os:getcwd"\nstore = "sqlite:///{db}"\n'
        '[[jobs]]\nid = "good"\ninterval = "1m"\n'
        '[[jobs]]\nid = "bad"\ninterval = "1m"\ncron = "0 9 * * *"\n',
        encoding="utf-8",
    )
    assert main(["run", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "job 'bad'" in err
    assert not db.exists()  # no store was opened, no job added


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--interval", "5m", "--timezone", "Europe/Paris"], "--timezone goes with --cron"),
        (["--once", "2030-01-01T00:00:00Z", "--timezone", "UTC"], "not with --once"),
        (["--cron", "0 9 * * *", "--start-at", "2030-01-01T00:00:00Z"], "--start-at goes"),
    ],
)
def test_flags_that_would_be_ignored_are_refused(
    flags: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    assert main(["jobs", "--store", db, "add", "x", *flags]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert fragment in err
    assert not (tmp_path / "jobs.db").exists()  # refused before the store was opened
    assert (
        main(["jobs", "--store", db, "add", "ok", "--cron", "0 9 * * *", "--timezone", "UTC"]) == 0
    )
