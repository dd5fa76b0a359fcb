"""``create_nats_scheduler``: the one-line NATS deployment (KV store + NATS trigger)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nats.js import JetStreamContext

from tickwork import AsyncScheduler, Handler
from tickwork.abc import ScheduleCodec
from tickwork_nats_store import NATSStore

from ._trigger import NATSTrigger

__all__ = ["create_nats_scheduler"]

# Trigger options the store needs too, so both provision the same way.
_SHARED_WITH_STORE = ("once", "once_lock_bucket", "jetstream_ready_timeout", "replicas")


def create_nats_scheduler(
    js_or_servers: JetStreamContext | str | Sequence[str],
    handler: Handler | None = None,
    *,
    codec: ScheduleCodec | None = None,
    job_bucket: str = "SCHEDULER_JOBS",
    exec_bucket: str = "SCHEDULER_EXECUTIONS",
    store_options: Mapping[str, Any] | None = None,
    max_workers: int | None = None,
    worker_id: str | None = None,
    **trigger_options: Any,
) -> AsyncScheduler:
    """An :class:`~tickwork.AsyncScheduler` on NATS alone: jobs and history in JetStream
    KV (:class:`tickwork_nats_store.NATSStore`), runs fired by :class:`NATSTrigger`.

    The Python form of the reference's ``NewNATSScheduler(js, handler, opts...)``::

        scheduler = create_nats_scheduler("nats://127.0.0.1:4222", handler)
        scheduler = create_nats_scheduler(nc.jetstream(), handler, stream_name="JOBS")

    Given a JetStream context, store and trigger use its connection (it stays yours).
    Given server URL(s), the store opens one connection and the trigger shares it.

    :param js_or_servers: a nats-py JetStream context, or NATS URL(s).
    :param handler: the job handler (see :class:`~tickwork.AsyncScheduler`).
    :param codec: the schedule codec (default: every registered schedule type).
    :param job_bucket: KV bucket for jobs.
    :param exec_bucket: KV bucket for execution records.
    :param store_options: further :class:`~tickwork_nats_store.NATSStore` options.
    :param max_workers: threads for plain-function handlers.
    :param worker_id: this process's name in execution records.
    :param trigger_options: :class:`NATSTrigger` options (``stream_name``,
        ``subject_prefix``, ``consumer_name``, ``ack_wait``, ``once``, …).
    """
    if "servers" in trigger_options or "js" in trigger_options:
        raise TypeError("give the connection as the first argument, not servers=/js=")
    store_kwargs: dict[str, Any] = {
        key: trigger_options[key] for key in _SHARED_WITH_STORE if key in trigger_options
    }
    store_kwargs.update(store_options or {})
    store_kwargs.update(job_bucket=job_bucket, exec_bucket=exec_bucket)
    if isinstance(js_or_servers, JetStreamContext):
        store = NATSStore(js=js_or_servers, **store_kwargs)
        trigger = NATSTrigger(js=js_or_servers, **trigger_options)
    elif isinstance(js_or_servers, str) or (
        isinstance(js_or_servers, Sequence) and all(isinstance(s, str) for s in js_or_servers)
    ):
        store = NATSStore(js_or_servers, **store_kwargs)
        trigger = NATSTrigger(**trigger_options)  # borrows the store's connection
    else:
        raise TypeError(
            "js_or_servers must be a nats-py JetStream context or NATS URL(s), "
            f"got {js_or_servers!r}"
        )
    extra: dict[str, Any] = {}
    if max_workers is not None:
        extra["max_workers"] = max_workers
    return AsyncScheduler(store, handler, codec, trigger=trigger, worker_id=worker_id, **extra)
