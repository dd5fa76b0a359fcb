"""A short run of the benchmark command: it must print a table and write valid JSON.

Benchmarks are never timed assertions; this only checks that the command works end to
end (fresh subprocesses, tickwork and both APScheduler versions, a SQLite workload with
its prepare step) at tiny sizes, and that the opt-in variants work on each server:
PostgreSQL, MariaDB, the NATS KV store and the NATS trigger with 3 worker processes, and
W8 (a million jobs) at a hundred. Those skip without their server, and fail under
``CI=true`` (``support.services``).

APScheduler 4 runs in an environment of its own that the benchmark command builds on
first use (``benchmarks/_aps4_env.py``: a second or two from uv's cache, a few seconds
from PyPI), so these tests build it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from support.nats_server import find_nats_server
from support.services import MARIADB_URL, POSTGRES_URL, require_port, unavailable

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ("W2", "W4")
SIDES = ("tickwork", "apscheduler", "apscheduler4")


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
        timeout=170,
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
    assert report["workloads"]["W4"]["medians"]["apscheduler4"]["jobs_loaded"] == 10
    assert report["workloads"]["W2"]["medians"]["apscheduler4"]["dropped"] == 0
    assert "4.0.0a6" in report["versions"]["apscheduler4"]


# -- the variants on servers ----------------------------------------------------------------

BOTH = ("tickwork", "apscheduler")
EVERY_LIBRARY = ("tickwork", "apscheduler", "apscheduler4")
TICKWORK = ("tickwork", "tickwork-async")
TINY = ("--scale", "0.001", "--duration", "0.2")
VARIANTS = [
    # (workload, service, sides, sizes): one per server, and the trigger on 3 processes.
    pytest.param("W4-pg", "postgresql", EVERY_LIBRARY, TINY, marks=pytest.mark.postgresql),
    pytest.param("W2-mariadb", "mariadb", BOTH, TINY, marks=pytest.mark.mariadb),
    # W1 needs a few due runs in its window: 10 jobs for 1 s.
    pytest.param(
        "W1-nats", "nats", TICKWORK, ("--scale", "0.01", "--duration", "1"), marks=pytest.mark.nats
    ),
    pytest.param("W2-nats-trig3", "nats", TICKWORK, TINY, marks=pytest.mark.nats),
]


def _require(service: str) -> None:
    """Skip without the service (fail under ``CI=true``), as the integration tests do."""
    if service == "nats":
        binary, why = find_nats_server()
        if binary is None:
            unavailable("nats-server", why)
        return
    parsed = make_url(POSTGRES_URL if service == "postgresql" else MARIADB_URL)
    default_port = 5432 if service == "postgresql" else 3306
    require_port(service, parsed.host or "127.0.0.1", parsed.port or default_port)


@pytest.mark.slow
@pytest.mark.parametrize(("workload", "service", "sides", "sizes"), VARIANTS)
def test_a_variant_on_a_server_runs(
    tmp_path: Path, workload: str, service: str, sides: tuple[str, ...], sizes: tuple[str, ...]
) -> None:
    """A tiny run of the variant, in a fresh namespace on the server; every tickwork side
    must measure, and APScheduler too unless its driver is missing (PostgreSQL)."""
    _require(service)
    output = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--workloads",
            workload,
            "--sides",
            ",".join(sides),
            *sizes,
            "--repeat",
            "1",
            "--postgres-url",
            POSTGRES_URL,
            "--mariadb-url",
            MARIADB_URL,
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"\n{workload}  " in f"\n{done.stdout}", done.stdout

    result = json.loads(output.read_text(encoding="utf-8"))["workloads"][workload]
    problems = dict(result["problems"])
    aps = problems.pop("apscheduler/main", None)
    if aps is not None:  # only where APScheduler has no blocking driver
        assert service == "postgresql", aps
        assert "blocking PostgreSQL driver" in aps, aps
    assert not problems, problems
    for side in sides:
        if side == "apscheduler" and aps is not None:
            continue
        assert len(result["runs"][side]) == 1, result["runs"]
        assert result["medians"][side]
    medians = result["medians"]["tickwork"]
    if workload.startswith("W2"):
        assert medians["dropped"] == 0
        assert medians["records_pct"] == 100.0
    if workload.startswith("W4"):
        assert medians["jobs_loaded"] == 10
    if workload.startswith("W1"):
        assert medians["runs_pct"] > 0  # not 100: a busy machine may push a run past the window
        assert medians["records_pct"] == 100.0
    if "trig" in workload:
        assert medians["duplicates"] == 0
        assert medians["stop_hung"] == 0
        assert len(medians["by_worker"].split("/")) == 3


@pytest.mark.slow
@pytest.mark.postgresql
def test_w7_runs_on_one_and_three_processes(tmp_path: Path) -> None:
    """W7 on PostgreSQL at a tiny size (20 one-off jobs, 2 grid jobs for 1 s), the
    blocking side only: every case measures, nothing runs twice or is missed, the
    three-process cases report three processes, and the store calls are counted."""
    _require("postgresql")
    output = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--workloads",
            "W7-pg",
            "--sides",
            "tickwork",
            "--scale",
            "0.002",
            "--duration",
            "1",
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
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\nW7-pg  " in f"\n{done.stdout}", done.stdout

    result = json.loads(output.read_text(encoding="utf-8"))["workloads"]["W7-pg"]
    assert not result["problems"], result["problems"]
    medians = result["medians"]["tickwork"]
    assert medians["duplicates"] == 0
    assert medians["missed"] == 0
    assert medians["records_pct"] == 100.0
    assert medians["burst1_runs"] == 20
    assert len(medians["burst3_by_worker"].split("/")) == 3
    assert len(medians["grid3_by_worker"].split("/")) == 3
    for case in ("burst1", "burst3", "grid1", "grid3"):
        assert medians[f"{case}_items_per_run"] >= 1  # at least the claim or the finish
        assert medians[f"{case}_store_calls"]["claim_jobs"] >= 1


# -- W8: a million jobs, at a hundred ---------------------------------------------------------

W8_CASES = [
    pytest.param({"W8-mem": "mem", "W8-sqlite": "sqlite"}, id="W8-mem,W8-sqlite"),
    pytest.param({"W8-pg": "pg"}, marks=pytest.mark.postgresql, id="W8-pg"),
]


@pytest.mark.slow
@pytest.mark.parametrize("keys", W8_CASES)
def test_w8_measures_every_figure(tmp_path: Path, keys: dict[str, str]) -> None:
    """W8 at 100 jobs (10 extra), both libraries: every case measures, tickwork pages
    through the store, and the database cases start their overdue runs."""
    if "W8-pg" in keys:
        _require("postgresql")
    output = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--workloads",
            ",".join(keys),
            "--sides",
            ",".join(BOTH),
            "--scale",
            "0.0001",
            "--duration",
            "0.2",
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
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(output.read_text(encoding="utf-8"))["workloads"]
    for workload, key in keys.items():
        result = results[workload]
        assert result["params"]["jobs"] == 100
        assert not result["problems"], result["problems"]
        tickwork, aps = result["medians"]["tickwork"], result["medians"]["apscheduler"]
        assert tickwork[f"{key}_paged_natively"] is True
        for figure in ("bytes_per_job", "idle_cpu_pct", "list_s", "page_last_ms"):
            assert tickwork[f"{key}_{figure}"] >= 0, figure
        assert aps[f"{key}_list_s"] >= 0
        if key == "mem":
            assert tickwork["mem_add_per_s"] > 0
            assert aps["mem_add_per_s"] > 0
        else:
            assert 0 < tickwork[f"{key}_first_due_s"] < 60
            assert 0 < aps[f"{key}_first_due_s"] < 60
            assert tickwork[f"{key}_extra_per_s"] > 0
            assert aps[f"{key}_extra_per_s"] > 0
