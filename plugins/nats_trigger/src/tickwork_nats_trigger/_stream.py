"""Provisioning: the server check, the scheduling stream, its consumer, the claims bucket.

Everything here is idempotent: each worker runs it at start, and what already exists
with the right settings is left alone. What a deployment consists of:

- the stream (default ``SCHEDULER``): work-queue retention, capturing
  ``<prefix>.schedule.*`` (armed schedules) and ``<prefix>.due.*`` (due runs), with
  ``allow_msg_schedules`` (NATS Server 2.12+), a duplicates window for the
  deterministic ``Nats-Msg-Id`` of schedules, direct gets, and atomic batches (the
  arms that follow runs go out together, see :mod:`._publisher`);
- one durable pull consumer (default ``scheduler-worker``) on ``<prefix>.due.*`` with
  explicit acks and the configured ack wait, shared by every worker;
- a KV bucket of claims (default ``SCHEDULER_CLAIMS``), see :mod:`._claims`, whose
  stream takes atomic batches and (on a single replica) batched direct gets, see
  :mod:`._claim_batches`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from tickwork import NATSServerTooOldError, StorageOperationError

from ._connection import describe, is_transient
from ._subjects import Subjects

__all__ = [
    "MIN_SERVER_VERSION",
    "Provisioning",
    "check_server_version",
    "claims_take_batches",
    "ensure_claims_bucket",
    "ensure_consumer",
    "ensure_stream",
    "is_provisioned",
    "wait_for_stream_leader",
]

MIN_SERVER_VERSION = (2, 12)
"""JetStream message scheduling (``allow_msg_schedules``) arrived in NATS Server 2.12."""

_STREAM_NOT_FOUND = 10059
_CONSUMER_NOT_FOUND = 10014


@dataclass(frozen=True, kw_only=True, slots=True)
class Provisioning:
    """What the trigger asks of the server."""

    stream_name: str
    subjects: Subjects
    consumer_name: str
    claim_bucket: str
    replicas: int
    ack_wait: float
    duplicates_window: float
    claim_ttl: float
    max_ack_pending: int

    def stream_config(self, existing: api.StreamConfig | None = None) -> api.StreamConfig:
        """The stream's configuration; an ``existing`` one keeps its other settings."""
        wanted: dict[str, Any] = {
            "subjects": sorted(
                set((existing.subjects if existing else None) or [])
                | set(self.subjects.stream_subjects)
            ),
            "allow_msg_schedules": True,
            "duplicate_window": self.duplicates_window,
            "allow_direct": True,
            "allow_atomic": True,
        }
        if existing is not None:
            return existing.evolve(**wanted)
        return api.StreamConfig(
            name=self.stream_name,
            description="tickwork: armed schedules and due runs (NATS trigger)",
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            num_replicas=self.replicas,
            discard=api.DiscardPolicy.OLD,
            **wanted,
        )

    def consumer_config(self) -> api.ConsumerConfig:
        """The shared durable consumer's configuration."""
        return api.ConsumerConfig(
            durable_name=self.consumer_name,
            description="tickwork workers (NATS trigger)",
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            filter_subject=self.subjects.due_filter,
            max_ack_pending=self.max_ack_pending,
            max_waiting=512,
        )


def check_server_version(nc: Client) -> str:
    """Return the connected server's version.

    :raises NATSServerTooOldError: older than 2.12.
    """
    version = nc.connected_server_version
    text = f"{version.major}.{version.minor}.{version.patch}"
    if (version.major, version.minor) < MIN_SERVER_VERSION:
        raise NATSServerTooOldError(
            version=text,
            reason=(
                f"the server at {_netloc(nc)} runs nats-server {text}; message scheduling "
                "needs 2.12 or newer. Upgrade the server, or use the local trigger."
            ),
        )
    return text


def _netloc(nc: Client) -> str:
    url = nc.connected_url
    return url.netloc if url is not None else "?"


async def ensure_stream(
    js: JetStreamContext, want: Provisioning, *, version: str
) -> api.StreamInfo:
    """Create the stream, or bring an existing one in line; verify scheduling is on.

    :raises NATSServerTooOldError: the server kept the stream without
        ``allow_msg_schedules`` (it silently ignores the flag).
    :raises StorageOperationError: the stream exists with settings that cannot work
        (not a work queue).
    """
    try:
        info = await js.stream_info(want.stream_name)
    except nats.js.errors.NotFoundError:
        info = None
    if info is None:
        try:
            info = await js.add_stream(want.stream_config())
        except nats.js.errors.BadRequestError:
            # A peer created it in the meantime (different settings: aligned below).
            info = await js.stream_info(want.stream_name)
    config = info.config
    if config.retention != api.RetentionPolicy.WORK_QUEUE:
        raise StorageOperationError(
            f"stream {want.stream_name} exists with retention {config.retention}; the NATS "
            "trigger needs a work-queue stream. Delete it (nats stream rm) or choose "
            "another stream_name."
        )
    target = want.stream_config(config)
    if _needs_update(config, target):
        logging.getLogger("tickwork.nats.trigger").info(
            "updating stream %s (subjects, schedules, atomic batches, duplicates window)",
            want.stream_name,
        )
        info = await js.update_stream(target)
    if not info.config.allow_msg_schedules:
        raise NATSServerTooOldError(
            version=version,
            reason=(
                f"nats-server {version} kept stream {want.stream_name} without "
                "allow_msg_schedules (it ignores the setting, so it cannot schedule "
                "messages); upgrade to NATS Server 2.12 or newer"
            ),
        )
    return info


