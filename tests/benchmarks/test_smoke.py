"""A short run of the benchmark command: it must print a table and write valid JSON.

Benchmarks are never timed assertions; this only checks that the command works end to
end (fresh subprocesses, both libraries, a SQLite workload with its prepare step) at
tiny sizes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ("W2", "W4")
SIDES = ("tickwork", "apscheduler")


@pytest.mark.slow
def test_benchmark_command_prints_a_table_and_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--workloads",
            ",".join(WORKLOADS),
            "--sides",
            ",".join(SIDES),
            "--scale",
            "0.001",
            "--duration",
            "0.2",
            "--repeat",
            "1",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout
    assert "tw/APS" in table
    for workload in WORKLOADS:
        assert f"\n{workload}  " in f"\n{table}", table

    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["settings"]["repeat"] == 1
    assert set(report["workloads"]) == set(WORKLOADS)
    for workload in WORKLOADS:
        result = report["workloads"][workload]
        assert not result["problems"], result["problems"]
        for side in SIDES:
            assert len(result["runs"][side]) == 1
            assert result["medians"][side]
        assert result["metrics"]
        for row in result["metrics"]:
            assert {"key", "label", "unit", "target", "ratio", "met", *SIDES} <= set(row)
    first = report["workloads"]["W2"]["medians"]["tickwork"]
    assert first["dropped"] == 0
    assert report["workloads"]["W4"]["medians"]["apscheduler"]["jobs_loaded"] == 10
