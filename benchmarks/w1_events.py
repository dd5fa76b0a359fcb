"""W1-events: W1 with one subscriber receiving every event the scheduler sends.

Issue 15's target: "W1 with one subscriber receiving every event: CPU at most 10% above
W1 without it, in the same benchmark run; no run made late by a subscriber". So this is
W1 exactly (the same jobs, grid, window and figures), plus one plain-function
subscriber to every event type (``subscribe(counter)``), which counts what it gets. At
1,000 runs a second that is about 2,000 events a second (a start and an end per run),
handed to the subscriber's thread a batch at a time. Read its CPU and lateness rows
against W1's (``--workloads W1,W1-events``); the runner has no cross-workload figure, so
no target is printed here.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from . import w1_interval
from ._harness import Figures, Params, Workload

METRICS = tuple(
    replace(m, target=None) if m.key == "cpu_core_pct" else m for m in w1_interval.METRICS
)

WORKLOAD = Workload(
    id="W1-events",
    title="W1 with a subscriber to every event",
    module="w1_events",
    metrics=METRICS,
    params=w1_interval.params,
    sides=("tickwork", "tickwork-async"),
    timeout=180.0,
    default=False,
    groups=("events",),
    notes="W1's 1,000 jobs with one plain-function subscriber to every event; "
    "target: CPU at most 1.1 x W1's, lateness as W1's.",
)


class _Counter:
    """The subscriber: counts events (called in a worker thread, a batch at a time)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.count += 1


def _subscribe(scheduler: Any) -> None:
    scheduler.subscribe(_Counter())


def run_tickwork(case: str, p: Params) -> Figures:
    """The blocking ``tickwork.Scheduler`` of W1, with the subscriber."""
    return w1_interval.run_tickwork(case, p, attach=_subscribe)


def run_tickwork_async(case: str, p: Params) -> Figures:
    """The ``AsyncScheduler`` of W1, with the subscriber."""
    return w1_interval.run_tickwork_async(case, p, attach=_subscribe)
