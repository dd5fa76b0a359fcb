"""Plugin discovery and the registries of stores, triggers, schedule codecs and task
executors.

The core is its own first plugin: :mod:`tickwork._builtins` registers the memory store,
the local trigger, the basic codec and the task executors through the same hooks any
third party uses.
Entry points of the ``tickwork`` group are loaded lazily, once, the first time a
registry is consulted. ``TICKWORK_PLUGINS`` steers discovery: unset loads every entry
point, an empty value loads none, a comma-separated list loads only those names (a
name no entry point has is warned about).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import attrs
import pluggy

from . import hookspecs
from ._errors import PluginNotFoundError, PluginRegistrationError, StoreOptionError
from ._url_text import malformed_store_url
from .abc import Instrument, Schedule, ScheduleCodec, Store, TaskExecutor, Trigger

__all__ = [
    "PluginRegistry",
    "available_plugins",
    "create_executor",
    "create_instrument",
    "create_store",
    "create_trigger",
    "default_codec",
    "get_registry",
    "plugin_manager",
]

logger = logging.getLogger("tickwork.plugins")

ENTRY_POINT_GROUP = "tickwork"
ENV_VAR = "TICKWORK_PLUGINS"
DEFAULT_PLUGINS = ("tickwork._builtins",)

# Where first-party names live, so a missing plugin's error can say what to install.
_DISTRIBUTION_HINTS: dict[tuple[str, str], str] = {
    ("store", "sqlalchemy"): "tickwork-sqlalchemy-store",
    ("store", "nats"): "tickwork-nats-store",
    ("trigger", "nats"): "tickwork-nats-trigger",
    ("instrument", "otel"): "tickwork-otel",
}
_SCHEME_HINTS: dict[str, str] = {
    "sqlite": "sqlalchemy",
    "postgresql": "sqlalchemy",
    "postgres": "sqlalchemy",
    "mysql": "sqlalchemy",
    "mariadb": "sqlalchemy",
    "nats": "nats",
    "tls": "nats",
}
# The extra of the SQL store that brings a server's driver (SQLite needs none).
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
        _check_name(plugin, "trigger", name)
        if not callable(factory):
            raise PluginRegistrationError(
                f"plugin {plugin!r}: trigger factory {name!r} is not callable"
            )
        if name in self.triggers:
            raise PluginRegistrationError(
                f"plugin {plugin!r} registers trigger {name!r}, "
                f"already registered by {self.triggers[name].plugin!r}"
            )
        self.triggers[name] = TriggerEntry(name, factory, plugin)

    def add_executor(self, plugin: str, name: str, factory: Callable[..., TaskExecutor]) -> None:
        _check_name(plugin, "executor", name)
        if not callable(factory):
            raise PluginRegistrationError(
                f"plugin {plugin!r}: executor factory {name!r} is not callable"
            )
        if name in self.executors:
            raise PluginRegistrationError(
                f"plugin {plugin!r} registers executor {name!r}, "
                f"already registered by {self.executors[name].plugin!r}"
            )
        self.executors[name] = ExecutorEntry(name, factory, plugin)

    def add_instrument(self, plugin: str, name: str, factory: Callable[..., Instrument]) -> None:
        _check_name(plugin, "instrument", name)
        if not callable(factory):
            raise PluginRegistrationError(
                f"plugin {plugin!r}: instrument factory {name!r} is not callable"
            )
        if name in self.instruments:
            raise PluginRegistrationError(
                f"plugin {plugin!r} registers instrument {name!r}, "
                f"already registered by {self.instruments[name].plugin!r}"
            )
        self.instruments[name] = InstrumentEntry(name, factory, plugin)

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
                "store", name_or_url, self.stores, _DISTRIBUTION_HINTS.get(("store", name_or_url))
            )
        return entry_or_none, {}

    def resolve_trigger(self, name: str) -> TriggerEntry:
        entry = self.triggers.get(name)
        if entry is None:
            raise PluginNotFoundError(
                "trigger", name, self.triggers, _DISTRIBUTION_HINTS.get(("trigger", name))
            )
        return entry

    def resolve_executor(self, name: str) -> ExecutorEntry:
        entry = self.executors.get(name)
        if entry is None:
            raise PluginNotFoundError(
                "executor", name, self.executors, _DISTRIBUTION_HINTS.get(("executor", name))
            )
        return entry


def _hint(scheme: str) -> str | None:
    """What to install for a URL scheme no store owns (with the driver's extra)."""
    hinted = _SCHEME_HINTS.get(scheme)
    distribution = _DISTRIBUTION_HINTS.get(("store", hinted)) if hinted else None
    if distribution is not None and scheme in _SCHEME_EXTRAS:
        return f"{distribution}[{_SCHEME_EXTRAS[scheme]}]"
    return distribution


def _core_dist() -> tuple[str, str]:
    try:
        return ("tickwork", metadata.version("tickwork"))
    except metadata.PackageNotFoundError:  # running from a source tree
        return ("tickwork", "0+unknown")


def _check_name(plugin: str, kind: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise PluginRegistrationError(f"plugin {plugin!r} registers a {kind} with name {name!r}")


class _Loader:
    """Loads plugins once, thread-safely, and builds the registry from their hooks.

    A broken entry-point plugin (it fails to import, implements a hook that does not
    exist, raises in a hook or registers a name that is taken) is left out with a
    warning and listed by ``tickwork plugins``: one bad distribution must not stop
    every scheduler in the environment. A plugin registered explicitly with
    :func:`register_plugin` is rejected with :class:`PluginRegistrationError` instead.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pm: pluggy.PluginManager | None = None
        self._registry: PluginRegistry | None = None
        self.order: list[str] = []
        self.explicit: set[str] = set()
        self.entry_point_errors: dict[str, str] = {}
        self.unknown_selected: tuple[str, ...] = ()
        self.distributions: dict[str, tuple[str, str]] = {"tickwork._builtins": _core_dist()}

    def plugin_manager(self) -> pluggy.PluginManager:
        with self._lock:
            if self._pm is None:
                pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
                pm.add_hookspecs(hookspecs)
                self.order = []
                for modname in DEFAULT_PLUGINS:
                    pm.register(importlib.import_module(modname), name=modname)
                    self.order.append(modname)
                self._load_entry_points(pm)
                self._pm = pm
            return self._pm

    def _skip(self, name: str, value: str, error: str) -> None:
        self.entry_point_errors[name] = error
        logger.warning(
            "tickwork plugin %r (%s) is broken and left out: %s. Reinstall or fix it, or "
            "set %s to the comma-separated plugins to load.",
            name,
            value,
            error,
            ENV_VAR,
        )

    def _load_entry_points(self, pm: pluggy.PluginManager) -> None:
        wanted = os.environ.get(ENV_VAR)
        allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
        entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        if allowed is not None:
            self._warn_unknown(allowed, {ep.name for ep in entry_points})
        for ep in entry_points:
            if allowed is not None and ep.name not in allowed:
                continue
            if pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                add_checked(pm, plugin, ep.name)
            except Exception as exc:
                self._skip(ep.name, ep.value, f"{type(exc).__name__}: {exc}")
                continue
            self.order.append(ep.name)
            dist = getattr(ep, "dist", None)
            if dist is not None:
                self.distributions[ep.name] = (dist.name, dist.version)

    def _warn_unknown(self, selected: set[str], installed: set[str]) -> None:
        """A name in ``TICKWORK_PLUGINS`` that no entry point has is most likely a typo:
        without a word the plugin would just be missing, far from the cause."""
        self.unknown_selected = tuple(sorted(selected - installed))
        if self.unknown_selected:
            logger.warning(
                "%s names %s, which no installed plugin has (installed: %s). Check the "
                "spelling (the names are the entry-point names `tickwork plugins` shows) "
                "or install the plugin.",
                ENV_VAR,
                ", ".join(repr(n) for n in self.unknown_selected),
                ", ".join(sorted(installed)) or "none",
            )

    def registry(self) -> PluginRegistry:
        with self._lock:
            if self._registry is None:
                self._registry = self.build(self.plugin_manager())
            return self._registry

    def build(self, pm: pluggy.PluginManager) -> PluginRegistry:
        """Collect every plugin's registrations, plugin by plugin, in load order."""
        registry = PluginRegistry()
        for name in self.order:
            plugin = pm.get_plugin(name)
            if plugin is None:
                continue
            try:
                staged = _registrations_of(pm, plugin, name, registry)
            except Exception as exc:
                if name in self.explicit:
                    raise
                self._skip(name, repr(plugin), f"{type(exc).__name__}: {exc}")
                continue
            registry.stores, registry.triggers = staged.stores, staged.triggers
            registry.codecs, registry.url_schemes = staged.codecs, staged.url_schemes
            registry.executors = staged.executors
            registry.instruments = staged.instruments
        return registry

    def reset(self) -> None:
        """Forget loaded plugins (tests, and after installing a plugin at run time)."""
        with self._lock:
            self._pm = None
            self._registry = None
            self.order = []
            self.explicit = set()
            self.entry_point_errors = {}
            self.unknown_selected = ()
            _default_codec_cache.clear()


def add_checked(pm: pluggy.PluginManager, plugin: object, name: str | None) -> str:
    """Register ``plugin`` and make sure every hook it implements exists.

    :raises PluginRegistrationError: a hook is misspelled or has a wrong signature.
    """
    try:
        registered = pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginRegistrationError(f"plugin {name or plugin!r}: {exc}") from None
    if registered is None:
        raise PluginRegistrationError(f"plugin {name or plugin!r} is already registered")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(plugin)
        known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
        raise PluginRegistrationError(
            f"plugin {registered!r} implements a hook that does not exist ({exc}); "
            f"the hooks are: {known}"
        ) from None
    return registered


def _registrations_of(
    pm: pluggy.PluginManager, plugin: object, name: str, current: PluginRegistry
) -> PluginRegistry:
    """What the registry becomes with ``plugin``'s registrations (``current`` unchanged)."""
    staged = PluginRegistry()
    staged.stores, staged.triggers = dict(current.stores), dict(current.triggers)
    staged.codecs, staged.url_schemes = dict(current.codecs), dict(current.url_schemes)
    staged.executors = dict(current.executors)
    staged.instruments = dict(current.instruments)
    adders: dict[str, Callable[..., None]] = {
        "register_stores": staged.add_store,
        "register_triggers": staged.add_trigger,
        "register_codecs": staged.add_codec,
        "register_executors": staged.add_executor,
        "register_instruments": staged.add_instrument,
    }
    for hook_name, add in adders.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is plugin:
                impl.function(register=functools.partial(add, name))
    return staged


_loader = _Loader()
_default_codec_cache: dict[str, ScheduleCodec] = {}


def plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager with the built-ins and every discovered plugin registered."""
    return _loader.plugin_manager()


def get_registry() -> PluginRegistry:
    """The registry of stores, triggers and codecs (built on first use)."""
    return _loader.registry()


def reset_plugins() -> None:
    """Forget everything loaded so the next lookup discovers plugins again."""
    _loader.reset()


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object or module in-process (no entry point needed).

    :return: the name it was registered under (pass it to :func:`unregister_plugin`).
    :raises PluginRegistrationError: a misspelled hook, a name already taken, a
        registration of the wrong type. Nothing of the plugin stays registered then.
    """
    pm = plugin_manager()
    with _loader._lock:
        registry = _loader.registry()
        registered = add_checked(pm, plugin, name)
        try:
            staged = _registrations_of(pm, plugin, registered, registry)
        except Exception:
            pm.unregister(plugin)
            raise
        _loader.order.append(registered)
        _loader.explicit.add(registered)
        _loader._registry = staged
        _default_codec_cache.clear()
    return registered


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with :func:`register_plugin`."""
    pm = plugin_manager()
    with _loader._lock:
        pm.unregister(name=name)
        if name in _loader.order:
            _loader.order.remove(name)
        _loader.explicit.discard(name)
        _loader._registry = None
        _default_codec_cache.clear()


def plugin_distributions() -> dict[str, tuple[str, str]]:
    """Each loaded plugin's distribution name and version, by plugin name."""
    plugin_manager()
    return dict(_loader.distributions)


def plugin_errors() -> dict[str, str]:
    """Entry points that failed to load, with the reason (shown by ``tickwork plugins``)."""
    get_registry()
    return dict(_loader.entry_point_errors)


def unknown_selected_plugins() -> tuple[str, ...]:
    """Names in ``TICKWORK_PLUGINS`` that no installed entry point has (each a warning
    when plugins load, and a line of ``tickwork plugins``)."""
    plugin_manager()
    return _loader.unknown_selected


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
            _DISTRIBUTION_HINTS.get(("instrument", name)) if isinstance(name, str) else None,
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
    codec = _default_codec_cache.get("default")
    if codec is None:
        from ._codecs import CompositeScheduleCodec

        registry = get_registry()
        composite = CompositeScheduleCodec()
        for entry in registry.codecs.values():
            composite.register(entry.schedule_type, entry.schedule_class, entry.codec)
        codec = _default_codec_cache.setdefault("default", composite)
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
