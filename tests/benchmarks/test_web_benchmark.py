"""W10, the web dashboard's pages over a large store, at a tiny size: the benchmark
command seeds the store, asks the app for each page and reports every figure.

Like ``test_smoke.py``, this checks that the workload works, never how fast: the
PostgreSQL variant skips without its server (fails under ``CI=true``).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from support.services import POSTGRES_URL, require_port

ROOT = Path(__file__).resolve().parents[2]
PAGES = (
    "jobs_first",
    "jobs_deep",
    "history_first",
    "history_deep",
    "runs_first",
    "runs_deep",
    "overview",
)


def _run(tmp_path: Path, workload: str) -> dict[str, object]:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--workloads",
            workload,
            "--scale",
            "0.001",
            "--repeat",
            "1",
            "--postgres-url",
            POSTGRES_URL,
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
    assert f"\n{workload}  " in f"\n{done.stdout}", done.stdout
    result: dict[str, object] = json.loads(output.read_text(encoding="utf-8"))["workloads"][
        workload
    ]
    return result


def _check(result: dict[str, object]) -> None:
    assert not result["problems"], result["problems"]
    medians = result["medians"]["tickwork-async"]  # type: ignore[index]
    assert medians["jobs"] == 10
    assert medians["records"] == 100
    for page in PAGES:
        for stat in ("p50", "p95"):
            value = medians[f"{page}_{stat}_ms"]
            assert value > 0, (page, stat, value)
            assert not math.isnan(value), (page, stat)


@pytest.mark.slow
def test_w10_on_sqlite_measures_every_page(tmp_path: Path) -> None:
    _check(_run(tmp_path, "W10-sqlite"))


@pytest.mark.slow
@pytest.mark.postgresql
def test_w10_on_postgresql_measures_every_page(tmp_path: Path) -> None:
    parsed = make_url(POSTGRES_URL)
    require_port("postgresql", parsed.host or "127.0.0.1", parsed.port or 5432)
    _check(_run(tmp_path, "W10-pg"))
