"""The TOML configuration of ``tickwork run``: store, trigger, handler and jobs."""

from __future__ import annotations

import importlib
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
from ..abc import Schedule

EXAMPLE = """\
[scheduler]
store = "sqlite:///jobs.db"        # a store name or URL
trigger = "local"                  # a trigger name
handler = "myapp.jobs:handle"      # module:function, called with each JobEvent
max_workers = 20

[scheduler.store_options]          # optional, passed to the store
[scheduler.trigger_options]        # optional, passed to the trigger

[[jobs]]                           # optional: jobs to add (kept if already stored)
id = "cleanup"
interval = "10m"                   # or cron = "0 3 * * *" (+ timezone), once = "...",
metadata = { task = "cleanup" }    # or start_at = "..." with interval
options = { timeout = 300, retry = 3, overlap = "skip" }   # optional run policies
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


@attrs.frozen
class RunConfig:
    """Everything ``tickwork run`` needs."""

    store: str
    trigger: str
    handler: str
    store_options: dict[str, Any]
    trigger_options: dict[str, Any]
    max_workers: int
    jobs: list[JobSpec]


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
    if not isinstance(handler, str) or ":" not in handler:
        raise ConfigError(f"{path}: scheduler.handler must be 'module:function', got {handler!r}")
    jobs = [_job(path, i, table) for i, table in enumerate(raw.get("jobs", []))]
    return RunConfig(
        store=_str(path, section, "store", "memory"),
        trigger=_str(path, section, "trigger", "local"),
        handler=handler,
        store_options=_table(path, section, "store_options"),
        trigger_options=_table(path, section, "trigger_options"),
        max_workers=int(section.get("max_workers", 20)),
        jobs=jobs,
    )


def import_handler(spec: str) -> Callable[..., Any]:
    """Import ``module:attribute`` and check that it is callable."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import handler module {module_name!r}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
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
    return JobSpec(
        id=table["id"],
        schedule=schedule_from_table(table, where),
        metadata={str(k): str(v) for k, v in metadata.items()},
        options=job_options,
    )


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
