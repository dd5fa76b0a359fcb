"""Plugin discovery: the core's own plugin and the ``tickwork`` entry points, loaded
lazily, once, into one :class:`~tickwork._plugin_registry.PluginRegistry`.

The core is its own first plugin: :mod:`tickwork._builtins` registers the memory store,
the local trigger, the basic codec and the task executors through the same hooks any
third party uses. Entry points of the ``tickwork`` group are loaded the first time a
registry is consulted. ``TICKWORK_PLUGINS`` steers discovery: unset loads every entry
point, an empty value loads none, a comma-separated list loads only those names (a
name no entry point has is warned about). A plugin's registrations succeed or fail
together.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import threading
from collections.abc import Callable
from importlib import metadata

import pluggy

from . import hookspecs
from ._errors import PluginRegistrationError
from ._plugin_registry import PluginRegistry
from .abc import ScheduleCodec

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "add_checked",
    "codec_cache",
    "get_registry",
    "plugin_distributions",
    "plugin_errors",
    "plugin_manager",
    "register_plugin",
    "reset_plugins",
    "unknown_selected_plugins",
    "unregister_plugin",
]

logger = logging.getLogger("tickwork.plugins")

ENTRY_POINT_GROUP = "tickwork"
ENV_VAR = "TICKWORK_PLUGINS"
DEFAULT_PLUGINS = ("tickwork._builtins",)

# The default codec, built from the registry on first use (by
# :func:`tickwork._plugin_factories.default_codec`); dropped whenever the registry changes.
codec_cache: dict[str, ScheduleCodec] = {}


def _core_dist() -> tuple[str, str]:
    try:
        return ("tickwork", metadata.version("tickwork"))
    except metadata.PackageNotFoundError:  # running from a source tree
        return ("tickwork", "0+unknown")


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
            registry.commands = staged.commands
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
            codec_cache.clear()


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
    staged.commands = dict(current.commands)
    adders: dict[str, Callable[..., None]] = {
        "register_stores": staged.add_store,
        "register_triggers": staged.add_trigger,
        "register_codecs": staged.add_codec,
        "register_executors": staged.add_executor,
        "register_instruments": staged.add_instrument,
        "register_commands": staged.add_command,
    }
    for hook_name, add in adders.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is plugin:
                impl.function(register=functools.partial(add, name))
    return staged


_loader = _Loader()


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
        codec_cache.clear()
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
        codec_cache.clear()


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
