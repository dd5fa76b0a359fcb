"""tickwork-nats-trigger: due runs from NATS JetStream message scheduling, shared by
many worker processes (NATS Server 2.12+).

::

    from tickwork_nats_trigger import create_nats_scheduler

    scheduler = create_nats_scheduler("nats://127.0.0.1:4222", handler)

or with any store: ``AsyncScheduler(store, handler, trigger="nats",
trigger_options={"servers": "nats://127.0.0.1:4222"})``. See ``docs/triggers/nats.md``.
"""

from __future__ import annotations

from ._factory import create_nats_scheduler
from ._trigger import NATSTrigger, RescheduleFailureFunc

__all__ = ["NATSTrigger", "RescheduleFailureFunc", "create_nats_scheduler"]
