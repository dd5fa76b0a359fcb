"""The registry of what plugins registered: stores, triggers, schedule codecs, task
executors, instruments and commands, each checked as it is registered.

A registration that cannot work (no name, a name taken, a factory that is not callable,
a codec without ``encode``/``decode``) is refused here with a
:class:`PluginRegistrationError` naming the plugin, so it fails when plugins load and
not at a scheduler's first run. A lookup of a name nobody registered says which
distribution provides it, when it is a first-party one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs

from ._errors import PluginNotFoundError, PluginRegistrationError
from ._url_text import malformed_store_url
from .abc import Command, Instrument, ScheduleCodec, Store, TaskExecutor, Trigger

__all__ = [
    "BUILTIN_COMMANDS",
    "DISTRIBUTION_HINTS",
    "CodecEntry",
    "CommandEntry",
    "ExecutorEntry",
    "InstrumentEntry",
    "PluginRegistry",
    "StoreEntry",
    "TriggerEntry",
]


DISTRIBUTION_HINTS: dict[tuple[str, str], str] = {
    ("store", "sqlalchemy"): "tickwork-sqlalchemy-store",
    ("store", "nats"): "tickwork-nats-store",
    ("trigger", "nats"): "tickwork-nats-trigger",
    ("instrument", "otel"): "tickwork-otel",
}


#: The ``tickwork`` subcommands of the core, which no plugin command may replace.
BUILTIN_COMMANDS = frozenset(
    {"demo", "run", "tasks", "jobs", "history", "explain", "backfill", "migrate", "plugins"}
)


_SCHEME_HINTS: dict[str, str] = {
    "sqlite": "sqlalchemy",
    "postgresql": "sqlalchemy",
    "postgres": "sqlalchemy",
    "mysql": "sqlalchemy",
    "mariadb": "sqlalchemy",
    "nats": "nats",
    "tls": "nats",
}


_SCHEME_EXTRAS: dict[str, str] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


@attrs.frozen
class StoreEntry:
    """A registered store factory."""

    name: str
    factory: Callable[..., Store]
    plugin: str
    url_schemes: tuple[str, ...] = ()
    url_option: str = "url"


@attrs.frozen
class TriggerEntry:
    """A registered trigger factory."""

    name: str
    factory: Callable[..., Trigger]
    plugin: str


@attrs.frozen
class ExecutorEntry:
    """A registered task executor factory."""

    name: str
    factory: Callable[..., TaskExecutor]
    plugin: str


@attrs.frozen
class InstrumentEntry:
    """A registered instrument factory."""

    name: str
    factory: Callable[..., Instrument]
    plugin: str


@attrs.frozen
class CommandEntry:
    """A registered ``tickwork`` subcommand."""

    name: str
    command: Command
    plugin: str


@attrs.frozen
class CodecEntry:
    """A registered schedule type: its class and the codec that persists it."""

    schedule_type: str
    schedule_class: type[Any]
    codec: ScheduleCodec
    plugin: str


class PluginRegistry:
    """Everything the loaded plugins registered, checked at registration time."""

    def __init__(self) -> None:
        self.stores: dict[str, StoreEntry] = {}
        self.triggers: dict[str, TriggerEntry] = {}
        self.codecs: dict[str, CodecEntry] = {}
        self.url_schemes: dict[str, str] = {}
        self.executors: dict[str, ExecutorEntry] = {}
        self.instruments: dict[str, InstrumentEntry] = {}
        self.commands: dict[str, CommandEntry] = {}

    # -- registration callbacks (handed to the hooks) -------------------------------

    def add_store(
        self,
        plugin: str,
        name: str,
        factory: Callable[..., Store],
        *,
        url_schemes: Iterable[str] = (),
        url_option: str = "url",
    ) -> None:
        _check_name(plugin, "store", name)
        if not callable(factory):
            raise PluginRegistrationError(
                f"plugin {plugin!r}: store factory {name!r} is not callable"
            )
        if name in self.stores:
            raise PluginRegistrationError(
                f"plugin {plugin!r} registers store {name!r}, "
                f"already registered by {self.stores[name].plugin!r}"
            )
        schemes = tuple(s.lower() for s in url_schemes)
        for scheme in schemes:
            if scheme in self.url_schemes:
                raise PluginRegistrationError(
                    f"plugin {plugin!r} claims URL scheme {scheme!r}, "
                    f"already owned by store {self.url_schemes[scheme]!r}"
                )
        self.stores[name] = StoreEntry(name, factory, plugin, schemes, url_option)
        for scheme in schemes:
            self.url_schemes[scheme] = name

    def add_trigger(self, plugin: str, name: str, factory: Callable[..., Trigger]) -> None:
        self.triggers[name] = TriggerEntry(
            name, _checked_factory(plugin, "trigger", name, factory, self.triggers), plugin
        )

    def add_executor(self, plugin: str, name: str, factory: Callable[..., TaskExecutor]) -> None:
        self.executors[name] = ExecutorEntry(
            name, _checked_factory(plugin, "executor", name, factory, self.executors), plugin
        )

    def add_instrument(self, plugin: str, name: str, factory: Callable[..., Instrument]) -> None:
        self.instruments[name] = InstrumentEntry(
            name, _checked_factory(plugin, "instrument", name, factory, self.instruments), plugin
        )

    def add_command(self, plugin: str, command: Command) -> None:
        if not isinstance(command, Command):
            raise PluginRegistrationError(
                f"plugin {plugin!r}: {command!r} is not a Command "
                "(it needs name, help, add_arguments() and run())"
            )
        name = command.name
        _check_name(plugin, "command", name)
        if name in BUILTIN_COMMANDS:
            raise PluginRegistrationError(
                f"plugin {plugin!r} registers command {name!r}, a built-in tickwork command"
            )
        if name in self.commands:
            raise PluginRegistrationError(
                f"plugin {plugin!r} registers command {name!r}, "
                f"already registered by {self.commands[name].plugin!r}"
            )
        self.commands[name] = CommandEntry(name, command, plugin)

    def add_codec(
        self, plugin: str, schedule_type: str, schedule_class: type[Any], codec: ScheduleCodec
    ) -> None:
        _check_name(plugin, "schedule type", schedule_type)
        if not isinstance(schedule_class, type):
            raise PluginRegistrationError(
                f"plugin {plugin!r}: schedule type {schedule_type!r} needs a class, "
                f"got {schedule_class!r}"
            )
        if not isinstance(codec, ScheduleCodec):
            raise PluginRegistrationError(
                f"plugin {plugin!r}: codec for {schedule_type!r} lacks encode()/decode()"
            )
        if not callable(getattr(schedule_class, "next", None)):
            raise PluginRegistrationError(
                f"plugin {plugin!r}: {schedule_class.__name__} has no next() method, "
                "so it is not a Schedule"
            )
        if schedule_type in self.codecs:
            raise PluginRegistrationError(
                f"plugin {plugin!r} registers schedule type {schedule_type!r}, "
                f"already registered by {self.codecs[schedule_type].plugin!r}"
            )
        self.codecs[schedule_type] = CodecEntry(schedule_type, schedule_class, codec, plugin)

    # -- lookups ----------------------------------------------------------------------

    def resolve_store(self, name_or_url: str) -> tuple[StoreEntry, dict[str, Any]]:
        """Find the store for a name or URL; a URL becomes the store's URL option."""
        if "://" in name_or_url or name_or_url.endswith(":memory:"):
            scheme = urlsplit(name_or_url).scheme.lower()
            base = scheme.split("+", 1)[0]
            owner = self.url_schemes.get(scheme) or self.url_schemes.get(base)
            if owner is None:
                raise PluginNotFoundError(
                    "store for URL scheme", scheme or name_or_url, self.url_schemes, _hint(base)
                )
            entry = self.stores[owner]
            return entry, {entry.url_option: name_or_url}
        entry_or_none = self.stores.get(name_or_url)
        if entry_or_none is None:
            malformed = malformed_store_url(name_or_url, self.url_schemes)
            if malformed is not None:
                raise malformed
            raise PluginNotFoundError(
                "store", name_or_url, self.stores, DISTRIBUTION_HINTS.get(("store", name_or_url))
            )
        return entry_or_none, {}

    def resolve_trigger(self, name: str) -> TriggerEntry:
        entry = self.triggers.get(name)
        if entry is None:
            raise PluginNotFoundError(
                "trigger", name, self.triggers, DISTRIBUTION_HINTS.get(("trigger", name))
            )
        return entry

    def resolve_executor(self, name: str) -> ExecutorEntry:
        entry = self.executors.get(name)
        if entry is None:
            raise PluginNotFoundError(
                "executor", name, self.executors, DISTRIBUTION_HINTS.get(("executor", name))
            )
        return entry


def _hint(scheme: str) -> str | None:
    """What to install for a URL scheme no store owns (with the driver's extra)."""
    hinted = _SCHEME_HINTS.get(scheme)
    distribution = DISTRIBUTION_HINTS.get(("store", hinted)) if hinted else None
    if distribution is not None and scheme in _SCHEME_EXTRAS:
        return f"{distribution}[{_SCHEME_EXTRAS[scheme]}]"
    return distribution


def _check_name(plugin: str, kind: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise PluginRegistrationError(f"plugin {plugin!r} registers a {kind} with name {name!r}")


_F = TypeVar("_F", bound=Callable[..., Any])


def _checked_factory(
    plugin: str, kind: str, name: str, factory: _F, taken: Mapping[str, Any]
) -> _F:
    """``factory``, once its name is valid and free and it can be called.

    :raises PluginRegistrationError: naming the plugin, the kind and the name.
    """
    _check_name(plugin, kind, name)
    if not callable(factory):
        raise PluginRegistrationError(f"plugin {plugin!r}: {kind} factory {name!r} is not callable")
    if name in taken:
        raise PluginRegistrationError(
            f"plugin {plugin!r} registers {kind} {name!r}, "
            f"already registered by {taken[name].plugin!r}"
        )
    return factory
