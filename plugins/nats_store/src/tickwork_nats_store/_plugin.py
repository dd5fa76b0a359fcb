"""The ``tickwork`` entry point: registers the store ``nats`` and its URL schemes.

Plugin discovery imports this module in every program that uses tickwork, so nats-py
loads only when a NATS store is actually created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tickwork

__all__ = ["create_nats_store", "register_stores"]


def create_nats_store(*args: Any, **options: Any) -> tickwork.Store:
    """Build a :class:`~tickwork_nats_store.NATSStore` (imported on first use)."""
    from ._store import NATSStore

    return NATSStore(*args, **options)


@tickwork.hookimpl
def register_stores(register: Callable[..., None]) -> None:
    """Register ``nats``; ``nats://`` and ``tls://`` URLs become its ``servers``."""
    register("nats", create_nats_store, url_schemes=("nats", "tls"), url_option="servers")
