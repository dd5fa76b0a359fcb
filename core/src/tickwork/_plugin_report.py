"""What is installed, as values: the one report behind ``tickwork plugins`` and any
other listing of plugins (the web dashboard's plugins page).

The loader keeps its findings in private state (registrations, entry points that
failed, names in ``TICKWORK_PLUGINS`` that match nothing). Listings read them through
:func:`plugin_report` so that every listing says the same thing and none depends on
how the loader stores them.
"""

from __future__ import annotations

import attrs

from ._plugins import DEFAULT_PLUGINS, get_registry, plugin_distributions
from ._plugins import plugin_errors as _plugin_errors
from ._plugins import unknown_selected_plugins as _unknown_selected

__all__ = ["PluginFailure", "PluginRegistration", "PluginReport", "plugin_report"]


@attrs.frozen(kw_only=True)
class PluginRegistration:
    """One thing a loaded plugin registered, and where it came from."""

    #: ``"store"``, ``"trigger"``, ``"codec"``, ``"executor"``, ``"instrument"`` or
    #: ``"command"``.
    kind: str
    #: The registered name (a codec's schedule type).
    name: str
    #: The plugin's name: its entry-point name, as ``TICKWORK_PLUGINS`` takes it (the
    #: core's own module for a built-in one).
    plugin: str
    #: Whether the core registered it (such plugins always load).
    built_in: bool
    #: The distribution that provides the plugin, and its version (None: unknown, a
    #: plugin registered in-process with ``register_plugin``).
    distribution: str | None
    version: str | None
    #: A store's URL schemes, a codec's schedule class, a command's help; or "".
    details: str = ""


@attrs.frozen(kw_only=True)
class PluginFailure:
    """A plugin that did not load: its entry point, or a name that no plugin has."""

    plugin: str
    #: Why, in one line.
    error: str


@attrs.frozen(kw_only=True)
class PluginReport:
    """Every registration of the loaded plugins, and every plugin that did not load."""

    registrations: tuple[PluginRegistration, ...]
    #: Entry points that failed to load (import error, rejected registration).
    failed: tuple[PluginFailure, ...]
    #: Names in ``TICKWORK_PLUGINS`` that no installed entry point has.
    unknown: tuple[str, ...]


def plugin_report() -> PluginReport:
    """What the installed plugins registered and which failed, loading plugins first
    if nothing has loaded them yet."""
    registry = get_registry()
    dists = plugin_distributions()
    found: list[tuple[str, str, str, str]] = []
    found += [
        ("store", s.name, s.plugin, ", ".join(s.url_schemes)) for s in registry.stores.values()
    ]
    found += [("trigger", t.name, t.plugin, "") for t in registry.triggers.values()]
    found += [
        ("codec", c.schedule_type, c.plugin, c.schedule_class.__name__)
        for c in registry.codecs.values()
    ]
    found += [("executor", e.name, e.plugin, "") for e in registry.executors.values()]
    found += [("instrument", i.name, i.plugin, "") for i in registry.instruments.values()]
    found += [("command", m.name, m.plugin, m.command.help) for m in registry.commands.values()]
    registrations = tuple(
        PluginRegistration(
            kind=kind,
            name=name,
            plugin=plugin,
            built_in=plugin in DEFAULT_PLUGINS,
            distribution=dists[plugin][0] if plugin in dists else None,
            version=dists[plugin][1] if plugin in dists else None,
            details=details,
        )
        for kind, name, plugin, details in found
    )
    failed = tuple(PluginFailure(plugin=n, error=e) for n, e in _plugin_errors().items())
    return PluginReport(registrations=registrations, failed=failed, unknown=_unknown_selected())
