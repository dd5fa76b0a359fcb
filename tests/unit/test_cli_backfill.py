"""``tickwork backfill``: a dry run lists the ticks and changes nothing; a run executes
them with the app's tasks on the stored job, and nothing else."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickwork import AsyncScheduler, ExecutionStatus
from tickwork.cli import main
from tickwork.cli._app import load_app

APP = """
import pathlib

from tickwork import TaskRegistry, current_run

tasks = TaskRegistry()
OUT = pathlib.Path(__file__).with_name("out.txt")


@tasks.task(name="tally")
def tally():
    run = current_run()
    if run.scheduled_at.hour == 2:
        raise ValueError("two o'clock is broken")
    with open(OUT, "a") as f:
        f.write(f"{run.scheduled_at.isoformat()} {run.backfill}\\n")
"""


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "bfapp.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("bfapp", None)
    yield tmp_path
    sys.modules.pop("bfapp", None)


def _cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _store(folder: Path) -> str:
    return f"sqlite:///{folder / 'bf.db'}"


def _add_hourly(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    # A grid from 2030-01-01 00:00: its ticks before today are in no one's past yet,
    # which does not matter to a backfill (it runs the ticks it is given, now).
    code, _, err = _cli(
        "jobs", "add", "hourly", "--interval", "1h", "--start-at", "2030-01-01T00:00:00Z",
        "--store", store, capsys=capsys,
    )  # fmt: skip
    assert code == 0, err


def test_a_dry_run_lists_the_ticks_and_runs_nothing(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(app_dir)
    _add_hourly(store, capsys)
    code, out, err = _cli(
        "backfill", "hourly", "--start", "2030-01-01T00:00:00Z", "--end", "2030-01-01T03:00:00Z",
        "--store", store, "--dry-run", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "3 tick(s) to run" in out
    for hour in ("00:00:00", "01:00:00", "02:00:00"):
        assert f"2030-01-01 {hour}" in out
    code, out, _ = _cli("history", "hourly", "--store", store, "--json", capsys=capsys)
    assert (code, out) == (0, "")


def test_a_run_executes_each_tick_with_the_apps_task(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(app_dir)
    code, _, err = _cli(
        "jobs", "add", "tally", "--interval", "1h", "--start-at", "2030-01-01T00:00:00Z",
        "--store", store, capsys=capsys,
    )  # fmt: skip
    assert code == 0, err

    # Give the stored job its task through the API (as an app's code would).
    async def give_task() -> None:
        async with AsyncScheduler(store, tasks=load_app("bfapp:tasks").tasks) as s:
            await s.update_job_task("tally", "tally")

    asyncio.run(give_task())
    code, out, err = _cli(
        "backfill", "tally", "--start", "2030-01-01T00:00:00Z", "--end", "2030-01-01T04:00:00Z",
        "--store", store, "--app", "bfapp:tasks", capsys=capsys,
    )  # fmt: skip
    assert code == 1, err  # one tick failed: the exit status says so
    lines = (app_dir / "out.txt").read_text().split()
    assert lines == [
        "2030-01-01T00:00:00+00:00", "True",
        "2030-01-01T01:00:00+00:00", "True",
        "2030-01-01T03:00:00+00:00", "True",
    ]  # fmt: skip
    assert out.count(str(ExecutionStatus.COMPLETED.value)) >= 3
    assert "failed" in out
    assert "4 tick(s): 3 ran, 0 skipped" in out
    code, out, _ = _cli("history", "tally", "--store", store, "--json", capsys=capsys)
    assert out.count('"backfill": "true"') == 4


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--start", "yesterday", "--end", "2030-01-01T00:00:00Z"], "--start takes an RFC 3339"),
        (["--start", "2030-01-01T00:00:00", "--end", "2030-01-02T00:00:00Z"], "UTC offset"),
        (["--start", "2030-01-02T00:00:00Z", "--end", "2030-01-01T00:00:00Z"], "not before end"),
        (["--start", "2030-01-01T00:00:00Z", "--end", "2032-01-01T00:00:00Z"], "more than"),
        (["--start", "2030-01-01T00:00:00Z", "--end", "2030-01-02T00:00:00Z"], "give --app"),
    ],
)
def test_bad_input_is_one_line_naming_it(
    app_dir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    store = _store(app_dir)
    _add_hourly(store, capsys)
    code, _, err = _cli("backfill", "hourly", "--store", store, *extra, capsys=capsys)
    assert code == 1
    assert says in err
    assert err.count("\n") == 1


def test_a_store_that_does_not_exist_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'missing.db'}"
    code, _, err = _cli(
        "backfill", "j", "--start", "2030-01-01T00:00:00Z", "--end", "2030-01-02T00:00:00Z",
        "--store", store, "--dry-run", capsys=capsys,
    )  # fmt: skip
    assert code == 1
    assert not (tmp_path / "missing.db").exists()
    assert err.count("\n") == 1
