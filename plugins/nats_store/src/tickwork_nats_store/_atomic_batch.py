"""Many KV writes in one round trip: JetStream atomic batch publishing (NATS Server 2.12+).

A KV write is a publish that the server answers; a scheduler that finishes hundreds of
runs a second would wait on hundreds of answers. An atomic batch is a run of publishes
to one stream that carry ``Nats-Batch-Id`` and ``Nats-Batch-Sequence`` headers; only
the last (``Nats-Batch-Commit: 1``) asks for an answer, and the server stores every
message of the batch, or none. Each message may carry its own
``Nats-Expected-Last-Subject-Sequence``, so a batch is a set of compare-and-set writes
that all succeed together; one write that lost its revision rejects the batch, and the
caller falls back to writing key by key (the server does not say which write lost).

The messages of a committed batch take consecutive stream sequences ending at the one
the answer names, so the revision of every key written is known without reading it.

The stream must allow it (``allow_atomic``); :func:`enable_atomic` turns that on for a
KV bucket's stream where the server supports it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

__all__ = [
    "ATOMIC_MIN_SERVER",
    "MAX_BATCH_MESSAGES",
    "BatchRejectedError",
    "Write",
    "enable_atomic",
    "publish_atomically",
]

logger = logging.getLogger("tickwork.nats")

ATOMIC_MIN_SERVER = (2, 12)
"""Atomic batch publishing arrived in NATS Server 2.12."""

MAX_BATCH_MESSAGES = 1000
"""The most messages the server takes in one atomic batch (its default limit)."""


@dataclass(frozen=True, slots=True)
class Write:
    """One message of a batch: ``value`` on ``subject``, on condition that the
    subject's last sequence is ``expected`` (``0``: the subject is empty; ``None``: no
    condition), with more ``headers`` if any."""

    subject: str
    value: bytes
    expected: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class BatchRejectedError(Exception):
    """The server stored nothing of the batch (a condition failed, or the stream does
    not take batches); ``err_code`` is its JetStream error code (0 if none)."""

    def __init__(self, description: str, err_code: int = 0) -> None:
        super().__init__(description)
        self.err_code = err_code


async def publish_atomically(nc: Client, writes: Sequence[Write], timeout: float) -> list[int]:
    """Publish ``writes`` (at most :data:`MAX_BATCH_MESSAGES`) as one atomic batch.

    :return: the stream sequence (the KV revision) of each write, in order.
    :raises BatchRejectedError: nothing was stored.
    :raises nats.errors.TimeoutError: no answer within ``timeout``; the batch may or
        may not be stored.
    """
    if not writes:
        return []
    if len(writes) > MAX_BATCH_MESSAGES:
        raise ValueError(f"an atomic batch takes at most {MAX_BATCH_MESSAGES} messages")
    batch_id = uuid.uuid4().hex
    last = len(writes)
    for number, write in enumerate(writes, 1):
        headers = {
            **write.headers,
            "Nats-Batch-Id": batch_id,
            "Nats-Batch-Sequence": str(number),
        }
        if write.expected is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(write.expected)
        if number == last:
            # The commit is the one message answered (on the client's shared inbox).
            headers["Nats-Batch-Commit"] = "1"
            answer = await nc.request(write.subject, write.value, timeout, headers=headers)
        else:
            await nc.publish(write.subject, write.value, headers=headers)
    return _sequences(answer.data, answer.headers, len(writes))


def _sequences(data: bytes, headers: dict[str, str] | None, count: int) -> list[int]:
    if headers and headers.get("Status") == "503":
        raise nats.errors.NoRespondersError
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise BatchRejectedError(f"unreadable answer to a batch: {data[:200]!r}") from exc
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        raise BatchRejectedError(
            str(error.get("description", "rejected")), int(error.get("err_code") or 0)
        )
    last, stored = doc.get("seq"), doc.get("count")
    if not isinstance(last, int) or stored != count:
        raise BatchRejectedError(f"unexpected answer to a batch of {count}: {doc!r}")
    return list(range(last - count + 1, last + 1))


async def enable_atomic(js: JetStreamContext, stream: str, version: tuple[int, int]) -> bool:
    """Allow atomic batches on ``stream`` (on 2.12+ servers); whether it allows them.

    Other settings of the stream are kept. Several processes may do this at once: the
    update is idempotent.
    """
    if version < ATOMIC_MIN_SERVER:
        return False
    try:
        info = await js.stream_info(stream)
        if info.config.allow_atomic:
            return True
        info = await js.update_stream(info.config.evolve(allow_atomic=True))
    except Exception as exc:  # no batches then: every write goes key by key
        logger.info("stream %s does not take atomic batches: %s", stream, exc)
        return False
    return bool(info.config.allow_atomic)
