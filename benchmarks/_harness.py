"""What a workload declares, and the statistics the runner applies to it.

A workload module (``benchmarks/w1_interval.py`` ...) defines ``WORKLOAD``, a
:class:`Workload`, and one function per side (``tickwork``, ``tickwork-async``,
``apscheduler``) that the child process calls. Workload modules import neither library
at module level, so a child process only ever loads the library it measures.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Params = dict[str, Any]
Figures = dict[str, Any]
SideFunction = Callable[[str, Params], Figures]

SIDES = ("tickwork", "tickwork-async", "apscheduler", "apscheduler4")
"""Every side a workload may measure, in table order.

``tickwork`` is the fair peer of APScheduler's ``BackgroundScheduler``: the blocking
``tickwork.Scheduler`` facade with a plain (thread-pool) handler. ``tickwork-async`` is
``AsyncScheduler`` with a coroutine handler, the native way to use tickwork.
``apscheduler4`` is APScheduler 4.0.0a6's ``AsyncScheduler``, run by an interpreter of
its own (``benchmarks/_aps4_env.py``, ``benchmarks/aps4_side.py``).
"""

DEFAULT_SIDES = SIDES[:3]
"""A workload's sides unless it says otherwise; the registry adds ``apscheduler4`` to
the workloads in :data:`benchmarks.aps4_side.WORKLOAD_IDS`."""

BASELINE = "apscheduler"
BASELINES = ("apscheduler", "apscheduler4")
"""The ratio column compares tickwork with the better of these on each figure."""
COMPARED = "tickwork"


@dataclass(frozen=True)
class Metric:
    """One figure of a workload.

    :param target: tickwork's target at full scale (``None``: no target), met when the
        ``tickwork`` side's median is on the right side of it (``better``).
    :param sides: the sides that report it (default: all of the workload's sides).
    """

    key: str
    label: str
    unit: str
    better: Literal["lower", "higher", "none"] = "lower"
    target: float | None = None
    digits: int = 2
    sides: tuple[str, ...] | None = None

    def met(self, value: float | None) -> bool | None:
        if self.target is None or value is None or self.better == "none":
            return None
        return value <= self.target if self.better == "lower" else value >= self.target

    def target_text(self) -> str:
        if self.target is None:
            return ""
        sign = "≤" if self.better == "lower" else "≥"
        return f"{sign} {format_number(self.target, self.digits)}"


RECORDS_SAVED = Metric(
    "records_pct",
    "execution records saved",
    "%",
    better="higher",
    target=100.0,
    digits=1,
    sides=("tickwork", "tickwork-async"),
)
"""Every run left its execution record (APScheduler keeps no history: tickwork only)."""


@dataclass(frozen=True)
class Workload:
    """A benchmark run the same way on every side.

    :param params: ``params(scale, duration)`` → the parameters handed to each side;
        ``duration`` is ``None`` unless the user overrides the timed windows.
    :param cases: each case is a separate subprocess per side and repetition; their
        figures are merged (W5 measures the memory and the SQLite store apart).
    :param skip: ``(side, case)`` pairs that do not apply (APScheduler has no bulk add).
    :param prepare: sides whose ``prepare_<side>`` function builds fixtures in a
        subprocess of its own before each measurement (W4's database).
    :param service: the server the workload needs (``postgresql``, ``mariadb``,
        ``nats``): the runner makes a fresh namespace on it around every child process
        and hands it over as ``params["service"]`` (see ``benchmarks/_services.py``).
        With a service, ``prepare`` runs before every measurement, in its namespace.
    :param default: part of a run without ``--workloads``.
    :param groups: names that select it with ``--workloads`` (``backends``, ``pg`` ...).
    :param derive: ``derive(figures)`` → more figures, from the merged figures of one
        repetition's cases (W7: the burst's speed-up from 1 to 3 processes).
    """

    id: str
    title: str
    module: str
    metrics: tuple[Metric, ...]
    params: Callable[[float, float | None], Params]
    sides: tuple[str, ...] = DEFAULT_SIDES
    cases: tuple[str, ...] = ("main",)
    skip: frozenset[tuple[str, str]] = frozenset()
    prepare: frozenset[str] = frozenset()
    needs_sql_store: bool = False
    timeout: float = 300.0
    notes: str = ""
    default: bool = True
    service: str | None = None
    groups: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    derive: Callable[[Figures], Figures] | None = None

    def metric(self, key: str) -> Metric:
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(key)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median_figures(runs: Sequence[Figures]) -> Figures:
    """Median of each numeric figure over the repetitions (non-numbers: the last one)."""
    merged: Figures = {}
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    for key in keys:
        values = [run[key] for run in runs if key in run]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        numbers = [v for v in numbers if not math.isnan(v)]
        if numbers and len(numbers) == len(values):
            merged[key] = statistics.median(numbers)
        elif values:
            merged[key] = values[-1]
    return merged


def best_baseline(row: Mapping[str, Any], better: str) -> tuple[str, Any] | None:
    """The side among :data:`BASELINES` with the better figure in ``row`` (the lower or
    the higher one, per ``better``), and that figure; APScheduler 3.11 first when the
    figure has no better direction, or when the two are equal."""
    found = [(side, row.get(side)) for side in BASELINES if _is_number(row.get(side))]
    if not found:
        return None
    if better == "lower":
        return min(found, key=lambda item: float(item[1]))
    if better == "higher":
        return max(found, key=lambda item: float(item[1]))
    return found[0]


def ratio(compared: Any, baseline: Any) -> float | None:
    if not _is_number(compared) or not _is_number(baseline) or baseline == 0:
        return None
    return float(compared) / float(baseline)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def format_number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        return str(value)
    if math.isnan(value):
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"
