"""The TOML configuration of ``tickwork run``: store, trigger, app, handler and jobs.

Everything is checked here, before the worker starts, so that a mistake is one line
naming the key (and the job) at fault rather than a failure on the first run.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .._cron import CronSchedule
from .._durations import parse_go_duration
from .._errors import InvalidScheduleConfigError, TickworkError
from .._policy import JobOptions, RetryPolicy
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
instruments = []                   # optional: instrument names, e.g. ["otel"] (tickwork-otel)

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


TOP_KEYS = frozenset({"scheduler", "jobs"})
SCHEDULER_KEYS = frozenset(
    {"store", "trigger", "app", "handler", "max_workers", "store_options", "trigger_options"}
    | {"instruments"}
)
SCHEDULE_KEYS = ("interval", "cron", "once")
JOB_KEYS = frozenset(
    {"id", *SCHEDULE_KEYS, "start_at", "timezone", "metadata", "options", "task", "args"}
    | {"kwargs", "schedule"}
)
POLICY_KEYS = frozenset(f.name for f in attrs.fields(JobOptions))
#: Run policies and retry settings that are durations: they take the syntax of
#: ``interval`` ("30s", "1h30m") as well as a number of seconds.
DURATION_POLICIES = frozenset({"misfire_grace_time", "timeout", "jitter"})
RETRY_DURATIONS = frozenset({"backoff", "max_backoff"})
RETRY_KEYS = frozenset(f.name for f in attrs.fields(RetryPolicy))


def check_keys(where: str, table: dict[str, Any], known: Iterable[str]) -> None:
    """Refuse a key ``known`` lacks, naming it and the closest known key.

    A misspelt key (``timout``) would otherwise be ignored and its setting silently
    left at the default, which is what the file's author least expects.
    """
    names = sorted(known)
    for key in table:
        if key in names:
            continue
        close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(names)})"
        raise ConfigError(f"{where}: unknown key {key!r}{hint}")


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
    #: Registered instrument names (``otel``) the scheduler is given.
    instruments: tuple[str, ...] = ()


def load_config(path: Path) -> RunConfig:
    """Read and check a whole configuration file; every problem names the key at fault.

    Every key of every table is checked here, before the worker starts anything: a
    mistake is one line naming the key (and the job), not a worker that runs with a
    setting silently left at its default.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    check_keys(str(path), raw, TOP_KEYS)
    section = raw.get("scheduler")
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: needs a [scheduler] table; for example:\n{EXAMPLE}")
    check_keys(f"{path}: [scheduler]", section, SCHEDULER_KEYS)
    handler = section.get("handler")
    app = section.get("app")
    if handler is None and app is None:
        raise ConfigError(f"{path}: [scheduler] needs app = 'module:attribute' or handler")
    if handler is not None and (not isinstance(handler, str) or ":" not in handler):
        raise ConfigError(f"{path}: scheduler.handler must be 'module:function', got {handler!r}")
    if app is not None and (not isinstance(app, str) or ":" not in app):
        raise ConfigError(f"{path}: scheduler.app must be 'module:attribute', got {app!r}")
    jobs_table = raw.get("jobs", [])
    if not isinstance(jobs_table, list):
        raise ConfigError(f"{path}: jobs must be an array of tables ([[jobs]])")
    jobs = [_job(path, i, table) for i, table in enumerate(jobs_table)]
    return RunConfig(
        store=_str(path, section, "store", "memory"),
        trigger=_str(path, section, "trigger", "local"),
        handler=handler,
        store_options=_table(path, section, "store_options"),
        trigger_options=_table(path, section, "trigger_options"),
        max_workers=_max_workers(path, section),
        jobs=jobs,
        app=app,
        instruments=_instruments(path, section),
    )


def _instruments(path: Path, section: dict[str, Any]) -> tuple[str, ...]:
    value = section.get("instruments", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            f"{path}: scheduler.instruments must be a list of instrument names "
            f'(such as ["otel"]), got {value!r}'
        )
    return tuple(dict.fromkeys(value))


def _max_workers(path: Path, section: dict[str, Any]) -> int:
    value = section.get("max_workers", 20)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{path}: scheduler.max_workers must be a whole number of at least 1, got {value!r}"
        )
    return value


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
    """An options table (``store_options``, ``trigger_options``): keyword options, so
    every key must be an identifier; whether the store or trigger takes it is checked
    when it is built, before it opens anything (an error naming the option)."""
    value = section.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: scheduler.{key} must be a table, got {value!r}")
    for name in value:
        if not name.isidentifier():
            raise ConfigError(
                f"{path}: scheduler.{key}: {name!r} is not an option name "
                "(letters, digits and _, not starting with a digit)"
            )
    return dict(value)


