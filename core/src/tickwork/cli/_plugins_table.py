"""``tickwork plugins``: every registered store, trigger, schedule type, executor,
instrument and command, with the plugin, distribution and version it came from, and the
plugins that failed to load."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .._plugins import (
    DEFAULT_PLUGINS,
    available_plugins,
    get_registry,
    plugin_distributions,
    plugin_errors,
    unknown_selected_plugins,
)
from ._table import print_table

__all__ = ["add_plugins_parser", "list_plugins"]


def add_plugins_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``plugins`` command (it takes no arguments)."""
    sub.add_parser("plugins", help="list installed stores, triggers and schedule types")


def list_plugins(out: TextIO) -> int:
    """Print the registrations table, the plugins that failed, and the totals."""
    registry = get_registry()
    dists = plugin_distributions()
    rows: list[list[Any]] = []
    for entry in registry.stores.values():
        extra = ", ".join(entry.url_schemes)
        rows.append(["store", entry.name, *_origin(dists, entry.plugin), extra])
    for t in registry.triggers.values():
        rows.append(["trigger", t.name, *_origin(dists, t.plugin), ""])
    for c in registry.codecs.values():
        rows.append(
            ["codec", c.schedule_type, *_origin(dists, c.plugin), c.schedule_class.__name__]
        )
    for e in registry.executors.values():
        rows.append(["executor", e.name, *_origin(dists, e.plugin), ""])
    for i in registry.instruments.values():
        rows.append(["instrument", i.name, *_origin(dists, i.plugin), ""])
    for m in registry.commands.values():
        rows.append(["command", m.name, *_origin(dists, m.plugin), m.command.help])
    print_table(out, ["kind", "name", "plugin", "distribution", "version", "details"], rows)
    for name, error in plugin_errors().items():
        out.write(f"plugin {name!r} failed to load: {error}\n")
    for name in unknown_selected_plugins():
        out.write(f"TICKWORK_PLUGINS names {name!r}, which no installed plugin has\n")
    names = available_plugins()
    out.write(
        f"\n{len(names['stores'])} stores, {len(names['triggers'])} triggers, "
        f"{len(names['codecs'])} schedule types, {len(names['executors'])} executors, "
        f"{len(names['instruments'])} instruments\n"
    )
    return 0


def _origin(dists: dict[str, tuple[str, str]], plugin: str) -> tuple[str, str, str]:
    """The plugin's name as ``TICKWORK_PLUGINS`` takes it (its entry-point name; the
    core's own registrations always load), its distribution and version."""
    shown = "(built-in)" if plugin in DEFAULT_PLUGINS else plugin
    distribution, version = dists.get(plugin, ("?", "?"))
    return shown, distribution, version
