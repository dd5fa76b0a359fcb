"""Tasks on the command line: ``--app`` from the current directory, task jobs in the
configuration file, ``tickwork tasks``, the task column of ``tickwork jobs list``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickwork.cli import main
from tickwork.cli._config import load_config
from tickwork.cli._run import load_worker_config

MYAPP = """
import pathlib
from datetime import timedelta

from tickwork import AsyncScheduler, TaskRegistry

tasks = TaskRegistry()
OUT = pathlib.Path(__file__).with_name("out.txt")


@tasks.task(retry=2)
def report(n, label, when=None):
    with open(OUT, "a") as f:
        f.write(f"{n} {label} {when.isoformat() if when else None}\\n")


@tasks.task(name="slow", executor="process", timeout=timedelta(seconds=30))
def slow():
    pass


def handle(event):
    pass


scheduler = AsyncScheduler("memory", handle, tasks=tasks)
answer = 42
"""

TASK_JOB = """
[[jobs]]
id = "daily"
interval = "100ms"
task = "myapp:report"
args = [1, "x"]
kwargs = { when = 2026-03-01T09:00:00Z }
options = { timeout = 5 }
"""


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``tmp_path`` as the current directory, holding ``myapp.py``; ``sys.path`` and
    ``sys.modules`` are given back as they were (each test imports its own myapp)."""
    (tmp_path / "myapp.py").write_text(MYAPP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("myapp", None)
    yield tmp_path
    sys.modules.pop("myapp", None)


def _config(folder: Path, body: str, app: str = 'app = "myapp:tasks"') -> Path:
    path = folder / "worker.toml"
    head = f'[scheduler]\nstore = "sqlite:///{folder / "w.db"}"\n{app}\n'
    path.write_text(head + textwrap.dedent(body))
    return path


def _command(*args: str) -> list[str]:
    """The installed console script (its sys.path does not hold the current directory,
    unlike ``python -m``), and an environment without PYTHONPATH."""
    script = Path(sys.executable).with_name("tickwork")
    assert script.exists(), f"no tickwork console script at {script}: run python3 dev.py setup"
    return [str(script), *args]


def _env(*, plugins: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if not plugins:
        env["TICKWORK_PLUGINS"] = ""  # the core's built-ins only: a faster start
    return env


def test_app_is_imported_from_the_current_directory(app_dir: Path) -> None:
    done = subprocess.run(
        _command("tasks", "--app", "myapp:tasks"),
        cwd=app_dir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "myapp:report" in done.stdout
    assert "slow" in done.stdout


def test_tasks_lists_name_executor_import_path_and_policies(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tasks", "--app", "myapp:tasks"]) == 0
    out = capsys.readouterr().out
    report = next(line for line in out.splitlines() if line.startswith("myapp:report"))
    assert report.split()[:3] == ["myapp:report", "thread", "myapp:report"]
    assert "retry=(max_attempts:2)" in report
    slow = next(line for line in out.splitlines() if line.startswith("slow"))
    assert slow.split()[:4] == ["slow", "process", "myapp:slow", "timeout=30s"]
    assert main(["tasks", "--app", "myapp:tasks", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in rows] == ["myapp:report", "slow"]
    assert rows[1] == {
        "name": "slow",
        "executor": "process",
        "import_path": "myapp:slow",
        "options": {"timeout": 30.0},
    }
    assert rows[0]["options"]["retry"]["max_attempts"] == 2


def test_app_may_be_a_scheduler_or_a_handler(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tasks", "--app", "myapp:scheduler"]) == 0
    out = capsys.readouterr().out
    assert "myapp:report" in out
    assert "handler for jobs without a task: myapp:handle" in out
    assert main(["tasks", "--app", "myapp:handle"]) == 0
    out = capsys.readouterr().out
    assert "(none)" in out
    assert "myapp:handle" in out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nosuchmodule:tasks", "app module 'nosuchmodule' not found in the current directory ({})"),
        ("myapp:nothing", "module 'myapp' ({}/myapp.py) has no attribute 'nothing'"),
        ("myapp:answer", "app 'myapp:answer' is a int, not a TaskRegistry"),
        ("myapp", "app must be 'module:attribute', got 'myapp'"),
    ],
)
def test_a_wrong_app_is_one_typed_line(
    app_dir: Path, capsys: pytest.CaptureFixture[str], spec: str, expected: str
) -> None:
    assert main(["tasks", "--app", spec]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("tickwork tasks: error: ")
    assert expected.format(app_dir) in err


def test_a_module_that_fails_to_import_is_one_line(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app_dir / "broken.py").write_text("import not_installed_anywhere\n")
    assert main(["run", "--app", "broken:tasks"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'broken' could not be imported" in err
    assert "not_installed_anywhere" in err
    sys.modules.pop("broken", None)


def test_a_config_task_job_runs_with_its_arguments(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(app_dir, TASK_JOB)
    proc = subprocess.Popen(
        _command("run", "--config", str(config)),
        cwd=app_dir,
        env=_env(plugins=True),  # the SQLite store is a plugin
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out_file = app_dir / "out.txt"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if out_file.exists() and out_file.read_text().count("\n") >= 2:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "running 1 jobs, 2 tasks" in out
    assert out_file.read_text().splitlines()[0] == "1 x 2026-03-01T09:00:00+00:00"
    store = f"sqlite:///{app_dir / 'w.db'}"
    assert main(["jobs", "--store", store, "list"]) == 0
    listing = capsys.readouterr().out
    assert listing.splitlines()[0].split()[:5] == ["ID", "TYPE", "CONFIG", "STATUS", "TASK"]
    assert "myapp:report" in listing.splitlines()[2]
    assert main(["jobs", "--store", store, "list", "--json"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["task"] == "myapp:report"
    # The task's default policies (retry) with the job's own (timeout) on top.
    options = json.loads(job["metadata"]["tickwork.options"])
    assert options["timeout"] == 5.0
    assert options["retry"]["max_attempts"] == 2
    assert main(["history", "--store", store, "daily", "--status", "completed"]) == 0
    assert "completed" in capsys.readouterr().out
    assert main(["jobs", "--store", store, "show", "daily"]) == 0
    shown = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert shown["task"] == "myapp:report"
    assert shown["args"] == "1, 'x'"
    assert shown["kwargs"] == (
        "when=datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.timezone.utc)"
    )
    assert main(["jobs", "--store", store, "show", "nothing"]) == 1
    assert "nothing" in capsys.readouterr().err


def test_an_unknown_task_is_refused_before_start(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(app_dir, TASK_JOB.replace("myapp:report", "myapp:typo"))
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "job 'daily' names task 'myapp:typo'" in err
    assert "registered: myapp:report, slow" in err
    assert not (app_dir / "w.db").exists()  # no store was even opened
    assert main(["tasks", "--config", str(config)]) == 1
    assert "myapp:typo" in capsys.readouterr().err


def test_a_task_job_needs_an_app_and_a_handler_job_a_handler(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(app_dir, TASK_JOB, app='handler = "myapp:handle"')
    assert main(["run", "--config", str(config)]) == 1
    assert "the configuration (it has no app) does not register" in capsys.readouterr().err
    config = _config(app_dir, '[[jobs]]\nid = "plain"\ninterval = "1m"\n')
    assert main(["run", "--config", str(config)]) == 1
    assert "job 'plain' names no task, and there is no handler" in capsys.readouterr().err


def test_config_handler_is_imported_from_the_current_directory(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(app_dir, "", app='handler = "myapp:handle"')
    assert main(["tasks", "--config", str(config)]) == 0
    assert "handler for jobs without a task: myapp:handle" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[[jobs]]\nid = "a"\ninterval = "1m"\nargs = [1]\n', "give task too"),
        ('[[jobs]]\nid = "a"\ninterval = "1m"\ntask = 3\n', "jobs[0].task must be a task name"),
        ('[[jobs]]\nid = "a"\ninterval = "1m"\ntask = "t"\nargs = 1\n', "args must be an array"),
        ('[[jobs]]\nid = "a"\ninterval = "1m"\ntask = "t"\nkwargs = 1\n', "kwargs must be a table"),
        ('[[jobs]]\nid = "a"\ninterval = "1m"\ntask = "t"\nkwargs = {"1x" = 1}\n', "1x"),
        ("", "scheduler.app must be 'module:attribute'"),
    ],
)
def test_config_task_keys_are_checked(tmp_path: Path, body: str, expected: str) -> None:
    app = 'app = "nocolon"' if not body else 'app = "m:tasks"'
    with pytest.raises(ValueError, match=r"worker\.toml") as info:
        load_config(_config(tmp_path, body, app=app))
    assert expected in str(info.value)


def test_config_task_arguments_are_python_values(tmp_path: Path) -> None:
    spec = load_config(_config(tmp_path, TASK_JOB)).jobs[0]
    assert spec.task == "myapp:report"
    assert spec.args == (1, "x")
    assert spec.kwargs["when"].isoformat() == "2026-03-01T09:00:00+00:00"


def test_run_needs_an_app_or_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 1
    assert "give --app module:attribute, --config FILE, or both" in capsys.readouterr().err
    config = load_worker_config(None, "myapp:tasks", None, "memory")
    assert (config.app, config.store, config.jobs) == ("myapp:tasks", "memory", [])
    path = _config(tmp_path, "", app='app = "a:b"')
    config = load_worker_config(path, "c:d", "memory", "unused")
    assert (config.app, config.store) == ("c:d", "memory")


def test_show_a_handler_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    assert (
        main(["jobs", "--store", store, "add", "plain", "--interval", "1m", "--meta", "a=b"]) == 0
    )
    capsys.readouterr()
    assert main(["jobs", "--store", store, "list"]) == 0
    header, _, row = capsys.readouterr().out.splitlines()
    assert row[header.index("TASK") : header.index("NEXT RUN")].strip() == ""
    assert main(["jobs", "--store", store, "show", "plain"]) == 0
    out = capsys.readouterr().out
    assert "- (runs go to the handler)" in out
    assert "a=b" in out
    assert "args" not in out
