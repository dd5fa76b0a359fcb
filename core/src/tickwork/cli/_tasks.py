"""``tickwork tasks``: the tasks an app registers, as a worker started with it would see
them.

It imports the app exactly as ``tickwork run`` does (the current directory first), so
it is also the quick check that ``--app`` or a configuration file's ``app`` key is
right before a worker is deployed with it.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

import attrs

from .._durations import format_go_duration
from .._policy import DEFAULT_OPTIONS, JobOptions, RetryPolicy, _encode_value
from .._tasks import Task
from ._app import App, load_app
from ._config import load_config
from ._run import worker_app
from ._table import print_table

__all__ = ["add_tasks_parser", "changed_options", "list_tasks", "options_text"]


def add_tasks_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``tasks`` subcommand's options."""
    tasks = sub.add_parser("tasks", help="list the tasks an app registers")
    source = tasks.add_mutually_exclusive_group(required=True)
    source.add_argument("--app", metavar="MODULE:ATTRIBUTE", help="a TaskRegistry or scheduler")
    source.add_argument("--config", "-c", type=Path, help="a worker's TOML file (its app)")
    tasks.add_argument("--json", action="store_true", help="print JSON lines, one per task")


def _app(args: argparse.Namespace) -> App:
    if args.app is not None:
        return load_app(args.app)
    # As ``tickwork run`` would: a job naming a task the app lacks is reported here too.
    return worker_app(load_config(args.config), str(args.config))


def list_tasks(args: argparse.Namespace, out: TextIO) -> int:
    """Print the app's tasks, sorted by name; exit status 0."""
    app = _app(args)
    if args.json:
        for task in app.tasks:
            out.write(json.dumps(_task_json(task), ensure_ascii=False) + "\n")
        return 0
    rows = [[t.name, t.executor, t.import_path or "-", options_text(t.options)] for t in app.tasks]
    print_table(out, ["name", "executor", "import path", "run policies"], rows)
    if app.handler is not None:
        out.write(f"(and a handler for jobs without a task: {_name(app.handler)})\n")
    return 0


def changed_options(options: JobOptions) -> dict[str, Any]:
    """The run policies that differ from the defaults, by field name (the rest is noise
    in a listing: every task has them)."""
    return {
        f.name: getattr(options, f.name)
        for f in attrs.fields(JobOptions)
        if getattr(options, f.name) != getattr(DEFAULT_OPTIONS, f.name)
    }


def _json_value(value: Any) -> Any:
    # A retry policy in full: its defaults are part of what the task does.
    if isinstance(value, RetryPolicy):
        return {f.name: _encode_value(getattr(value, f.name)) for f in attrs.fields(RetryPolicy)}
    return _encode_value(value)


def _task_json(task: Task) -> dict[str, Any]:
    options = {k: _json_value(v) for k, v in changed_options(task.options).items()}
    return {
        "name": task.name,
        "executor": task.executor,
        "import_path": task.import_path or None,
        "options": options,
    }


def options_text(options: JobOptions) -> str:
    """The run policies that differ from the defaults, for a person: ``timeout=30s``."""
    return ", ".join(f"{k}={_value_text(v)}" for k, v in changed_options(options).items())


def _value_text(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_go_duration(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, RetryPolicy):
        default = RetryPolicy()
        changed = [
            f"{f.name}:{_value_text(getattr(value, f.name))}"
            for f in attrs.fields(RetryPolicy)
            if f.name == "max_attempts" or getattr(value, f.name) != getattr(default, f.name)
        ]
        return "(" + " ".join(changed) + ")"
    return str(value)


def _name(function: Any) -> str:
    module = getattr(function, "__module__", "?")
    return f"{module}:{getattr(function, '__qualname__', repr(function))}"
