"""The revisions of jobs this process read or wrote last, so a write need not read first.

Every job write is a compare-and-set on the key's revision, and so used to begin with a
read. A run's finish writes a job the scheduler read a moment before (at the run's
start): its revision and ``updated_at`` are remembered here, and the write goes out on
condition of that revision straight away. If anybody wrote the job since, the
condition fails and the writer reads again, so a remembered revision can only cost a
retry, never a lost write.

Only the most recent entries are kept: a finish follows its read within one run.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["KnownRevisions"]

#: Jobs remembered at most; older entries are forgotten first.
MAX_ENTRIES = 10_000


class KnownRevisions:
    """``job id -> (revision, updated_at)`` of the version last seen, newest last."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._entries: dict[str, tuple[int, datetime]] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, job_id: str) -> tuple[int, datetime] | None:
        return self._entries.get(job_id)

    def note(self, job_id: str, revision: int, updated_at: datetime) -> None:
        """Remember that ``job_id`` is at ``revision`` with that ``updated_at``."""
        entries = self._entries
        entries.pop(job_id, None)
        entries[job_id] = (revision, updated_at)
        if len(entries) > self._limit:
            del entries[next(iter(entries))]

    def forget(self, job_id: str) -> None:
        self._entries.pop(job_id, None)
