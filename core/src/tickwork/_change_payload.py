"""The body of a "jobs changed" message, shared by the stores that send one.

A signal names the jobs that changed so that a listener reads just those instead of
the whole job list, which is what keeps a change quick to arrive at thousands of jobs.
Naming them is an optimisation, never a duty: a message without ids, with too many,
or one that does not parse stands for "something changed, read everything", which is
always correct because the reader then reads the whole list. So a message is never
cut to fit: past :data:`MOST_IDS` ids or the transport's size limit it says
"everything" instead.

The body is JSON, ``{"sender": "<tag>", "jobs": ["id", ...]}`` (``"jobs": null`` for
"everything"), so an id is data in a string and never part of a subject or SQL text.
The sender tag lets a listener leave out its own store object's signals.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable

import attrs

__all__ = ["MOST_IDS", "ChangePayload"]

logger = logging.getLogger("tickwork.coordination")

#: The most ids one signal names; more are sent as "everything" (reading a thousand
#: jobs one by one costs about as much as one read of the whole list).
MOST_IDS = 1000

_unreadable_logged = False


@attrs.frozen
class ChangePayload:
    """Who sent a signal and which jobs it says changed (None: read everything)."""

    sender: str
    job_ids: frozenset[str] | None

    @classmethod
    def of(cls, sender: str, job_ids: Collection[str] | None) -> ChangePayload:
        """The payload for ``job_ids``; "everything" when there are none to name or
        more than :data:`MOST_IDS`."""
        if job_ids is None or not job_ids or len(job_ids) > MOST_IDS:
            return cls(sender, None)
        return cls(sender, frozenset(job_ids))

    @staticmethod
    def together(heard: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
        """What a burst of signals named together, for a listener that yields them as
        one item: None ("everything") if any of them said so, or past
        :data:`MOST_IDS` ids."""
        union: set[str] = set()
        for job_ids in heard:
            if job_ids is None:
                return None
            union |= job_ids
            if len(union) > MOST_IDS:
                return None
        return frozenset(union)

    def encode(self, limit: int) -> bytes:
        """The message body, at most ``limit`` bytes: "everything" when the ids do
        not fit."""
        jobs = None if self.job_ids is None else sorted(self.job_ids)
        body = json.dumps({"sender": self.sender, "jobs": jobs}, separators=(",", ":"))
        encoded = body.encode()
        if len(encoded) <= limit or jobs is None:
            return encoded
        return ChangePayload(self.sender, None).encode(limit)

    @classmethod
    def decode(cls, body: bytes | str) -> ChangePayload:
        """Read a message body; one that cannot be read (an old sender's bare tag, a
        foreign message) names no sender and stands for "everything", never an
        error (logged once at DEBUG)."""
        try:
            found = json.loads(body)
            sender, jobs = found["sender"], found["jobs"]
            if not isinstance(sender, str):
                raise TypeError("sender")
            if jobs is None:
                return cls(sender, None)
            if not isinstance(jobs, list) or not all(isinstance(i, str) for i in jobs):
                raise TypeError("jobs")
            return cls.of(sender, jobs)
        except (ValueError, TypeError, KeyError) as exc:
            _log_unreadable(exc)
            raw = body.decode(errors="replace") if isinstance(body, bytes) else body
            return cls(raw, None)


def _log_unreadable(exc: Exception) -> None:
    global _unreadable_logged
    if not _unreadable_logged:
        _unreadable_logged = True
        logger.debug(
            "a job change signal could not be read (%s: %s); reading every job instead",
            type(exc).__name__,
            exc,
        )
