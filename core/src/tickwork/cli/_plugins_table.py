"""``tickwork plugins``: every registered store, trigger, schedule type, executor,
instrument and command, with the plugin, distribution and version it came from, and the
plugins that failed to load."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .._plugin_report import PluginRegistration, plugin_report
from .._plugins import available_plugins
from ._table import print_table

__all__ = ["add_plugins_parser", "list_plugins"]


def add_plugins_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``plugins`` command (it takes no arguments)."""
    sub.add_parser("plugins", help="list installed stores, triggers and schedule types")


def list_plugins(out: TextIO) -> int:
    """Print the registrations table, the plugins that failed, and the totals."""
    report = plugin_report()
    rows: list[list[Any]] = [[r.kind, r.name, *_origin(r), r.details] for r in report.registrations]
    print_table(out, ["kind", "name", "plugin", "distribution", "version", "details"], rows)
    for failure in report.failed:
        out.write(f"plugin {failure.plugin!r} failed to load: {failure.error}\n")
    for name in report.unknown:
        out.write(f"TICKWORK_PLUGINS names {name!r}, which no installed plugin has\n")
    names = available_plugins()
    out.write(
        f"\n{len(names['stores'])} stores, {len(names['triggers'])} triggers, "
        f"{len(names['codecs'])} schedule types, {len(names['executors'])} executors, "
        f"{len(names['instruments'])} instruments\n"
    )
    return 0


def _origin(registration: PluginRegistration) -> tuple[str, str, str]:
    """The plugin's name as ``TICKWORK_PLUGINS`` takes it (its entry-point name; the
    core's own registrations always load), its distribution and version."""
    shown = "(built-in)" if registration.built_in else registration.plugin
    return shown, registration.distribution or "?", registration.version or "?"
