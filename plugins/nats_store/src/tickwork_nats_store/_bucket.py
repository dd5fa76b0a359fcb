"""One JetStream KV bucket, with the few operations the store needs.

A thin layer over :class:`nats.js.kv.KeyValue` that adds what nats-py lacks:

- :meth:`Bucket.scan` reads the latest value of every key matching a subject filter
  through one short-lived ordered consumer, so listing one job's history reads only
  that job's keys (nats-py's ``keys()`` walks the whole bucket and filters client-side);
- :meth:`Bucket.remove` erases a key without leaving a delete marker behind (a stream
  purge by subject), for data that is pruned in bulk, such as execution history;
- :func:`open_bucket` creates a bucket or binds to an existing one, tolerating a peer
  that creates it at the same moment.

Bucket ``X`` is the stream ``KV_X`` and key ``k`` is the subject ``$KV.X.k``: the
layout every NATS client shares.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from ._errors import is_connection_error
from ._multi_get import read_matching
from ._removals import is_removal

__all__ = ["PARALLEL", "Bucket", "BucketSettings", "Entry", "gather_in_batches", "open_bucket"]

logger = logging.getLogger("tickwork.nats")

_SCAN_CONSUMER_INACTIVE = 5.0
"""Seconds after which the server drops a scan consumer nobody listens to."""


@dataclass(frozen=True)
class Entry:
    """The latest value of one key."""

    key: str
    value: bytes
    revision: int


@dataclass(frozen=True)
class BucketSettings:
    """What a bucket is created with (an existing bucket is never reconfigured)."""

    replicas: int = 1
    history: int = 1
    storage: api.StorageType = api.StorageType.FILE
    max_value_size: int | None = None
    max_bytes: int | None = None
    ttl: float | None = None
    description: str | None = None

    def config(self, name: str) -> api.KeyValueConfig:
        return api.KeyValueConfig(
            bucket=name,
            description=self.description,
            history=self.history,
            replicas=self.replicas,
            storage=self.storage,
            max_value_size=self.max_value_size,
            max_bytes=self.max_bytes,
            ttl=self.ttl,
        )


class Bucket:
    """A KV bucket: reads, compare-and-set writes, scans and removals."""

    def __init__(self, js: JetStreamContext, kv: KeyValue, name: str) -> None:
        self.js = js
        self.kv = kv
        self.name = name
        self.stream = f"KV_{name}"
        self.prefix = f"$KV.{name}."
        #: Set when the bucket's stream allows direct gets and has one replica: scans
        #: are then batched direct gets (:func:`._multi_get.read_matching`), not an
        #: ordered consumer each.
        self.direct_scans: Client | None = None

    def __repr__(self) -> str:
        return f"Bucket({self.name!r})"

    async def get(self, key: str) -> Entry | None:
        """The latest value of ``key``, or None when it is missing or deleted."""
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        return Entry(key, entry.value or b"", entry.revision or 0)

    async def create(self, key: str, value: bytes) -> int | None:
        """Write ``key`` only if it does not exist; its revision, or None if it exists."""
        try:
            return await self.kv.create(key, value)
        except nats.js.errors.KeyWrongLastSequenceError:
            return None

    async def update(self, key: str, value: bytes, revision: int) -> int:
        """Write ``key`` only if its latest revision is ``revision``.

        :raises nats.js.errors.KeyWrongLastSequenceError: someone wrote it first.
        """
        return await self.kv.update(key, value, last=revision)

    async def put(self, key: str, value: bytes) -> int:
        """Write ``key`` unconditionally."""
        return await self.kv.put(key, value)

    async def delete(self, key: str, revision: int) -> None:
        """Put a delete marker on ``key`` only if its latest revision is ``revision``.

        :raises nats.js.errors.APIError: (wrong last sequence) someone wrote it first.
        """
        await self.kv.delete(key, last=revision)

    async def remove(self, key: str) -> None:
        """Erase every revision of ``key`` and leave no marker."""
        await self.js.purge_stream(self.stream, subject=self.prefix + key)

    async def scan(self, key_filter: str, *, timeout: float) -> list[Entry]:
        """The latest value of every live key matching ``key_filter``, in stream order.

        One ephemeral ordered consumer delivers the last message of each matching
        subject; the scan ends when the consumer reports nothing pending. Keys written
        while the scan runs may or may not be included. With :attr:`direct_scans`,
        batched direct gets read the same messages without a consumer.
        """
        if self.direct_scans is not None:
            return await self._scan_direct(self.direct_scans, key_filter, timeout)
        sub = await self.js.subscribe(
            self.prefix + key_filter,
            stream=self.stream,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
            inactive_threshold=_SCAN_CONSUMER_INACTIVE,
        )
        consumer: str | None = None
        try:
            info = await sub.consumer_info()
            consumer = info.name
            delivered = info.delivered.consumer_seq if info.delivered else 0
            if not info.num_pending and not delivered:
                return []
            found: dict[str, Entry] = {}
            while True:
                msg = await sub.next_msg(timeout=timeout)
                meta = msg.metadata
                key = msg.subject[len(self.prefix) :]
                if is_removal(msg.headers):
                    found.pop(key, None)
                else:
                    found[key] = Entry(key, msg.data, meta.sequence.stream)
                if meta.num_pending == 0:
                    return list(found.values())
        finally:
            try:
                await sub.unsubscribe()
                if consumer is not None:
                    # Unsubscribing leaves the consumer on the server until its inactive
                    # threshold passes; a program listing histories in a loop would pile
                    # up hundreds of them and hit the account's consumer limit.
                    await self.js.delete_consumer(self.stream, consumer)
            except Exception:  # the connection went away; the server drops the consumer
                logger.debug("cleaning up a scan of %s failed", self.name, exc_info=True)

    async def _scan_direct(self, nc: Client, key_filter: str, timeout: float) -> list[Entry]:
        found: dict[str, Entry] = {}
        for msg in await read_matching(nc, self.stream, self.prefix + key_filter, timeout):
            key = msg.subject[len(self.prefix) :]
            if is_removal(msg.headers):
                found.pop(key, None)
            else:
                found[key] = Entry(key, msg.value, msg.sequence)
        return list(found.values())

    async def newest(self, key_filter: str, *, timeout: float) -> Entry | None:
        """The live key matching ``key_filter`` that was written last, or None.

        One request for the last message on the filter, which the server finds in its
        index of subjects (4.5 ms under 100,000 keys, where a scan takes 4.9 s; see
        ``tests/integration/nats/last_record_cost.py``). When that message removes its
        key (deleted by hand, or expired with a marker), the newest live key is older
        than it and only a :meth:`scan` of the filter finds it: the one with the
        highest revision.
        """
        try:
            msg = await self.js.get_last_msg(self.stream, self.prefix + key_filter)
        except nats.js.errors.NotFoundError:
            return None
        if not is_removal(msg.headers):
            return Entry((msg.subject or "")[len(self.prefix) :], msg.data or b"", msg.seq or 0)
        live = await self.scan(key_filter, timeout=timeout)
        return max(live, key=lambda entry: entry.revision, default=None)

    async def status(self) -> KeyValue.BucketStatus:
        """The bucket's stream info (one round trip)."""
        return await self.kv.status()


