"""``tickwork migrate``: refuses one store as both ends, never writes to the source,
and reports one line per step (issue 16)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tickwork import create_store
from tickwork.cli import main
from tickwork.testing import make_job, make_record


def _seed(url: str, jobs: int = 2) -> None:
    async def seed() -> None:
        store = create_store(url)
        await store.initialize()
        for i in range(jobs):
            await store.save_job(make_job(f"job-{i}"))
            await store.save_execution(make_record(f"job-{i}", f"exec-{i}"))
        await store.close()

    asyncio.run(seed())


def test_the_same_store_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "jobs.db"
    _seed(f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    # The same file, spelt two ways.
    assert main(["migrate", f"sqlite:///{path}", "sqlite:///jobs.db"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "same store" in err
    assert "jobs.db" in err


def test_two_memory_stores_are_not_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "memory", "memory"]) == 0
    assert "jobs: 0 copied" in capsys.readouterr().out


def test_one_line_per_step_and_the_source_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    _seed(f"sqlite:///{src}", jobs=3)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert main(["migrate", f"sqlite:///{src}", f"sqlite:///{dst}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("source sqlite:///")
    assert lines[0].endswith("(read only)")
    assert lines[1].startswith("destination sqlite:///")
    assert lines[2:] == ["jobs: 3 copied, 0 already there", "records: 3 copied, 0 already there"]
    # No write reached the source: the database file (and its WAL, when there is one)
    # kept its modification time.
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.name in before}
    assert after == before
    assert "\r" not in "".join(lines)  # not a terminal: no in-place progress
    assert os.path.exists(dst)
