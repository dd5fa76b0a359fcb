"""The hooks a tickwork plugin implements.

Hooks only register things; the registered objects do the work. Each hook receives a
``register`` callback and calls it once per thing it provides. A plugin module (or
object) marks its implementations with :data:`hookimpl` and is listed under the
``tickwork`` entry-point group of its distribution::

    [project.entry-points.tickwork]
    my_store = "my_package.plugin"

See ``docs/plugins/`` for a guide per extension kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "register_codecs",
    "register_commands",
    "register_executors",
    "register_instruments",
    "register_stores",
    "register_triggers",
]

PROJECT_NAME = "tickwork"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_stores(register: Callable[..., None]) -> None:
    """Register stores: ``register(name, factory, *, url_schemes=(), url_option="url")``."""


@hookspec
def register_triggers(register: Callable[..., None]) -> None:
    """Register trigger factories: ``register(name, factory)``."""


@hookspec
def register_codecs(register: Callable[..., Any]) -> None:
    """Register schedule types: ``register(schedule_type, schedule_class, codec)``."""


@hookspec
def register_executors(register: Callable[..., None]) -> None:
    """Register task executors: ``register(name, factory)``; ``factory(**options)``
    returns a :class:`tickwork.abc.TaskExecutor`."""


@hookspec
def register_instruments(register: Callable[..., None]) -> None:
    """Register instruments: ``register(name, factory)``; ``factory(**options)``
    returns a :class:`tickwork.abc.Instrument` (metrics, traces)."""


@hookspec
def register_commands(register: Callable[..., None]) -> None:
    """Register ``tickwork`` subcommands: ``register(command)``, a :class:`tickwork.abc.Command`."""
