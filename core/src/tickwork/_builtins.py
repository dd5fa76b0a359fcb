"""The core's own plugin: it registers the built-ins through the public hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._bounded import BoundedSchedule
from ._calendar_interval import CalendarIntervalSchedule
from ._codecs import BasicScheduleCodec
from ._combined import ExceptDatesSchedule, UnionSchedule
from ._compound_codec import CompoundScheduleCodec
from ._cron import CronSchedule
from ._executors import LoopExecutor, ThreadExecutor
from ._local_trigger import LocalTrigger
from ._memory_store import MemoryStore
from ._process_executor import ProcessExecutor
from ._schedules import IntervalSchedule, OnceSchedule, StartAtIntervalSchedule
from .hookspecs import hookimpl


@hookimpl
def register_stores(register: Callable[..., None]) -> None:
    """The in-memory store."""
    register("memory", MemoryStore)


@hookimpl
def register_triggers(register: Callable[..., None]) -> None:
    """The in-process trigger."""
    register("local", LocalTrigger)


@hookimpl
def register_codecs(register: Callable[..., Any]) -> None:
    """The built-in schedule types: the reference's four in its basic codec, and the
    calendar intervals and combinations in the compound (JSON) codec."""
    codec = BasicScheduleCodec()
    register("interval", IntervalSchedule, codec)
    register("start_at_interval", StartAtIntervalSchedule, codec)
    register("once", OnceSchedule, codec)
    register("cron", CronSchedule, codec)
    register("cron_ext", CronSchedule, codec)
    compound = CompoundScheduleCodec()
    register("calendar_interval", CalendarIntervalSchedule, compound)
    register("bounded", BoundedSchedule, compound)
    register("union", UnionSchedule, compound)
    register("except_dates", ExceptDatesSchedule, compound)


@hookimpl
def register_executors(register: Callable[..., None]) -> None:
    """Where tasks run: on the event loop, in threads, in child processes."""
    register("loop", LoopExecutor)
    register("thread", ThreadExecutor)
    register("process", ProcessExecutor)
