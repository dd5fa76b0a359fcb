"""Where each job's messages live: subject names, and how a job id becomes a token.

A NATS subject is a list of ``.``-separated tokens; ``*`` and ``>`` are wildcards and
whitespace is not allowed. Job ids are arbitrary non-empty strings, so each id is
escaped into exactly one token over the alphabet ``[A-Za-z0-9_=-]``:

- ``A-Z a-z 0-9 - _`` stand for themselves (plain ids stay readable in ``nats stream
  view``);
- every other character is written as its UTF-8 bytes, each as ``=`` and two
  upper-case hex digits (``.`` is ``=2E``, a space ``=20``, ``*`` ``=2A``).

The token is never empty and holds no ``.``, ``*``, ``>`` or whitespace, so a subject
built from one id never matches another id's subject, whatever the ids look like. The
escaping is injective (``=`` itself is escaped), and :func:`decode_token` accepts only
the canonical form. The same tokens are valid JetStream KV keys.

Very long ids would make subjects longer than a NATS protocol line allows, so a token
longer than :data:`MAX_TOKEN_LENGTH` is replaced by ``=H`` and the SHA-256 of the id.
``=H`` is never the start of an escaped token (``H`` is not a hex digit), so hashed and
escaped tokens cannot collide. A hashed token cannot be decoded, which costs nothing:
the id itself travels in every message body.

Subjects under the prefix (default ``scheduler``)::

    <prefix>.schedule.<token>   the armed schedule of a job (one message at most)
    <prefix>.due.<token>        the due runs the server produces from it
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from tickwork_nats_store import SAFE_CHARS, decode_id, encode_id

__all__ = [
    "MAX_TOKEN_LENGTH",
    "SAFE_CHARS",
    "Subjects",
    "decode_token",
    "encode_token",
    "format_time",
    "message_id",
    "validate_name",
]

MAX_TOKEN_LENGTH = 512
"""The longest escaped token used as is; longer ones are hashed."""

_HASHED = "=H"


def encode_token(job_id: str) -> str:
    """Return ``job_id`` as one subject token (see the module docs).

    The escaping is the NATS store's (:func:`tickwork_nats_store.encode_id`), so a job's
    subject token and its KV key are the same text; only the hashing of very long ids
    is the trigger's own.

    :raises ValueError: ``job_id`` is empty or not a str.
    """
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f"cannot encode {job_id!r}: job ids are non-empty strings")
    try:
        token: str | None = encode_id(job_id)
    except ValueError:  # longer than a KV key may be: hashed below
        token = None
    if token is None or len(token) > MAX_TOKEN_LENGTH:
        digest = hashlib.sha256(job_id.encode("utf-8", "surrogatepass")).hexdigest()
        return _HASHED + digest
    return token


def decode_token(token: str) -> str | None:
    """Return the id :func:`encode_token` turned into ``token``; None for a hashed one.

    :raises ValueError: ``token`` is not the canonical encoding of any id.
    """
    if not token:
        raise ValueError("an encoded job id is never empty")
    if token.startswith(_HASHED):
        digest = token[len(_HASHED) :]
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"malformed hashed token {token!r}")
        return None
    value = decode_id(token)
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(f"token {token!r} is not in canonical form (it would be hashed)")
    return value


def format_time(moment: datetime) -> str:
    """``moment`` as RFC 3339 in UTC with microseconds: ``2025-10-02T15:04:05.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_id(job_id: str, run_at: datetime) -> str:
    """The ``Nats-Msg-Id`` of the schedule that makes ``job_id`` due at ``run_at``.

    Deterministic, so every worker that arms the same run publishes the same id and
    the stream keeps one schedule (within its duplicates window). Bounded in length
    whatever the id.
    """
    digest = hashlib.blake2b(job_id.encode("utf-8", "surrogatepass"), digest_size=16)
    return f"tw.{digest.hexdigest()}.{format_time(run_at)}"


def validate_name(kind: str, value: str, *, dotted: bool = False) -> str:
    """Check a stream, consumer or bucket name (``dotted``: a subject prefix).

    :raises ValueError: empty, or holds characters NATS does not allow there.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")
    tokens = value.split(".") if dotted else [value]
    for token in tokens:
        if not token or any(ch not in SAFE_CHARS for ch in token):
            allowed = "letters, digits, '-' and '_'" + (
                " in '.'-separated tokens" if dotted else ""
            )
            raise ValueError(f"{kind} {value!r} may only contain {allowed}")
    return value


@dataclass(frozen=True, slots=True)
class Subjects:
    """The subjects of one scheduler deployment, below ``prefix``."""

    prefix: str = "scheduler"

    def __post_init__(self) -> None:
        validate_name("subject_prefix", self.prefix, dotted=True)

    @property
    def schedule_filter(self) -> str:
        """Matches every job's schedule subject."""
        return f"{self.prefix}.schedule.*"

    @property
    def due_filter(self) -> str:
        """Matches every job's due subject (what the consumer reads)."""
        return f"{self.prefix}.due.*"

    @property
    def stream_subjects(self) -> list[str]:
        """The subjects the stream captures."""
        return [self.schedule_filter, self.due_filter]

    def schedule(self, job_id: str) -> str:
        """The subject holding ``job_id``'s armed schedule."""
        return f"{self.prefix}.schedule.{encode_token(job_id)}"

    def due(self, job_id: str) -> str:
        """The subject ``job_id``'s due runs are produced on."""
        return f"{self.prefix}.due.{encode_token(job_id)}"