def _needs_update(current: api.StreamConfig, target: api.StreamConfig) -> bool:
    return (
        sorted(current.subjects or []) != sorted(target.subjects or [])
        or not current.allow_msg_schedules
        or not current.allow_direct
        or not current.allow_atomic
        or abs((current.duplicate_window or 0) - (target.duplicate_window or 0)) > 1e-6
    )


async def ensure_consumer(js: JetStreamContext, want: Provisioning) -> api.ConsumerInfo:
    """Create the durable consumer, or update it (ack wait, filter) when it differs."""
    config = want.consumer_config()
    try:
        info: api.ConsumerInfo = await js.consumer_info(want.stream_name, want.consumer_name)
    except nats.js.errors.NotFoundError:
        created: api.ConsumerInfo = await js.add_consumer(want.stream_name, config)
        return created
    current = info.config
    if (
        abs((current.ack_wait or 0) - want.ack_wait) > 1e-6
        or current.filter_subject != config.filter_subject
        or current.max_ack_pending != config.max_ack_pending
    ):
        logging.getLogger("tickwork.nats.trigger").info(
            "updating consumer %s (ack wait %.3g s)", want.consumer_name, want.ack_wait
        )
        updated: api.ConsumerInfo = await js.add_consumer(want.stream_name, config)
        return updated
    return info


async def ensure_claims_bucket(js: JetStreamContext, want: Provisioning) -> KeyValue:
    """Bind to the claims bucket, creating it when it is missing; make sure it takes
    batches (:func:`claims_take_batches`)."""
    try:
        kv = await js.key_value(want.claim_bucket)
    except nats.js.errors.BucketNotFoundError:
        pass
    else:
        await claims_take_batches(js, want)
        return kv
    try:
        kv = await js.create_key_value(
            config=api.KeyValueConfig(
                bucket=want.claim_bucket,
                description="tickwork: which worker runs which due run (NATS trigger)",
                history=1,
                ttl=want.claim_ttl,
                replicas=want.replicas,
                storage=api.StorageType.FILE,
            )
        )
    except Exception as exc:
        if is_transient(exc):
            raise
        kv = await js.key_value(want.claim_bucket)  # a peer created it first
    await claims_take_batches(js, want)
    return kv


async def claims_take_batches(js: JetStreamContext, want: Provisioning) -> bool:
    """Let the claims bucket's stream take atomic batches, and batched direct gets when
    it has a single replica; whether it allows direct gets.

    A direct get may be answered by a replica that lags behind: harmless for claims
    (each write is a compare-and-set on the revision read), but a lagging replica
    would make batches fail over and over, so replicated buckets read from the leader.
    """
    stream = f"KV_{want.claim_bucket}"
    info = await js.stream_info(stream)
    config = info.config
    wants_direct = want.replicas == 1 and not config.allow_direct
    if not config.allow_atomic or wants_direct:
        changes: dict[str, Any] = {"allow_atomic": True}
        if wants_direct:
            changes["allow_direct"] = True
        info = await js.update_stream(config.evolve(**changes))
    if not info.config.allow_atomic:
        raise StorageOperationError(
            f"stream {stream} does not take atomic batches (NATS Server 2.12+ needed)"
        )
    return bool(info.config.allow_direct)


def _claims_ready(info: api.StreamInfo, want: Provisioning) -> bool:
    config = info.config
    return bool(config.allow_atomic) and (want.replicas != 1 or bool(config.allow_direct))


async def is_provisioned(js: JetStreamContext, want: Provisioning) -> bool:
    """Whether everything exists with the right settings (no lock needed then)."""
    try:
        info = await js.stream_info(want.stream_name)
        consumer = await js.consumer_info(want.stream_name, want.consumer_name)
        claims = await js.stream_info(f"KV_{want.claim_bucket}")
    except (nats.js.errors.NotFoundError, nats.js.errors.BucketNotFoundError):
        return False
    return (
        _claims_ready(claims, want)
        and info.config.retention == api.RetentionPolicy.WORK_QUEUE
        and not _needs_update(info.config, want.stream_config(info.config))
        and abs((consumer.config.ack_wait or 0) - want.ack_wait) <= 1e-6
        and consumer.config.filter_subject == want.subjects.due_filter
        and consumer.config.max_ack_pending == want.max_ack_pending
    )


async def wait_for_stream_leader(js: JetStreamContext, streams: list[str], timeout: float) -> None:
    """Wait until each stream's raft group has a leader (immediate on a single server).

    A stream that a cluster has just accepted may still be electing its leader; a
    publish in that window fails with "no responders". ``timeout <= 0`` skips the wait.

    :raises StorageOperationError: some stream had no leader within ``timeout``.
    """
    if timeout <= 0:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for name in streams:
        while True:
            try:
                info = await js.stream_info(name)
                if info.cluster is None or info.cluster.leader:
                    break
                why = "no leader yet"
            except Exception as exc:
                if not is_transient(exc):
                    raise
                why = describe(exc)
            if loop.time() >= deadline:
                raise StorageOperationError(
                    f"stream {name} has no leader after {timeout:g} s ({why}); check the "
                    "cluster (nats server report jetstream)"
                )
            await asyncio.sleep(0.1)
