"""One measurement in a fresh process: ``python -m benchmarks._child SPEC_JSON``.

The spec names the workload, the side, the case, the phase (``prepare`` or ``run``) and
the parameters. The figures are printed as one JSON line after :data:`MARKER`; anything
else on stdout or stderr is the libraries' own output.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from typing import Any

from ._common import Unavailable, quiet_logging
from ._registry import WORKLOADS

MARKER = "BENCH-RESULT "


def run(spec: dict[str, Any]) -> dict[str, Any]:
    workload = WORKLOADS[spec["workload"]]
    function = _side_function(workload.module, spec["side"], spec["phase"])
    try:
        figures = function(spec["case"], spec["params"])
    except Unavailable as exc:
        return {"unavailable": str(exc)}
    if spec["side"] == "apscheduler4" and "tickwork" in sys.modules:
        raise RuntimeError("the APScheduler 4 side imported tickwork")
    return {"figures": figures}


def _side_function(module_name: str, side: str, phase: str) -> Any:
    """``<phase>_<side>`` in the workload's module; for APScheduler 4, whose functions
    live apart (``benchmarks/aps4_side.py``), ``<phase>_<workload module>`` there."""
    if side == "apscheduler4":
        module = importlib.import_module("benchmarks.aps4_side")
        return getattr(module, f"{phase}_{module_name}")
    module = importlib.import_module(f"benchmarks.{module_name}")
    return getattr(module, f"{phase}_{side.replace('-', '_')}")


def main() -> int:
    spec = json.loads(sys.argv[1])
    quiet_logging()
    try:
        result = run(spec)
    except Exception:
        result = {"error": traceback.format_exc()}
    sys.stdout.flush()
    print(MARKER + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
