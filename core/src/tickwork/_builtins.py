"""The core's own plugin: it registers the built-ins through the public hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._codecs import BasicScheduleCodec
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
    """The four built-in schedule types, all persisted by the basic codec."""
    codec = BasicScheduleCodec()
    register("interval", IntervalSchedule, codec)
    register("start_at_interval", StartAtIntervalSchedule, codec)
    register("once", OnceSchedule, codec)
    register("cron", CronSchedule, codec)


@hookimpl
def register_executors(register: Callable[..., None]) -> None:
    """Where tasks run: on the event loop, in threads, in child processes."""
    register("loop", LoopExecutor)
    register("thread", ThreadExecutor)
    register("process", ProcessExecutor)
