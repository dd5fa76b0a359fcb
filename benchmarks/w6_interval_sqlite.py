"""W6: W1 with the SQLite store on both sides.

tickwork: ``create_store("sqlite:///…")`` (the SQLAlchemy store on aiosqlite), which
saves an execution record and the job's new state for every run. APScheduler: its
``SQLAlchemyJobStore`` (sync SQLAlchemy on sqlite3), which updates the job's row for
every run and keeps no history.
"""

from __future__ import annotations

from dataclasses import replace

from . import w1_interval
from ._harness import Figures, Params, Workload


def params(scale: float, duration: float | None) -> Params:
    return dict(w1_interval.params(scale, duration), store="sqlite")


_TARGETS = {"lateness_p99_ms": 10.0, "cpu_core_pct": None}

METRICS = tuple(replace(m, target=_TARGETS.get(m.key, m.target)) for m in w1_interval.METRICS)

WORKLOAD = Workload(
    id="W6",
    title="W1 with the SQLite store",
    module="w6_interval_sqlite",
    metrics=METRICS,
    params=params,
    needs_sql_store=True,
    timeout=240.0,
    notes="1,000 jobs on a fixed 1 s grid; every run is written to SQLite.",
)


def run_tickwork(case: str, p: Params) -> Figures:
    return w1_interval.run_tickwork(case, p)


def run_tickwork_async(case: str, p: Params) -> Figures:
    return w1_interval.run_tickwork_async(case, p)


def run_apscheduler(case: str, p: Params) -> Figures:
    return w1_interval.run_apscheduler(case, p)
