"""tickwork-nats-trigger: due runs from NATS JetStream message scheduling, shared by
many worker processes (NATS Server 2.12+).

::

    from tickwork_nats_trigger import create_nats_scheduler

    scheduler = create_nats_scheduler("nats://127.0.0.1:4222", handler)

or with any store: ``AsyncScheduler(store, handler, trigger="nats",
trigger_options={"servers": "nats://127.0.0.1:4222"})``. See ``docs/triggers/nats.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._factory import create_nats_scheduler
    from ._trigger import NATSTrigger, RescheduleFailureFunc

__all__ = ["NATSTrigger", "RescheduleFailureFunc", "create_nats_scheduler"]

_LAZY = {
    "NATSTrigger": "._trigger",
    "RescheduleFailureFunc": "._trigger",
    "create_nats_scheduler": "._factory",
}


def __getattr__(name: str) -> Any:
    # nats-py loads on first use, not when tickwork's plugin discovery imports us.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
