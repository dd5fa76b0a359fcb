"""Several conditional KV writes in one round trip, each stored or not on its own.

An atomic batch (:mod:`._atomic_batch`) answers once for many writes, but the server
pays for it: it stages every batch in a store of its own, on disk for a file-backed
stream (a folder, a metadata file written and synced, then removed). On nats-server
2.15.1 a batch of one write or of eight cost the server 1.4 to 2.0 ms of CPU and the
client 2.5 to 3 ms of waiting, where four separate publishes sent together cost the
server 0.14 ms and the client 0.2 ms of CPU, about 0.035 and 0.05 ms a write
(``tests/integration/nats/batch_cost.py`` measures it). The scheduler's sets of writes
are small when runs come spread out (a worker taking a few hundred runs a second
writes a few documents at a time), so there the batches' fixed cost was most of the
server's CPU.

:func:`write_many` therefore sends fewer than :data:`ATOMIC_FROM` writes as separate
publishes, all sent before any answer is awaited (one round trip), their answers on
one subscription per connection, and larger sets as one atomic batch. Either way the
caller learns, per write, the revision stored or that it was not stored (its
condition failed, or its ``Nats-Msg-Id`` was a duplicate), and writes what was not
stored again its own way. A rejected atomic batch stores none of its writes; separate
publishes may store some and not others, which every caller takes, since each write
is a compare-and-set or replaces a value whole. Separate publishes on one connection
reach the stream in the order sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Sequence

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from ._atomic_batch import BatchRejectedError, Write, publish_atomically

__all__ = ["ATOMIC_FROM", "write_many"]

logger = logging.getLogger("tickwork.nats")

ATOMIC_FROM = 32
"""Writes from which one atomic batch costs less than separate publishes, server and
client together (about 2.3 ms a batch against 0.085 ms a write, so from about 27
writes; see the module's note). W1 and W2 with three NATS-trigger workers did as well
at 64 or with no batches at all, and worse at 8 or 16."""

_EXPECTED = "Nats-Expected-Last-Subject-Sequence"


async def write_many(nc: Client, writes: Sequence[Write], timeout: float) -> list[int | None]:
    """Store ``writes`` (each on its own condition); per write, the stream sequence
    (the KV revision) it was stored at, or None when it was not stored.

    :raises nats.errors.TimeoutError: an answer did not come within ``timeout``; what
        was stored is then unknown (as with an atomic batch that timed out).
    :raises nats.errors.NoRespondersError: no stream took the subject.
    """
    if not writes:
        return []
    if len(writes) >= ATOMIC_FROM:
        try:
            return list(await publish_atomically(nc, writes, timeout))
        except BatchRejectedError as exc:
            logger.debug("an atomic batch of %d write(s) was rejected (%s)", len(writes), exc)
            return [None] * len(writes)
    answers = await _inbox_of(nc).send(writes, timeout)
    return [stored_at(answer) for answer in answers]


class _Inbox:
    """The answers to one connection's separate publishes, on one subscription of its
    own: a future per write and one wait for them all, rather than a request (its own
    future, timer and task) per write."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._subscribed = False
        self._subscribing = asyncio.Lock()
        self._count = 0

    async def send(self, writes: Sequence[Write], timeout: float) -> list[Msg]:
        """Publish each write with a reply subject of its own, then wait for every
        answer at once."""
        if not self._subscribed:
            async with self._subscribing:
                if not self._subscribed:
                    await self._nc.subscribe(f"{self._prefix}.*", cb=self._on_answer)
                    self._subscribed = True
        loop = asyncio.get_running_loop()
        tokens: list[str] = []
        futures: list[asyncio.Future[Msg]] = []
        try:
            for write in writes:
                self._count += 1
                token = str(self._count)
                future: asyncio.Future[Msg] = loop.create_future()
                self._waiting[token] = future
                tokens.append(token)
                futures.append(future)
                await self._nc.publish(
                    write.subject,
                    write.value,
                    reply=f"{self._prefix}.{token}",
                    headers=_headers(write),
                )
            _, pending = await asyncio.wait(futures, timeout=timeout)
        finally:
            for token in tokens:
                self._waiting.pop(token, None)
        if pending:
            for future in pending:
                future.cancel()
            raise nats.errors.TimeoutError
        return [future.result() for future in futures]

    async def _on_answer(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[len(self._prefix) + 1 :], None)
        if future is not None and not future.done():
            future.set_result(msg)


_INBOXES: weakref.WeakKeyDictionary[Client, _Inbox] = weakref.WeakKeyDictionary()


def _inbox_of(nc: Client) -> _Inbox:
    inbox = _INBOXES.get(nc)
    if inbox is None:
        inbox = _INBOXES[nc] = _Inbox(nc)
    return inbox


def _headers(write: Write) -> dict[str, str]:
    headers = dict(write.headers)
    if write.expected is not None:
        headers[_EXPECTED] = str(write.expected)
    return headers


def stored_at(answer: Msg) -> int | None:
    """The sequence a publish's answer says its message was stored at; None when the
    server refused it (a failed condition) or dropped it as a duplicate.

    :raises nats.errors.NoRespondersError: the answer is the no-responders status.
    """
    if answer.headers and answer.headers.get("Status") == "503":
        raise nats.errors.NoRespondersError
    try:
        doc = json.loads(answer.data)
    except ValueError:
        logger.debug("unreadable answer to a write: %r", answer.data[:200])
        return None
    if not isinstance(doc, dict) or "error" in doc or doc.get("duplicate"):
        return None
    sequence = doc.get("seq")
    return sequence if isinstance(sequence, int) else None
