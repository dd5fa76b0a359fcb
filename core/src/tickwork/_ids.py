"""Execution ids: unique per run, cheap to make."""

from __future__ import annotations

import random
import uuid
from datetime import datetime

__all__ = ["new_execution_id", "note_id"]

_UUID4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_BITS = (0x4 << 76) | (0x2 << 62)


def new_execution_id() -> str:
    """A random version-4 UUID as 32 hex digits, like ``uuid.uuid4().hex``.

    Made from :func:`random.getrandbits` rather than ``os.urandom``: an execution id
    must be unique, not unguessable, and this is several times cheaper, which counts at
    thousands of runs a second. (The generator is re-seeded in forked children.)
    """
    return f"{(random.getrandbits(128) & _UUID4_MASK) | _UUID4_BITS:032x}"


_NOTE_IDS = uuid.UUID("6f1c2a52-3d0e-4a7b-9b8e-5d4c3b2a1f00")


def note_id(job_id: str, tick: datetime, kind: str) -> str:
    """The same execution id for the same note about the same tick, from any process:
    a note several workers (or one restarted) make about one tick is then one record,
    since saving a record under an id that exists replaces it."""
    return uuid.uuid5(_NOTE_IDS, f"{kind}\0{job_id}\0{tick.isoformat()}").hex
