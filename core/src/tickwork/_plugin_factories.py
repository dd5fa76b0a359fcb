"""Making things from registered names: stores (by name or URL), triggers, task
executors, instruments, and the one codec for every registered schedule type.

Each factory checks what it is given and what the plugin's factory returns, so a bad
name or option is a typed one-line error naming the store (or plugin) at fault, never a
constructor's ``TypeError`` or a failure at a scheduler's first run.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from ._errors import PluginNotFoundError, PluginRegistrationError, StoreOptionError
from ._plugin_loader import codec_cache, get_registry
from ._plugin_registry import DISTRIBUTION_HINTS
from .abc import Instrument, Schedule, ScheduleCodec, Store, TaskExecutor, Trigger

__all__ = [
    "available_plugins",
    "create_executor",
    "create_instrument",
    "create_store",
    "create_trigger",
    "default_codec",
    "schedule_class_for",
]


def create_store(name_or_url: str, **options: Any) -> Store:
    """Create a store by registered name (``memory``, ``sqlalchemy``, ``nats``) or URL.

    A URL picks the store that owns its scheme and is passed as that store's URL option
    (``url`` for SQL, ``servers`` for NATS); ``options`` go to the constructor as
    keywords.

    :raises PluginNotFoundError: nothing registered that name or scheme.
    :raises StoreOptionError: the store takes no option of that name (or the URL gives
        it already), named with the store; not the constructor's ``TypeError``.
    """
    if not isinstance(name_or_url, str) or not name_or_url:
        raise PluginNotFoundError("store", repr(name_or_url), get_registry().stores)
    entry, url_options = get_registry().resolve_store(name_or_url)
    for key in options:
        if key in url_options:
            raise StoreOptionError(
                entry.name, key, why="is given by the URL already; drop one of them"
            )
    accepted = _keyword_options(entry.factory)
    if accepted is not None:
        for key in options:
            if key not in accepted:
                raise StoreOptionError(entry.name, key, accepted - set(url_options))
    try:
        return entry.factory(**url_options, **options)
    except TypeError as exc:
        # A factory taking **options hands them on: a constructor further in refuses one.
        match = _UNEXPECTED_KEYWORD.search(str(exc))
        if match is None or match.group(1) not in options:
            raise
        raise StoreOptionError(entry.name, match.group(1)) from None


_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")


def _keyword_options(factory: Callable[..., Any]) -> set[str] | None:
    """The keywords ``factory`` takes, or None when it takes any (``**options``) or its
    signature cannot be read."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def create_trigger(name: str, **options: Any) -> Trigger:
    """Create a trigger by registered name (``local``, ``nats``).

    :raises PluginNotFoundError: nothing registered that name.
    """
    if not isinstance(name, str) or not name:
        raise PluginNotFoundError("trigger", repr(name), get_registry().triggers)
    return get_registry().resolve_trigger(name).factory(**options)


def create_executor(name: str, **options: Any) -> TaskExecutor:
    """Create a task executor by registered name (``loop``, ``thread``, ``process``).

    ``options`` go to the factory as keywords (``max_workers=4``, ``max_processes=2``).

    :raises PluginNotFoundError: nothing registered that name.
    :raises PluginRegistrationError: the factory returned something that is not a
        :class:`~tickwork.abc.TaskExecutor` (no ``call``/``aclose``): the plugin is at
        fault, and a scheduler must not find out at its first run.
    """
    if not isinstance(name, str) or not name:
        raise PluginNotFoundError("executor", repr(name), get_registry().executors)
    entry = get_registry().resolve_executor(name)
    executor = entry.factory(**options)
    if not isinstance(executor, TaskExecutor):
        raise PluginRegistrationError(
            f"plugin {entry.plugin!r}: executor factory {name!r} returned "
            f"{type(executor).__name__}, which is not a TaskExecutor "
            "(it needs async call(call, timeout) and async aclose(*, wait))"
        )
    return executor


def create_instrument(name: str, **options: Any) -> Instrument:
    """Create an instrument by registered name (``otel``); ``options`` go to its factory.

    :raises PluginNotFoundError: nothing registered that name (the message says which
        distribution provides a first-party one).
    :raises PluginRegistrationError: the factory returned something that is not a
        :class:`~tickwork.abc.Instrument`: the plugin is at fault.
    """
    registry = get_registry()
    entry = registry.instruments.get(name) if isinstance(name, str) else None
    if entry is None:
        raise PluginNotFoundError(
            "instrument",
            name if isinstance(name, str) else repr(name),
            registry.instruments,
            DISTRIBUTION_HINTS.get(("instrument", name)) if isinstance(name, str) else None,
        )
    instrument = entry.factory(**options)
    if not isinstance(instrument, Instrument):
        raise PluginRegistrationError(
            f"plugin {entry.plugin!r}: instrument factory {name!r} returned "
            f"{type(instrument).__name__}, which is not an Instrument (it needs open, "
            "attempt, store_call, claim_conflict and close)"
        )
    return instrument


def default_codec() -> ScheduleCodec:
    """One codec for every schedule type that any loaded plugin registered."""
    codec = codec_cache.get("default")
    if codec is None:
        from ._codecs import CompositeScheduleCodec

        registry = get_registry()
        composite = CompositeScheduleCodec()
        for entry in registry.codecs.values():
            composite.register(entry.schedule_type, entry.schedule_class, entry.codec)
        codec = codec_cache.setdefault("default", composite)
    return codec


def available_plugins() -> dict[str, list[str]]:
    """The registered names by kind: ``{"stores": [...], "triggers": [...], "codecs":
    [...], "executors": [...], "instruments": [...]}``."""
    registry = get_registry()
    return {
        "stores": sorted(registry.stores),
        "triggers": sorted(registry.triggers),
        "codecs": sorted(registry.codecs),
        "executors": sorted(registry.executors),
        "instruments": sorted(registry.instruments),
    }


def schedule_class_for(schedule_type: str) -> type[Schedule] | None:
    """The class registered for a schedule type name, if any."""
    entry = get_registry().codecs.get(schedule_type)
    return entry.schedule_class if entry else None
