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
publishes, all sent before any answer is awaited (one round trip; the answers come on
the connection's :class:`._replies.Replies`), and larger sets as one atomic batch.
Either way the caller learns, per write, the revision stored or that it was not stored (its
condition failed, or its ``Nats-Msg-Id`` was a duplicate), and writes what was not
stored again its own way. A rejected atomic batch stores none of its writes; separate
publishes may store some and not others, which every caller takes, since each write
is a compare-and-set or replaces a value whole. Separate publishes on one connection
reach the stream in the order sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from ._atomic_batch import BatchRejectedError, Write, publish_atomically
from ._replies import replies_of

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
    outgoing = [(w.subject, w.value, _headers(w)) for w in writes]
    answers = await replies_of(nc).publish_each(outgoing, timeout)
    if None in answers:
        raise nats.errors.TimeoutError
    return [stored_at(answer) for answer in answers if answer is not None]


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
