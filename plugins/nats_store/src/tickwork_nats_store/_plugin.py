"""The ``tickwork`` entry point: registers the store ``nats`` and its URL schemes."""

from __future__ import annotations

from collections.abc import Callable

import tickwork

from ._store import NATSStore

__all__ = ["register_stores"]


@tickwork.hookimpl
def register_stores(register: Callable[..., None]) -> None:
    """Register ``nats``; ``nats://`` and ``tls://`` URLs become its ``servers``."""
    register("nats", NATSStore, url_schemes=("nats", "tls"), url_option="servers")
