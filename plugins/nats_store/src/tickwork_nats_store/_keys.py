"""How job and execution ids become JetStream KV keys, reversibly.

A KV key is a NATS subject below the bucket's prefix: only ``[-/_=.a-zA-Z0-9]`` is
allowed, ``.`` separates tokens, and ``*``/``>`` are wildcards in filters. Ids are
arbitrary non-empty strings, so each id is escaped into a single *token*:

- ``A-Z a-z 0-9 - _`` stand for themselves (ids that are already plain stay readable
  in ``nats kv ls``);
- every other character is written as its UTF-8 bytes, each as ``=`` followed by two
  upper-case hex digits (``.`` becomes ``=2E``, a space ``=20``, ``é`` ``=C3=A9``).

An encoded id is never empty and contains no ``.``, ``*``, ``>`` or ``/``, so it is
exactly one subject token: a filter built from one id (``rec.<token>.*``) can never
match another id's keys, whatever the ids look like. The encoding is injective (``=``
itself is escaped) and :func:`decode_id` accepts only the canonical form, so
``encode_id(decode_id(t)) == t`` for every token it accepts.

Key layout (documented in ``docs/stores/nats.md``):

=====================  ===============================  ===============================
bucket                 key                              value
=====================  ===============================  ===============================
jobs (SCHEDULER_JOBS)  ``<job>``                        a job document (JSON)
executions             ``rec.<job>.<execution>``        an execution document (JSON)
executions             ``idx.<execution>``              ``{"v": 1, "job_id": ...}``
=====================  ===============================  ===============================
"""

from __future__ import annotations

import re

__all__ = [
    "ESCAPE",
    "KEY_ALPHABET",
    "MAX_TOKEN_LENGTH",
    "SAFE_CHARS",
    "IdTooLongError",
    "all_jobs_filter",
    "all_records_filter",
    "decode_id",
    "encode_id",
    "index_key",
    "job_key",
    "job_records_filter",
    "record_key",
    "split_record_key",
]

SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
"""Characters an id keeps as they are."""

_PLAIN = re.compile(r"[A-Za-z0-9_-]+")
"""An id made of :data:`SAFE_CHARS` only."""

ESCAPE = "="
"""Introduces one escaped byte: ``=`` and two upper-case hex digits."""

KEY_ALPHABET = frozenset(SAFE_CHARS | {ESCAPE, ".", "/"})
"""What JetStream accepts in a KV key (``.`` only between tokens)."""

MAX_TOKEN_LENGTH = 1500
"""Longest encoded id. A key travels in a NATS protocol line (a subject, and for scans
inside a JetStream API subject), which the server caps at 4096 bytes by default
(``max_control_line``): two ids of this length still fit with room to spare."""

_HEX = "0123456789ABCDEF"


class IdTooLongError(ValueError):
    """An id whose encoded form exceeds :data:`MAX_TOKEN_LENGTH`."""

    def __init__(self, value: str, length: int) -> None:
        self.value = value
        self.length = length
        shown = value if len(value) <= 40 else value[:37] + "..."
        super().__init__(
            f"id {shown!r} is too long for the NATS store: its key token would be {length} "
            f"characters, the limit is {MAX_TOKEN_LENGTH} (A-Z a-z 0-9 - _ count 1, any "
            "other character 3 per UTF-8 byte)"
        )


RECORD_PREFIX = "rec"
INDEX_PREFIX = "idx"


def encode_id(value: str) -> str:
    """Return ``value`` as one KV key token.

    :raises ValueError: ``value`` is empty or not a str.
    :raises IdTooLongError: the token would exceed :data:`MAX_TOKEN_LENGTH`.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"cannot encode {value!r}: ids are non-empty strings")
    if _PLAIN.fullmatch(value):  # the usual id: kept as it is (checked at C speed)
        token = value
    else:
        parts: list[str] = []
        for ch in value:
            if ch in SAFE_CHARS:
                parts.append(ch)
            else:
                # surrogatepass: a lone surrogate (legal in a Python str) still round-trips.
                for byte in ch.encode("utf-8", "surrogatepass"):
                    parts.append(f"{ESCAPE}{_HEX[byte >> 4]}{_HEX[byte & 15]}")
        token = "".join(parts)
    if len(token) > MAX_TOKEN_LENGTH:
        raise IdTooLongError(value, len(token))
    return token


def decode_id(token: str) -> str:
    """Return the id that :func:`encode_id` turned into ``token``.

    :raises ValueError: ``token`` is not the canonical encoding of any id.
    """
    if not token:
        raise ValueError("an encoded id is never empty")
    out = bytearray()
    i = 0
    n = len(token)
    while i < n:
        ch = token[i]
        if ch == ESCAPE:
            pair = token[i + 1 : i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                raise ValueError(f"bad escape at offset {i} in key token {token!r}")
            out.append(int(pair, 16))
            i += 3
        elif ch in SAFE_CHARS:
            out.append(ord(ch))
            i += 1
        else:
            raise ValueError(f"character {ch!r} cannot appear in key token {token!r}")
    try:
        value = out.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise ValueError(f"key token {token!r} does not decode to UTF-8 text") from exc
    if encode_id(value) != token:
        raise ValueError(f"key token {token!r} is not in canonical form")
    return value


# -- the job bucket --------------------------------------------------------------------


def job_key(job_id: str) -> str:
    """The key of a job in the job bucket."""
    return encode_id(job_id)


def all_jobs_filter() -> str:
    """A filter matching every job key (one token; other key shapes are left alone)."""
    return "*"


# -- the execution bucket --------------------------------------------------------------


def record_key(job_id: str, execution_id: str) -> str:
    """The key of one execution record: ``rec.<job>.<execution>``."""
    return f"{RECORD_PREFIX}.{encode_id(job_id)}.{encode_id(execution_id)}"


def index_key(execution_id: str) -> str:
    """The key that maps an execution id to its job: ``idx.<execution>``."""
    return f"{INDEX_PREFIX}.{encode_id(execution_id)}"


def job_records_filter(job_id: str) -> str:
    """A filter matching the execution records of one job, and only those."""
    return f"{RECORD_PREFIX}.{encode_id(job_id)}.*"


def all_records_filter() -> str:
    """A filter matching every execution record (not the index)."""
    return f"{RECORD_PREFIX}.*.*"


def split_record_key(key: str) -> tuple[str, str]:
    """Return ``(job_id, execution_id)`` from a record key.

    :raises ValueError: ``key`` is not a record key.
    """
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != RECORD_PREFIX:
        raise ValueError(f"{key!r} is not an execution record key")
    return decode_id(parts[1]), decode_id(parts[2])
