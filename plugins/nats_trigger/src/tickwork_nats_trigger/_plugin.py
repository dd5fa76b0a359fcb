"""The ``tickwork`` entry point: registers the trigger ``nats``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tickwork

__all__ = ["create_nats_trigger", "register_triggers"]


def create_nats_trigger(*args: Any, **options: Any) -> tickwork.Trigger:
    """Build a :class:`~tickwork_nats_trigger.NATSTrigger` (nats-py loads on first use)."""
    from ._trigger import NATSTrigger

    return NATSTrigger(*args, **options)


@tickwork.hookimpl
def register_triggers(register: Callable[..., None]) -> None:
    """Register ``nats``: ``create_trigger("nats", servers=...)`` or ``trigger="nats"``."""
    register("nats", create_nats_trigger)
