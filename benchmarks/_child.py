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
    module = importlib.import_module(f"benchmarks.{workload.module}")
    side = spec["side"].replace("-", "_")
    name = f"prepare_{side}" if spec["phase"] == "prepare" else f"run_{side}"
    function = getattr(module, name)
    try:
        figures = function(spec["case"], spec["params"])
    except Unavailable as exc:
        return {"unavailable": str(exc)}
    return {"figures": figures}


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
