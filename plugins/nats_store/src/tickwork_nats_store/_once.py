"""A distributed "once": the reference library's ``OnceFunc``, over a JetStream KV lock.

When several processes start against a brand-new deployment at the same moment, each
would create the same buckets. :class:`JetStreamOnce` lets exactly one of them do it
while the others wait, then return. It needs nothing but JetStream:

- the lock is the KV key ``<encoded key>`` in the lock bucket (``SCHEDULER_LOCKS`` by
  default, shared with the NATS trigger). Taking it is a KV *create*, which succeeds
  for exactly one caller;
- the holder runs ``fn`` and refreshes the lock every ``ttl / 3`` seconds while it
  runs. On success it marks the key ``done``; on failure (or cancellation) it erases
  the key so a waiter can take over;
- the other callers poll the key: ``done`` means return, a missing key means take the
  lock and try, ``running`` means wait (at most ``wait_timeout`` seconds);
- the lock bucket's max age (``ttl``) bounds everything: the lock of a process that
  died expires, and so does the memory of ``done`` (a later caller then runs ``fn``
  again, which is why ``fn`` must be idempotent, as creating buckets is).

Any callable with the :data:`OnceFunc` signature can replace it, for instance to share
a lock service that other parts of an application already use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from tickwork import StorageOperationError

from ._bucket import Bucket, BucketSettings, open_bucket
from ._keys import encode_id

__all__ = ["DEFAULT_LOCK_BUCKET", "DEFAULT_LOCK_TTL", "JetStreamOnce", "OnceFunc"]

logger = logging.getLogger("tickwork.nats")

_NOT_READY = (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError)
"""What a write to a stream without a leader yet gets (no stream answered)."""

OnceFunc = Callable[[str, Callable[[], Awaitable[None]]], Awaitable[None]]
"""``await once(key, fn)``: run ``fn`` in exactly one of the processes that call it
with the same ``key`` at the same time; the others wait until it has finished, then
return. After ``fn`` succeeded, callers return without running it (for as long as the
implementation remembers). A failure of ``fn`` propagates to the caller that ran it."""

DEFAULT_LOCK_BUCKET = "SCHEDULER_LOCKS"
DEFAULT_LOCK_TTL = 30.0

_RUNNING = "running"
_DONE = "done"


class JetStreamOnce:
    """The built-in :data:`OnceFunc`, backed by a KV bucket (see the module docs).

    :param js: the JetStream context to use (its connection stays the caller's).
    :param bucket: the lock bucket, created on first use.
    :param replicas: replicas of the lock bucket when it is created.
    :param ttl: seconds a lock (or the memory of ``done``) outlives its last refresh.
    :param wait_timeout: seconds a caller waits for another process's ``fn`` before
        giving up with :class:`tickwork.StorageOperationError`; default ``2 * ttl``.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        bucket: str = DEFAULT_LOCK_BUCKET,
        replicas: int = 1,
        ttl: float = DEFAULT_LOCK_TTL,
        wait_timeout: float | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl!r}")
        self._js = js
        self.bucket_name = bucket
        self._settings = BucketSettings(replicas=replicas, history=1, ttl=ttl)
        self.ttl = ttl
        self.wait_timeout = 2 * ttl if wait_timeout is None else wait_timeout
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._bucket: Bucket | None = None

    def __repr__(self) -> str:
        return f"JetStreamOnce(bucket={self.bucket_name!r}, ttl={self.ttl:g})"

    async def __call__(self, key: str, fn: Callable[[], Awaitable[None]]) -> None:
        bucket = await self._lock_bucket()
        lock_key = encode_id(key)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        delay = 0.02
        while True:
            try:
                revision = await bucket.create(lock_key, self._document(_RUNNING))
            except _NOT_READY:
                # A bucket just created in a cluster answers once its stream has a
                # leader, a moment later: until then nobody takes the lock.
                if loop.time() >= deadline:
                    raise
                logger.debug("once %r: bucket %s not answering yet", key, self.bucket_name)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            if revision is not None:
                await self._run_holding(bucket, key, lock_key, revision, fn)
                return
            entry = await bucket.get(lock_key)
            state, owner = (_RUNNING, "another process") if entry is None else _parse(entry.value)
            if state == _DONE:
                logger.debug("once %r already done by %s", key, owner)
                return
            if loop.time() >= deadline:
                raise StorageOperationError(
                    f"gave up after {self.wait_timeout:g} s waiting for {owner} to finish "
                    f"{key!r} (lock key {lock_key!r} in KV bucket {self.bucket_name}). If "
                    "that process is gone, its lock expires by itself within "
                    f"{self.ttl:g} s; otherwise see why it is stuck."
                )
            if entry is None:
                continue  # released or expired between our two calls: take it now
            logger.debug("once %r is running in %s; waiting", key, owner)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _lock_bucket(self) -> Bucket:
        if self._bucket is None:
            self._bucket = await open_bucket(self._js, self.bucket_name, self._settings)
        return self._bucket

    async def _run_holding(
        self,
        bucket: Bucket,
        key: str,
        lock_key: str,
        revision: int,
        fn: Callable[[], Awaitable[None]],
    ) -> None:
        logger.debug("once %r: lock taken by %s", key, self.owner)
        keepalive = asyncio.create_task(self._keep_alive(bucket, lock_key, revision))
        try:
            await fn()
        except BaseException:
            keepalive.cancel()
            with contextlib.suppress(BaseException):
                await keepalive
            try:
                await bucket.remove(lock_key)
            except Exception:  # the lock expires by itself
                logger.warning("could not release the lock for %r", key, exc_info=True)
            raise
        keepalive.cancel()
        with contextlib.suppress(BaseException):
            await keepalive
        await bucket.put(lock_key, self._document(_DONE))
        logger.debug("once %r: done", key)

    async def _keep_alive(self, bucket: Bucket, lock_key: str, revision: int) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                revision = await bucket.update(lock_key, self._document(_RUNNING), revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                logger.warning("lock %r was taken over while running; not refreshing it", lock_key)
                return
            except Exception:
                logger.warning("could not refresh the lock %r", lock_key, exc_info=True)

    def _document(self, state: str) -> bytes:
        return json.dumps(
            {"state": state, "owner": self.owner, "at": datetime.now(UTC).isoformat()}
        ).encode()


def _parse(raw: bytes) -> tuple[str, str]:
    try:
        document = json.loads(raw)
        return str(document.get("state", _RUNNING)), str(document.get("owner", "?"))
    except (ValueError, AttributeError):
        return _RUNNING, "an unknown process"
