"""Many KV values in one round trip: batched direct gets (NATS 2.11+).

Reading keys one by one costs a request each. A direct get request with
``multi_last`` names many subjects; the server streams back the last message of each
(subjects it has nothing on are left out) and ends with an ``EOB`` status. One with
``next_by_subj`` and a ``batch`` size streams back every message on a subject filter,
which lists a bucket (or one job's history) without an ordered consumer, whose
creation and removal cost the server far more. The stream must allow direct gets
(``allow_direct``).

A direct get may be answered by any replica of the stream, including one that lags a
little behind its leader. Use it only where a stale value is harmless (before a
compare-and-set on the revision read, which fails and reads again when the value was
stale), or on a stream with one replica.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from ._removals import is_removal
from ._replies import replies_of

__all__ = [
    "MULTI_GET_MIN_SERVER",
    "LastValue",
    "StoredMessage",
    "direct_reads_allowed",
    "enable_direct_reads",
    "read_last_many",
    "read_matching",
]

logger = logging.getLogger("tickwork.nats")

MULTI_GET_MIN_SERVER = (2, 11)
"""Batched direct gets arrived in NATS Server 2.11."""

_CHUNK = 256
"""Subjects asked for in one request (the server caps a request's subjects)."""


@dataclass(frozen=True, slots=True)
class LastValue:
    """The last message on one subject."""

    value: bytes
    revision: int


async def read_last_many(
    nc: Client, stream: str, subjects: Sequence[str], timeout: float
) -> dict[str, LastValue]:
    """The last message on each of ``subjects`` in ``stream``, by subject; subjects with
    none (or whose last message removes a KV key: :func:`._removals.is_removal`) are
    left out.

    :raises nats.errors.TimeoutError: the answer did not end within ``timeout``.
    :raises RuntimeError: the server refused the request (an error status).
    """
    found: dict[str, LastValue] = {}
    wanted = list(dict.fromkeys(subjects))
    for start in range(0, len(wanted), _CHUNK):
        await _read_chunk(nc, stream, wanted[start : start + _CHUNK], timeout, found)
    return found


async def _read_chunk(
    nc: Client, stream: str, subjects: list[str], timeout: float, found: dict[str, LastValue]
) -> None:
    request = {"multi_last": subjects, "batch": len(subjects)}
    messages, _ = await _direct_get(nc, stream, request, timeout)  # 404: none has a value
    for msg in messages:
        headers = msg.headers or {}
        subject = headers.get("Nats-Subject")
        sequence = headers.get("Nats-Sequence")
        if subject is None or sequence is None:
            continue
        if is_removal(headers):
            continue
        found[subject] = LastValue(msg.data, int(sequence))


async def _direct_get(
    nc: Client, stream: str, request: dict[str, object], timeout: float
) -> tuple[list[Msg], dict[str, str]]:
    """The messages a batched direct get returns, and the headers of the status message
    that ends them (``204``: the end of the batch; ``404``: nothing matched).

    :raises nats.errors.TimeoutError: the answer did not end within ``timeout``.
    :raises nats.errors.NoRespondersError: no server answers for the stream.
    :raises RuntimeError: the server refused the request (another status).
    """
    answer = await replies_of(nc).stream(
        f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), timeout
    )
    *messages, last = answer
    status = dict(last.headers or {})
    code = status.get("Status")
    if code == "503":
        raise nats.errors.NoRespondersError
    if code not in ("204", "404"):
        raise RuntimeError(
            f"direct get on {stream} refused: {code} {status.get('Description', '')}"
        )
    return messages, status


async def enable_direct_reads(js: JetStreamContext, stream: str, version: tuple[int, int]) -> bool:
    """Allow direct gets on ``stream`` when it has one replica (see the module's note on
    replicas) on a 2.11+ server; whether batched reads may be used on it."""
    if version < MULTI_GET_MIN_SERVER:
        return False
    try:
        info = await js.stream_info(stream)
        if (info.config.num_replicas or 1) != 1:
            return False
        if not info.config.allow_direct:
            info = await js.update_stream(info.config.evolve(allow_direct=True))
    except Exception as exc:  # reads then go key by key
        logger.info("stream %s does not take batched reads: %s", stream, exc)
        return False
    return bool(info.config.allow_direct)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message of a stream, as a batched direct get returns it."""

    subject: str
    value: bytes
    sequence: int
    headers: dict[str, str]


#: Messages asked for per request when reading every message on a subject filter.
_MATCHING_BATCH = 1000


async def read_matching(
    nc: Client, stream: str, subject_filter: str, timeout: float
) -> list[StoredMessage]:
    """Every message of ``stream`` on ``subject_filter`` (wildcards allowed), in stream
    order, a thousand per request: what an ordered consumer would deliver, without
    creating one (a consumer costs the server far more than a request).

    :raises nats.errors.TimeoutError: an answer did not end within ``timeout``.
    :raises RuntimeError: the server refused the request (an error status).
    """
    found: list[StoredMessage] = []
    start = 1
    while True:
        pending = await _read_matching_batch(nc, stream, subject_filter, start, timeout, found)
        if not pending or not found:
            return found
        start = found[-1].sequence + 1


async def _read_matching_batch(
    nc: Client,
    stream: str,
    subject_filter: str,
    start: int,
    timeout: float,
    found: list[StoredMessage],
) -> int:
    """Append one batch to ``found``; how many matching messages are left after it."""
    request = {"seq": start, "next_by_subj": subject_filter, "batch": _MATCHING_BATCH}
    messages, status = await _direct_get(nc, stream, request, timeout)
    for msg in messages:
        headers = dict(msg.headers or {})
        subject, sequence = headers.get("Nats-Subject"), headers.get("Nats-Sequence")
        if subject is not None and sequence is not None:
            found.append(StoredMessage(subject, msg.data, int(sequence), headers))
    if status.get("Status") == "404":
        return 0
    return int(status.get("Nats-Num-Pending") or 0)


async def direct_reads_allowed(js: JetStreamContext, stream: str, *, create: bool) -> bool:
    """Whether a bucket's ``stream`` may be read with batched direct gets (one replica,
    2.11+): turned on here when the store may change the buckets (``create``); a
    read-only store uses them only where the bucket allows them already."""
    server = js._nc.connected_server_version
    version = (server.major, server.minor)
    if create:
        return await enable_direct_reads(js, stream, version)
    if version < MULTI_GET_MIN_SERVER:
        return False
    try:
        config = (await js.stream_info(stream)).config
    except Exception:  # reads go key by key
        return False
    return bool(config.allow_direct) and (config.num_replicas or 1) == 1
