"""The plugin system, as the rest of the core uses it: one import point for its three
parts.

- :mod:`tickwork._plugin_loader` discovers plugins (the core's own, then the
  ``tickwork`` entry points that ``TICKWORK_PLUGINS`` lets through), lazily and once,
  and registers or unregisters plugin objects at run time;
- :mod:`tickwork._plugin_registry` holds what they registered, checking each
  registration as it is made;
- :mod:`tickwork._plugin_factories` makes stores, triggers, executors, instruments and
  the default codec from registered names.
"""

from __future__ import annotations

from ._plugin_factories import (
    available_plugins,
    create_executor,
    create_instrument,
    create_store,
    create_trigger,
    default_codec,
    schedule_class_for,
)
from ._plugin_loader import (
    DEFAULT_PLUGINS,
    ENTRY_POINT_GROUP,
    ENV_VAR,
    get_registry,
    plugin_distributions,
    plugin_errors,
    plugin_manager,
    register_plugin,
    reset_plugins,
    unknown_selected_plugins,
    unregister_plugin,
)
from ._plugin_registry import PluginRegistry

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "PluginRegistry",
    "available_plugins",
    "create_executor",
    "create_instrument",
    "create_store",
    "create_trigger",
    "default_codec",
    "get_registry",
    "plugin_distributions",
    "plugin_errors",
    "plugin_manager",
    "register_plugin",
    "reset_plugins",
    "schedule_class_for",
    "unknown_selected_plugins",
    "unregister_plugin",
]
