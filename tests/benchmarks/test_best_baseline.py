"""The ratio column: tickwork against the better of APScheduler 3.11 and 4 per figure."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

# ``benchmarks`` here is this test folder; the command's module is loaded from its file
# (it imports only the standard library).
_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "_harness.py"
_SPEC = importlib.util.spec_from_file_location("tickwork_benchmarks_harness", _PATH)
assert _SPEC is not None
assert _SPEC.loader is not None
_harness = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = _harness  # dataclasses look their module up while building
_SPEC.loader.exec_module(_harness)
best_baseline = _harness.best_baseline


def test_the_lower_figure_wins_when_lower_is_better() -> None:
    row = {"apscheduler": 2.0, "apscheduler4": 1.5}
    assert best_baseline(row, "lower") == ("apscheduler4", 1.5)


def test_the_higher_figure_wins_when_higher_is_better() -> None:
    row = {"apscheduler": 2.0, "apscheduler4": 1.5}
    assert best_baseline(row, "higher") == ("apscheduler", 2.0)


def test_a_missing_or_unmeasured_side_is_left_out() -> None:
    assert best_baseline({"apscheduler": None, "apscheduler4": 3.0}, "lower") == (
        "apscheduler4",
        3.0,
    )
    assert best_baseline({"apscheduler": math.nan, "apscheduler4": 3.0}, "higher") == (
        "apscheduler4",
        3.0,
    )
    assert best_baseline({"apscheduler": True}, "lower") is None  # a flag, not a figure
    assert best_baseline({}, "lower") is None


def test_a_figure_without_direction_compares_with_apscheduler_3() -> None:
    row = {"apscheduler": 10, "apscheduler4": 5}
    assert best_baseline(row, "none") == ("apscheduler", 10)
