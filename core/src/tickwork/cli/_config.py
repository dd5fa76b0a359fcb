"""The TOML configuration of ``tickwork run``: store, trigger, app, handler and jobs.

Everything is checked here, before the worker starts, so that a mistake is one line
naming the key (and the job) at fault rather than a failure on the first run.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .._cron import CronSchedule
from .._durations import parse_go_duration
from .._errors import InvalidScheduleConfigError, TickworkError
from .._policy import JobOptions
from .._schedules import IntervalSchedule, OnceSchedule, StartAtIntervalSchedule
from .._task_args import encode_arguments
from ..abc import Schedule
from ._app import import_object

EXAMPLE = """\
[scheduler]
store = "sqlite:///jobs.db"        # a store name or URL
trigger = "local"                  # a trigger name
app = "myapp.tasks:registry"       # module:attribute: a TaskRegistry, a scheduler...
handler = "myapp.jobs:handle"      # ...and/or module:function, called with each JobEvent
max_workers = 20

[scheduler.store_options]          # optional, passed to the store
[scheduler.trigger_options]        # optional, passed to the trigger

[[jobs]]                           # optional: jobs to add (kept if already stored)
id = "cleanup"
interval = "10m"                   # or cron = "0 3 * * *" (+ timezone), once = "...",
metadata = { task = "cleanup" }    # or start_at = "..." with interval
options = { timeout = 300, retry = 3, overlap = "skip" }   # optional run policies

[[jobs]]
id = "report"
cron = "0 9 * * *"
task = "myapp.tasks:report"        # a task the app registers, and its arguments
args = [1, "x"]
kwargs = { when = 2026-03-01T09:00:00Z }
"""


class ConfigError(TickworkError, ValueError):
    """The configuration file is missing something or has a wrong value."""


@attrs.frozen
class JobSpec:
    """One ``[[jobs]]`` table."""

    id: str
    schedule: Schedule
    metadata: dict[str, str]
    options: JobOptions = attrs.field(factory=JobOptions)
    #: The registered name of the task it runs, or None (the handler's job).
    task: str | None = None
    #: The task's arguments, as TOML gave them (TOML datetimes are datetimes).
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    #: The ``options`` table as written: a task job's policies start from the task's
    #: defaults and change only these (``options`` starts from the plain defaults).
    option_fields: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class RunConfig:
    """Everything ``tickwork run`` needs."""

    store: str
    trigger: str
    #: ``module:function`` of the handler, or None (the app's, if it has one).
    handler: str | None
    store_options: dict[str, Any]
    trigger_options: dict[str, Any]
    max_workers: int
    jobs: list[JobSpec]
    #: ``module:attribute`` of the tasks (see :func:`~tickwork.cli._app.load_app`).
    app: str | None = None


def load_config(path: Path) -> RunConfig:
    """Read and check a configuration file; every problem names the key at fault."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    section = raw.get("scheduler")
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: needs a [scheduler] table; for example:\n{EXAMPLE}")
    handler = section.get("handler")
    app = section.get("app")
    if handler is None and app is None:
        raise ConfigError(f"{path}: [scheduler] needs app = 'module:attribute' or handler")
    if handler is not None and (not isinstance(handler, str) or ":" not in handler):
        raise ConfigError(f"{path}: scheduler.handler must be 'module:function', got {handler!r}")
    if app is not None and (not isinstance(app, str) or ":" not in app):
        raise ConfigError(f"{path}: scheduler.app must be 'module:attribute', got {app!r}")
    jobs = [_job(path, i, table) for i, table in enumerate(raw.get("jobs", []))]
    return RunConfig(
        store=_str(path, section, "store", "memory"),
        trigger=_str(path, section, "trigger", "local"),
        handler=handler,
        store_options=_table(path, section, "store_options"),
        trigger_options=_table(path, section, "trigger_options"),
        max_workers=int(section.get("max_workers", 20)),
        jobs=jobs,
        app=app,
    )


def import_handler(spec: str) -> Callable[..., Any]:
    """Import ``module:attribute`` (from the current directory first, see
    :mod:`~tickwork.cli._app`) and check that it is callable."""
    target = import_object(spec, "handler")
    if not callable(target):
        raise ConfigError(f"handler {spec!r} is not callable")
    return target  # type: ignore[no-any-return]


def _str(path: Path, section: dict[str, Any], key: str, default: str) -> str:
    value = section.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: scheduler.{key} must be a non-empty string, got {value!r}")
    return value


def _table(path: Path, section: dict[str, Any], key: str) -> dict[str, Any]:
    value = section.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: scheduler.{key} must be a table")
    return dict(value)


def _job(path: Path, index: int, table: Any) -> JobSpec:
    where = f"{path}: jobs[{index}]"
    if not isinstance(table, dict) or not isinstance(table.get("id"), str):
        raise ConfigError(f"{where} needs an id")
    metadata = table.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ConfigError(f"{where}.metadata must be a table")
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where}.options must be a table")
    try:
        job_options = JobOptions(**options)
    except TypeError as exc:
        raise ConfigError(f"{where}.options: {exc}") from None
    except TickworkError as exc:
        raise ConfigError(f"{where}.options: {exc}") from None
    task, args, kwargs = _task(where, table)
    return JobSpec(
        id=table["id"],
        schedule=schedule_from_table(table, where),
        metadata={str(k): str(v) for k, v in metadata.items()},
        options=job_options,
        task=task,
        args=args,
        kwargs=kwargs,
        option_fields=dict(options),
    )


def _task(where: str, table: dict[str, Any]) -> tuple[str | None, tuple[Any, ...], dict[str, Any]]:
    """The ``task``, ``args`` and ``kwargs`` keys of a job, checked.

    The arguments are encoded once here, only to refuse at load time what the store could
    not keep (the message names the value's path, such as ``kwargs['when']``); whether
    the task exists is checked once the app is imported (see ``tickwork run``).
    """
    task = table.get("task")
    args = table.get("args", [])
    kwargs = table.get("kwargs", {})
    if task is None:
        if "args" in table or "kwargs" in table:
            raise ConfigError(f"{where}: args and kwargs are a task's arguments: give task too")
        return None, (), {}
    if not isinstance(task, str) or not task:
        raise ConfigError(f"{where}.task must be a task name (a non-empty string), got {task!r}")
    if not isinstance(args, list):
        raise ConfigError(f"{where}.args must be an array, got {args!r}")
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{where}.kwargs must be a table, got {kwargs!r}")
    try:
        encode_arguments(args, kwargs)
    except TickworkError as exc:
        raise ConfigError(f"{where} (task {task!r}): {exc}") from None
    return task, tuple(args), dict(kwargs)


def schedule_from_table(table: dict[str, Any], where: str = "job") -> Schedule:
    """Build a schedule from ``interval``/``cron``/``once``/``start_at`` keys."""
    try:
        if "cron" in table:
            return CronSchedule(str(table["cron"]), str(table.get("timezone", "UTC")))
        if "once" in table:
            return OnceSchedule(_when(table["once"]))
        if "interval" in table:
            interval = parse_go_duration(str(table["interval"]))
            if "start_at" in table:
                return StartAtIntervalSchedule(_when(table["start_at"]), interval)
            return IntervalSchedule(interval)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    raise ConfigError(f"{where}: give one of interval, cron, once (or start_at with interval)")


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidScheduleConfigError("once", value, "not an ISO 8601 / RFC 3339 time") from None