def parse_option_value(text: str) -> Any:
    """A ``KEY=VALUE`` flag's value: ``true``/``false`` and JSON numbers become bool,
    int and float; anything else (``jobs``, ``null``, ``NaN``, ``"x"``) stays the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return text


def _job(path: Path, index: int, table: Any) -> JobSpec:
    where = f"{path}: jobs[{index}]"
    if not isinstance(table, dict) or not isinstance(table.get("id"), str):
        raise ConfigError(f"{where} needs an id")
    named = f"{where} (job {table['id']!r})"
    _check_job_keys(named, table)
    metadata = table.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ConfigError(f"{where}.metadata must be a table")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise ConfigError(
                f"{named}: metadata.{key} must be a string, got {value!r} "
                f'(quote it: {key} = "{value}")'
            )
    options = _options(named, table.get("options", {}))
    try:
        job_options = JobOptions(**options)
    except (TypeError, TickworkError) as exc:
        raise ConfigError(f"{named}: options: {exc}") from None
    task, args, kwargs = _task(where, table)
    return JobSpec(
        id=table["id"],
        schedule=schedule_from_table(table, named),
        metadata=dict(metadata),
        options=job_options,
        task=task,
        args=args,
        kwargs=kwargs,
        option_fields=dict(options),
    )


def _check_job_keys(where: str, table: dict[str, Any]) -> None:
    """Unknown keys, with run policies written beside the job pointed to ``options``."""
    for key in table:
        if key in JOB_KEYS:
            continue
        close = difflib.get_close_matches(str(key), sorted(POLICY_KEYS), n=1, cutoff=0.6)
        if key in POLICY_KEYS or (
            close and not difflib.get_close_matches(str(key), sorted(JOB_KEYS), n=1, cutoff=0.6)
        ):
            name = key if key in POLICY_KEYS else close[0]
            raise ConfigError(
                f"{where}: unknown key {key!r}; run policies go in the job's options table: "
                f"options = {{ {name} = ... }}"
            )
    check_keys(where, table, JOB_KEYS)


def _options(where: str, options: Any) -> dict[str, Any]:
    """The ``options`` table, keys checked and durations parsed as ``interval`` is."""
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: options must be a table")
    check_keys(f"{where}: options", options, POLICY_KEYS)
    result = dict(options)
    for key in DURATION_POLICIES & result.keys():
        result[key] = _duration(f"{where}: options.{key}", result[key])
    retry = result.get("retry")
    if isinstance(retry, dict):
        check_keys(f"{where}: options.retry", retry, RETRY_KEYS)
        result["retry"] = {
            k: _duration(f"{where}: options.retry.{k}", v) if k in RETRY_DURATIONS else v
            for k, v in retry.items()
        }
    return result


def _duration(where: str, value: Any) -> Any:
    """A duration written as ``interval`` is ("30s", "1h30m"); numbers pass through as
    seconds (their own checks, such as "greater than zero", come later)."""
    if not isinstance(value, str):
        return value
    try:
        return parse_go_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


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
    """Build a schedule from ``interval``/``cron``/``once``/``start_at`` keys, or from
    ``schedule`` (any registered type; see :mod:`._schedule_table`).

    Exactly one kind must be given, and ``timezone`` only with ``cron``, ``start_at``
    only with ``interval``: a key that would be ignored is refused instead, since its
    author meant something by it.
    """
    if "schedule" in table:  # any registered type, as TYPE:CONFIG or a table
        return _any_schedule(table, where)
    kinds = [key for key in SCHEDULE_KEYS if key in table]
    if len(kinds) > 1:
        raise ConfigError(f"{where}: give one schedule, not {' and '.join(kinds)}")
    if not kinds:
        raise ConfigError(f"{where}: give one of interval, cron, once (or start_at with interval)")
    kind = kinds[0]
    if "timezone" in table and kind != "cron":
        raise ConfigError(f"{where}: timezone goes with cron, not with {kind}")
    if "start_at" in table and kind != "interval":
        raise ConfigError(f"{where}: start_at goes with interval, not with {kind}")
    try:
        if kind == "cron":
            return CronSchedule(str(table["cron"]), str(table.get("timezone", "UTC")))
        if kind == "once":
            return OnceSchedule(_when(table["once"]))
        interval = parse_go_duration(str(table["interval"]))
        if "start_at" in table:
            return StartAtIntervalSchedule(_when(table["start_at"]), interval)
        return IntervalSchedule(interval)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _any_schedule(table: dict[str, Any], where: str) -> Schedule:
    others = [key for key in (*SCHEDULE_KEYS, "start_at", "timezone") if key in table]
    if others:
        raise ConfigError(f"{where}: schedule goes alone, not with {' and '.join(others)}")
    from ._schedule_table import schedule_from_key  # it needs the plugins loaded

    try:
        return schedule_from_key(table["schedule"])
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidScheduleConfigError("once", value, "not an ISO 8601 / RFC 3339 time") from None