async def open_bucket(
    js: JetStreamContext,
    name: str,
    settings: BucketSettings | None,
) -> Bucket:
    """Bind to bucket ``name``; with ``settings``, create it first when it is missing.

    Several processes may create the same bucket at once: whoever loses the race binds
    to the winner's bucket. An existing bucket keeps its configuration (a difference in
    replicas or history is logged).

    :raises nats.js.errors.BucketNotFoundError: missing and ``settings`` is None.
    """
    try:
        kv = await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        if settings is None:
            raise
        try:
            kv = await _create(js, name, settings)
            logger.info("created JetStream KV bucket %s (replicas=%d)", name, settings.replicas)
        except Exception as exc:
            if is_connection_error(exc):
                raise
            # Most likely a peer created it first (with an equal or different config).
            logger.debug("creating bucket %s failed (%s); binding to it instead", name, exc)
            kv = await js.key_value(name)
    else:
        if settings is not None:
            await _warn_on_drift(kv, name, settings)
    return Bucket(js, kv, name)


#: Seconds a bucket's creation is tried again while the cluster has too few peers it
#: knows to be up (a cluster that has just elected its meta leader learns about its
#: peers a moment later, longer on a loaded machine).
PEERS_WAIT = 15.0

_NO_SUITABLE_PEERS = 10005


async def _create(js: JetStreamContext, name: str, settings: BucketSettings) -> KeyValue:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PEERS_WAIT
    while True:
        try:
            return await js.create_key_value(config=settings.config(name))
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != _NO_SUITABLE_PEERS or loop.time() > deadline:
                raise
            logger.debug("creating bucket %s: %s; trying again", name, exc.description)
        await asyncio.sleep(0.25)


async def _warn_on_drift(kv: KeyValue, name: str, settings: BucketSettings) -> None:
    try:
        status = await kv.status()
    except Exception:  # informational only
        return
    config = status.stream_info.config
    differences: list[str] = []
    if config.num_replicas is not None and config.num_replicas != settings.replicas:
        differences.append(f"replicas={config.num_replicas} (asked for {settings.replicas})")
    if config.max_msgs_per_subject is not None and config.max_msgs_per_subject < 1:
        differences.append("history < 1")
    if differences:
        logger.warning(
            "KV bucket %s exists with %s; existing buckets are never reconfigured "
            "(change them with `nats kv` or js.update_stream)",
            name,
            ", ".join(differences),
        )


T = TypeVar("T")

#: How many actions gather_in_batches runs at once.
PARALLEL = 64


async def gather_in_batches(action: Callable[[T], Awaitable[None]], items: Iterable[T]) -> None:
    """Run ``action`` on every item, at most ``PARALLEL`` at once."""
    batch: list[Awaitable[None]] = []
    for item in items:
        batch.append(action(item))
        if len(batch) >= PARALLEL:
            await asyncio.gather(*batch)
            batch = []
    if batch:
        await asyncio.gather(*batch)
