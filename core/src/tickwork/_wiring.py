"""Wiring a scheduler from what its caller passed: a store and trigger from names or
URLs, the coordinator when several processes share the store, checked arguments.

Kept apart from :mod:`~tickwork._scheduler` so that the class holds the public API and
the lifecycle, and this module holds what turns ``AsyncScheduler("sqlite:///jobs.db")``
into objects.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from ._change_follower import ChangeFollower, SeenChange
from ._coordination import Coordinator
from ._event_bus import EventBus
from ._plugins import create_store, create_trigger, default_codec
from .abc import ChangeSignalingStore, ClaimingStore, ScheduleCodec, Store, Trigger

__all__ = [
    "check_max_workers",
    "default_worker_id",
    "make_change_follower",
    "make_coordinator",
    "resolve_codec",
    "resolve_store",
    "resolve_trigger",
]


def default_worker_id() -> str:
    """host:pid plus a random suffix: unique per scheduler, readable in records."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def resolve_codec(codec: ScheduleCodec | None) -> ScheduleCodec:
    if codec is not None and not isinstance(codec, ScheduleCodec):
        raise TypeError(f"codec must have encode() and decode() methods; got {codec!r}")
    return codec if codec is not None else default_codec()


def check_max_workers(max_workers: Any) -> int:
    if not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"max_workers must be a positive int, got {max_workers!r}")
    return max_workers


def make_coordinator(
    store: Store,
    trigger: Trigger,
    coordinate: bool | None,
    owner: str,
    lease: timedelta,
    sync_interval: float,
) -> Coordinator | None:
    if coordinate is None:
        # A shared trigger (NATS) already hands each due run to one worker, and redelivers
        # it on its own terms; claims on top would only add round trips and delays.
        coordinate = isinstance(store, ClaimingStore) and store.shared and not trigger.shared
    if not coordinate:
        return None
    if not isinstance(store, ClaimingStore):
        raise TypeError(
            f"coordinate=True needs a store that can claim runs (tickwork.abc.ClaimingStore); "
            f"{type(store).__name__} cannot"
        )
    return Coordinator(store, owner, lease=lease, sync_interval=sync_interval)


def make_change_follower(
    store: Store,
    trigger: Trigger,
    sync_interval: float,
    apply: Callable[[list[SeenChange]], None],
    events: EventBus,
) -> ChangeFollower | None:
    """A follower of other processes' job changes for a scheduler that shares its
    store through a shared trigger, when the store pushes changes. With a trigger that
    is not shared the coordinator's change poll does this (and arms what it reads);
    with a shared one a coordinator (``coordinate=True``) only claims, never polls."""
    if not trigger.shared:
        return None
    if not isinstance(store, ChangeSignalingStore) or not store.signals_changes:
        return None
    return ChangeFollower(store, apply, events, sync_interval)


def resolve_store(store: Store | str | None, options: Mapping[str, Any] | None) -> Store:
    if store is None:
        if options:
            return create_store("memory", **options)
        from ._memory_store import MemoryStore

        return MemoryStore()
    if isinstance(store, str):
        return create_store(store, **dict(options or {}))
    if not isinstance(store, Store):
        raise TypeError(
            f"store must be a Store (tickwork.abc.Store), a store name or a URL; got {store!r}"
        )
    if options:
        raise TypeError("store_options apply only when store is a name or URL")
    return store


def resolve_trigger(trigger: Trigger | str, options: Mapping[str, Any] | None) -> Trigger:
    if isinstance(trigger, str):
        return create_trigger(trigger, **dict(options or {}))
    if not isinstance(trigger, Trigger):
        raise TypeError(
            f"trigger must be a Trigger (tickwork.abc.Trigger) or a trigger name; got {trigger!r}"
        )
    if options:
        raise TypeError("trigger_options apply only when trigger is a name")
    return trigger
