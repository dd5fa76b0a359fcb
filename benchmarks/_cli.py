"""The runner: one subprocess per measurement, medians, a table and a JSON file."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _aps4_env
from ._child import MARKER
from ._common import Unavailable
from ._harness import (
    BASELINES,
    COMPARED,
    SIDES,
    Figures,
    Params,
    Workload,
    best_baseline,
    format_number,
    median_figures,
    ratio,
)
from ._registry import GROUPS, WORKLOADS, select
from ._services import DEFAULT_URLS, Services

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"

SIDE_TITLES = {
    "tickwork": "tickwork",
    "tickwork-async": "tw async",
    "apscheduler": "APS 3.11",
    "apscheduler4": "APS 4",
}


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Run the same workloads on tickwork and on APScheduler 3.11 and 4.0.0a6, each "
            "measurement in a fresh subprocess, and print medians side by side."
        ),
    )
    parser.add_argument(
        "--workloads",
        type=_csv,
        default=list(GROUPS["default"]),
        help=(
            "comma-separated workload ids or groups, any case (default: "
            f"{', '.join(GROUPS['default'])}); groups: {', '.join(GROUPS)} "
            "(--list shows every id and what each group holds)"
        ),
    )
    parser.add_argument(
        "--sides",
        type=_csv,
        default=list(SIDES),
        help=f"comma-separated sides (default: all): {', '.join(SIDES)}",
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per figure (3)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiplies every job count (0.1 = a tenth of the jobs); targets apply at 1",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of each timed window (W1, W3, W6; default 10)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the JSON results (default {DEFAULT_OUTPUT.relative_to(ROOT)})",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the table as Markdown (for docs/performance.md)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="PATH",
        help="print the table of an earlier run's JSON file instead of running",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_URLS["postgresql"],
        help="PostgreSQL server for the -pg variants; each run gets a schema of its own "
        "there (default $TICKWORK_TEST_POSTGRES_URL or %(default)s)",
    )
    parser.add_argument(
        "--mariadb-url",
        default=DEFAULT_URLS["mariadb"],
        help="MariaDB server for the -mariadb variants; each run gets a database of its "
        "own there (default $TICKWORK_TEST_MARIADB_URL or %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    args.workloads, unknown = select(args.workloads)
    if unknown:
        parser.error(
            f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)} "
            f"or a group: {', '.join(GROUPS)}"
        )
    bad_sides = [s for s in args.sides if s not in SIDES]
    if bad_sides:
        parser.error(f"unknown side(s) {', '.join(bad_sides)}; choose from {', '.join(SIDES)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.scale <= 0:
        parser.error("--scale must be positive")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    return args


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quiet = args.quiet
        self.services = Services(
            urls={"postgresql": args.postgres_url, "mariadb": args.mariadb_url}
        )
        self.interpreters: dict[str, str | Unavailable] = {}

    def interpreter(self, side: str) -> str:
        """The Python that runs ``side``'s child processes: this one, except for
        APScheduler 4, whose environment is built on first use (``_aps4_env.py``).

        :raises Unavailable: that environment cannot be built (remembered for the run).
        """
        if side != "apscheduler4":
            return sys.executable
        if side not in self.interpreters:
            self.say("  APScheduler 4's environment: checking (benchmarks/_aps4_env.py)")
            try:
                self.interpreters[side] = _aps4_env.interpreter()
            except Unavailable as exc:
                self.interpreters[side] = exc
        found = self.interpreters[side]
        if isinstance(found, Unavailable):
            raise found
        return found

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def child(self, workload: Workload, spec: dict[str, Any]) -> dict[str, Any]:
        try:
            python = self.interpreter(spec["side"])
        except Unavailable as exc:
            return {"unavailable": str(exc)}
        command = [python, "-m", "benchmarks._child", json.dumps(spec)]
        env = dict(os.environ, PYTHONHASHSEED="0")
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=workload.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {workload.timeout:.0f} s"}
        for line in reversed(done.stdout.splitlines()):
            if line.startswith(MARKER):
                result: dict[str, Any] = json.loads(line[len(MARKER) :])
                return result
        tail = (done.stderr or done.stdout)[-2000:]
        return {"error": f"exit status {done.returncode}, no result; output:\n{tail}"}

    def run_workload(self, workload: Workload) -> dict[str, Any]:
        params = workload.params(self.args.scale, self.args.duration)
        sides = [s for s in workload.sides if s in self.args.sides]
        runs: dict[str, list[Figures]] = {side: [] for side in sides}
        problems: dict[str, str] = {}
        for side in sides:
            try:
                self.interpreter(side)
            except Unavailable as exc:
                problems[side] = str(exc)
        with tempfile.TemporaryDirectory(prefix=f"tickwork-bench-{workload.id}-") as scratch:
            templates: dict[str, str] = {}
            if workload.service is None:
                templates = self.prepare_templates(workload, sides, params, scratch, problems)
            for rep in range(self.args.repeat):
                for side in sides:
                    if side in problems or workload.service in problems:
                        continue
                    merged: Figures = {}
                    for case in workload.cases:
                        if (side, case) in workload.skip:
                            continue
                        case_params = dict(params)
                        if side in templates:
                            folder = os.path.join(scratch, side, f"rep-{rep}-{case}")
                            shutil.copytree(templates[side], folder)
                            case_params["dir"] = folder
                        started = time.perf_counter()
                        result = self.measure(workload, side, case, case_params)
                        took = time.perf_counter() - started
                        if "figures" in result:
                            merged.update(result["figures"])
                            status = "ok"
                        elif result.get("service"):
                            assert workload.service is not None
                            problems[workload.service] = result["unavailable"]
                            status = "unavailable: " + result["unavailable"]
                        elif "unavailable" in result:
                            problems.setdefault(f"{side}/{case}", result["unavailable"])
                            status = "unavailable: " + result["unavailable"]
                        else:
                            problems.setdefault(f"{side}/{case}", result["error"])
                            status = "ERROR"
                        label = f"{side}" + (f" [{case}]" if case != "main" else "")
                        self.say(
                            f"  {workload.id} {label}: rep {rep + 1}/{self.args.repeat} "
                            f"{status} ({took:.1f} s)"
                        )
                        if workload.service in problems:
                            break
                    if merged and workload.derive is not None:
                        merged.update(workload.derive(merged))
                    if merged:
                        runs[side].append(merged)
        medians = {side: median_figures(r) for side, r in runs.items() if r}
        return {
            "id": workload.id,
            "title": workload.title,
            "notes": workload.notes,
            "params": params,
            "runs": runs,
            "medians": medians,
            "problems": problems,
            "metrics": [self.metric_row(workload, m, medians) for m in workload.metrics],
        }

    def prepare_templates(
        self,
        workload: Workload,
        sides: list[str],
        params: Params,
        scratch: str,
        problems: dict[str, str],
    ) -> dict[str, str]:
        """Build each side's fixtures once, in a folder every repetition gets a copy of."""
        templates: dict[str, str] = {}
        for side in sides:
            if side in workload.prepare and side not in problems:
                folder = os.path.join(scratch, side, "template")
                os.makedirs(folder)
                spec = self.spec(workload, side, "main", "prepare", dict(params, dir=folder))
                started = time.perf_counter()
                result = self.child(workload, spec)
                self.say(
                    f"  {workload.id} {side}: prepared in {time.perf_counter() - started:.1f} s"
                )
                if "figures" not in result:
                    problems[side] = result.get("unavailable") or result.get("error", "?")
                templates[side] = folder
        return templates

    def measure(self, workload: Workload, side: str, case: str, params: Params) -> dict[str, Any]:
        """One child process (after its prepare step, for a workload on a server)."""
        if workload.service is None:
            return self.child(workload, self.spec(workload, side, case, "run", params))
        try:
            with self.services.fresh(workload.service) as service:
                params = dict(params, service=service)
                if side in workload.prepare:
                    started = time.perf_counter()
                    spec = self.spec(workload, side, case, "prepare", params)
                    prepared = self.child(workload, spec)
                    self.say(
                        f"  {workload.id} {side}: prepared in {time.perf_counter() - started:.1f} s"
                    )
                    if "figures" not in prepared:
                        return prepared
                return self.child(workload, self.spec(workload, side, case, "run", params))
        except Unavailable as exc:
            return {"unavailable": str(exc), "service": True}

    def metric_row(
        self, workload: Workload, metric: Any, medians: dict[str, Figures]
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "key": metric.key,
            "label": metric.label,
            "unit": metric.unit,
            "better": metric.better,
            "target": metric.target,
        }
        for side in SIDES:
            applies = metric.sides is None or side in metric.sides
            row[side] = medians.get(side, {}).get(metric.key) if applies else None
        best = best_baseline(row, metric.better)
        row["ratio"] = ratio(row.get(COMPARED), best[1]) if best else None
        row["ratio_vs"] = best[0] if best else None
        full_size = self.args.scale == 1.0 and self.args.duration is None
        row["met"] = metric.met(row.get(COMPARED)) if full_size else None
        return row

    def spec(
        self, workload: Workload, side: str, case: str, phase: str, params: Params
    ) -> dict[str, Any]:
        return {
            "workload": workload.id,
            "side": side,
            "case": case,
            "phase": phase,
            "params": params,
        }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in (
        "tickwork",
        "tickwork-sqlalchemy-store",
        "tickwork-nats-store",
        "tickwork-nats-trigger",
        "apscheduler",
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "aiomysql",
        "pymysql",
        "nats-py",
    ):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def render(report: dict[str, Any], sides: list[str]) -> str:
    """The results as a plain-text table, one block per workload."""
    shown = [s for s in SIDES if s in sides]
    headers = ["figure", *[SIDE_TITLES[s] for s in shown]]
    compare = COMPARED in shown and any(b in shown for b in BASELINES)
    if compare:
        headers.append("tw/APS")
    headers += ["target", "met"]
    lines: list[str] = []
    for result in report["workloads"].values():
        params = ", ".join(f"{k}={v}" for k, v in result["params"].items())
        lines.append(f"{result['id']}  {result['title']}  ({params})")
        rows = [headers]
        for row in result["metrics"]:
            label = row["label"] + (f" ({row['unit']})" if row["unit"] else "")
            digits = _digits(row)
            cells = [label]
            for side in shown:
                cells.append(_cell(row.get(side), digits, result, side))
            if compare:
                cells.append(_ratio_cell(row))
            target = row["target"]
            if target is None:
                cells += ["", ""]
            else:
                sign = "≤" if row["better"] == "lower" else "≥"
                cells.append(f"{sign} {format_number(target, 2)}")
                cells.append({True: "yes", False: "NO", None: "—"}[row["met"]])
            rows.append(cells)
        widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
        for index, cells in enumerate(rows):
            text = "  " + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            lines.append(text.rstrip())
            if index == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        for where, problem in result["problems"].items():
            first = problem.strip().splitlines()[-1] if problem.strip() else "?"
            lines.append(f"  ! {where}: {first}")
        lines.append("")
    return "\n".join(lines)


