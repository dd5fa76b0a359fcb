"""The tickwork command line, driven in-process and as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tickwork.cli import main


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


def test_plugins_lists_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("memory", "local", "interval", "cron", "once", "start_at_interval"):
        assert name in out
    assert "KIND" in out


def test_jobs_add_list_pause_resume_remove(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["jobs", "--store", db, "add", "backup", "--interval", "1h30m", "--meta", "team=ops"])
        == 0
    )
    assert (
        main(
            [
                "jobs",
                "--store",
                db,
                "add",
                "report",
                "--cron",
                "0 9 * * 1",
                "--timezone",
                "Europe/Paris",
            ]
        )
        == 0
    )
    assert main(["jobs", "--store", db, "list"]) == 0
    out = capsys.readouterr().out
    assert "1h30m0s" in out
    assert "CRON_TZ=Europe/Paris 0 9 * * 1" in out
    assert "team=ops" in out
    assert main(["jobs", "--store", db, "pause", "backup"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert main(["jobs", "--store", db, "resume", "backup"]) == 0
    assert "pending" in capsys.readouterr().out
    assert main(["jobs", "--store", db, "remove", "backup"]) == 0
    assert "removed job 'backup'" in capsys.readouterr().out
    main(["jobs", "--store", db, "list"])
    out = capsys.readouterr().out
    assert "backup" not in out
    assert "report" in out


def test_errors_are_one_line_and_nonzero(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--store", db, "remove", "missing"]) == 1
    assert "no tickwork store" in capsys.readouterr().err  # removing never creates one
    assert main(["jobs", "--store", db, "add", "present", "--interval", "5m"]) == 0
    capsys.readouterr()
    assert main(["jobs", "--store", db, "remove", "missing"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "missing" in err
    assert main(["jobs", "--store", "redis://x", "list"]) == 1
    assert "redis" in capsys.readouterr().err
    assert main(["jobs", "--store", db, "add", "bad", "--cron", "61 * * * *"]) == 1
    assert "cron" in capsys.readouterr().err
    assert main(["history", "--store", db, "nothing-here"]) == 1


def test_demo_runs_and_leaves_history(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--store", db, "--seconds", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "heartbeat" in out
    assert "completed" in out
    assert main(["history", "--store", db, "heartbeat", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("completed") == 2


def test_migrate_between_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["demo", "--store", src, "--seconds", "1.5"]) == 0
    capsys.readouterr()
    assert main(["migrate", src, dst]) == 0
    first = capsys.readouterr().out
    assert "jobs" in first
    assert main(["migrate", src, dst]) == 0
    again = capsys.readouterr().out
    # The second run copies nothing: everything is counted as already there.
    jobs_row = next(line for line in again.splitlines() if line.startswith("jobs"))
    assert jobs_row.split()[1] == "0"
    assert main(["jobs", "--store", dst, "list"]) == 0
    assert "heartbeat" in capsys.readouterr().out


def test_run_a_worker_from_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "myjobs.py").write_text(
        textwrap.dedent(
            """
            import pathlib
            def handle(event):
                with open(pathlib.Path(__file__).with_name("ran.txt"), "a") as f:
                    f.write(event.id + "\\n")
            """
        )
    )
    config = tmp_path / "worker.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [scheduler]
            store = "sqlite:///{tmp_path / "w.db"}"
            handler = "myjobs:handle"

            [[jobs]]
            id = "fast"
            interval = "100ms"
            metadata = {{ team = "ops" }}
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickwork.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        ran = tmp_path / "ran.txt"
        while time.monotonic() < deadline and (
            not ran.exists() or ran.read_text().count("fast") < 3
        ):
            time.sleep(0.05)
        assert ran.exists(), proc.stderr.read() if proc.poll() is not None else "no runs"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "running 1 jobs" in out


def test_run_with_a_bad_config_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[scheduler]\nhandler = "nope"\n')
    assert main(["run", "--config", str(config)]) == 1
    assert "module:function" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_explain_a_cron_expression_across_a_dst_gap(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", "30 2 * * *", "--tz", "Europe/Paris", "--count", "3"]
    assert main([*args, "--after", "2025-03-29T00:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "2025-03-29 02:30:00 CET" in out
    assert "2025-03-30 03:00:00 CEST" in out  # 02:30 does not exist that day
    assert "2025-03-31 02:30:00 CEST" in out


def test_explain_a_stored_schedule_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "once:2030-01-01T09:00:00Z", "--count", "5"]) == 0
    out = capsys.readouterr().out
    assert "2030-01-01 09:00:00" in out
    assert "ends after 1" in out
    assert main(["explain", "61 * * * *"]) == 1
    assert "61" in capsys.readouterr().err


def test_history_filters_by_tick_log_outcome(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    # 'flaky' runs every 2 s and fails every second run: its second run is at 4 s.
    assert main(["demo", "--store", db, "--seconds", "4.6"]) == 0
    capsys.readouterr()
    assert main(["history", "--store", db, "flaky", "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert "simulated failure" in out
    assert "completed" not in out
    assert main(["history", "--store", db, "heartbeat", "--status", "skipped_overlap"]) == 0
    assert "(none)" in capsys.readouterr().out


def test_config_jobs_may_set_run_policies(tmp_path: Path) -> None:
    from tickwork.cli._config import load_config

    config = tmp_path / "w.toml"
    config.write_text(
        '[scheduler]\nhandler = "m:f"\n[[jobs]]\nid = "a"\ninterval = "1m"\n'
        'options = { timeout = 30, retry = 3, overlap = "queue_one" }\n'
    )
    spec = load_config(config).jobs[0]
    assert spec.options.timeout is not None
    assert spec.options.timeout.total_seconds() == 30
    assert spec.options.retry is not None
    assert spec.options.retry.max_attempts == 3
    config.write_text(
        '[scheduler]\nhandler = "m:f"\n[[jobs]]\nid = "a"\ninterval = "1m"\n'
        'options = { colour = "blue" }\n'
    )
    with pytest.raises(ValueError, match="colour"):
        load_config(config)


def test_jobs_add_refuses_the_reserved_metadata_key(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            ["jobs", "--store", db, "add", "x", "--interval", "1m", "--meta", "tickwork.options={}"]
        )
        == 1
    )
    assert "reserved" in capsys.readouterr().err


def test_jobs_and_history_as_json(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["demo", "--store", db, "--seconds", "1.5"]) == 0
    capsys.readouterr()
    assert main(["jobs", "--store", db, "list", "--json"]) == 0
    jobs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {j["id"] for j in jobs} >= {"heartbeat", "nightly"}
    assert main(["history", "--store", db, "heartbeat", "--json", "--limit", "1"]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["status"] == "completed"
    assert isinstance(record["duration_seconds"], float)
    assert "duration" not in record


def test_jobs_list_marks_quarantined_jobs(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from tickwork import JobData, create_store

    async def seed() -> None:
        store = create_store(db)
        await store.initialize()
        await store.save_job(JobData(id="odd", schedule_type="lunar", schedule_config="x"))
        await store.save_job(JobData(id="bad", schedule_type="cron", schedule_config="9 9 9"))
        await store.close()

    asyncio.run(seed())
    assert main(["jobs", "--store", db, "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("quarantined (pending)") == 2
    # Each says why in its own words, in full, below the table.
    assert "job 'odd' is quarantined: no codec handles schedule 'lunar'" in out
    assert (
        "job 'bad' is quarantined: invalid cron schedule configuration '9 9 9': expected 5 "
        "fields" in out
    )


def test_jobs_takes_store_before_or_after_the_action(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "add", "--store", db, "after", "--interval", "5m"]) == 0
    assert main(["jobs", "--store", db, "add", "before", "--interval", "5m"]) == 0
    capsys.readouterr()
    for argv in (["jobs", "list", "--store", db], ["jobs", "--store", db, "list"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "after" in out
        assert "before" in out
    assert main(["jobs", "show", "after", "--store", db]) == 0
    assert "5m0s" in capsys.readouterr().out
    # After the action, it wins over one given before it.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["jobs", "--store", other, "list", "--store", db]) == 0
    assert "after" in capsys.readouterr().out
