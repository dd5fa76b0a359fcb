"""The ``tickwork`` entry point: registers the trigger ``nats``."""

from __future__ import annotations

from collections.abc import Callable

import tickwork

from ._trigger import NATSTrigger

__all__ = ["register_triggers"]


@tickwork.hookimpl
def register_triggers(register: Callable[..., None]) -> None:
    """Register ``nats``: ``create_trigger("nats", servers=...)`` or ``trigger="nats"``."""
    register("nats", NATSTrigger)