def _ratio_cell(row: dict[str, Any]) -> str:
    """tickwork's figure over the better APScheduler's, marked ``⁴`` when that is 4.0."""
    if row["ratio"] is None:
        return "—"
    return f"{row['ratio']:.2f}" + ("⁴" if row.get("ratio_vs") == "apscheduler4" else "")


COUNTS = frozenset({"dropped", "jobs_loaded", "duplicates", "missed", "stop_hung"})


def _digits(row: dict[str, Any]) -> int:
    """Counts and rates print as whole numbers, everything else with 3 decimals."""
    return 0 if row["unit"] in ("/s", "B") or row["key"] in COUNTS else 3


def _cell(value: Any, digits: int, result: dict[str, Any], side: str) -> str:
    if value is None:
        if side not in result["medians"]:
            return "n/a"
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if digits == 0 or abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(report: dict[str, Any], sides: list[str]) -> str:
    """The results as Markdown tables, one per workload."""
    shown = [s for s in SIDES if s in sides]
    compare = COMPARED in shown and any(b in shown for b in BASELINES)
    headers = ["figure", *[SIDE_TITLES[s] for s in shown]]
    if compare:
        headers.append("tickwork / best APS")
    headers += ["target", "met"]
    lines: list[str] = []
    for result in report["workloads"].values():
        params = ", ".join(f"{k}={v}" for k, v in result["params"].items())
        lines += [f"**{result['id']}: {result['title']}** ({params})", ""]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join(["---", *["---:"] * (len(headers) - 1)]) + "|")
        for row in result["metrics"]:
            label = row["label"] + (f" ({row['unit']})" if row["unit"] else "")
            digits = _digits(row)
            cells = [label, *(_cell(row.get(side), digits, result, side) for side in shown)]
            if compare:
                cells.append(_ratio_cell(row))
            if row["target"] is None:
                cells += ["", ""]
            else:
                sign = "≤" if row["better"] == "lower" else "≥"
                cells.append(f"{sign} {format_number(row['target'], 2)}")
                cells.append({True: "yes", False: "**no**", None: "—"}[row["met"]])
            lines.append("| " + " | ".join(cells) + " |")
        for where, problem in result["problems"].items():
            first = problem.strip().splitlines()[-1] if problem.strip() else "?"
            lines.append(f"\n{where}: {first}")
        lines.append("")
    return "\n".join(lines)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        # A SIGTERM unwinds like Ctrl-C: the child process is killed and its schema,
        # database or nats-server removed, instead of being left behind.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.list:
        for workload in WORKLOADS.values():
            print(f"{workload.id}  {workload.title}: {workload.notes}")
        print()
        for name, ids in GROUPS.items():
            print(f"{name}: {', '.join(ids)}")
        return 0
    if args.from_json is not None:
        earlier = json.loads(args.from_json.read_text(encoding="utf-8"))
        sides = earlier["settings"]["sides"]
        print(render_markdown(earlier, sides) if args.markdown else render(earlier, sides))
        return 0
    runner = Runner(args)
    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "settings": {
            "workloads": args.workloads,
            "sides": args.sides,
            "repeat": args.repeat,
            "scale": args.scale,
            "duration": args.duration,
        },
        "machine": _machine(),
        "versions": dict(_versions(), apscheduler4=" ".join(_aps4_env.requirements())),
        "workloads": {},
    }
    started = time.perf_counter()
    for workload_id in args.workloads:
        workload = WORKLOADS[workload_id]
        runner.say(f"{workload.id}: {workload.title}")
        report["workloads"][workload.id] = runner.run_workload(workload)
    report["elapsed_s"] = time.perf_counter() - started
    report["services"] = dict(runner.services.versions)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(render_markdown(report, args.sides) if args.markdown else render(report, args.sides))
    if any(b in args.sides for b in BASELINES):
        print("tw/APS: tickwork over the better APScheduler on that figure (⁴: APS 4)")
    print(
        f"medians of {args.repeat} run(s); scale {args.scale}; "
        f"{report['elapsed_s']:.0f} s; JSON: {args.output}"
    )
    errors = [
        w
        for w, r in report["workloads"].items()
        if any(
            "Traceback" in p or "timed out" in p or "exit status" in p
            for p in r["problems"].values()
        )
    ]
    return 1 if errors else 0
