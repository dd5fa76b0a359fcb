"""A read-only look at a scheduler's jobs, for an instrument's gauges.

A metrics exporter asks for its gauges from its own thread (Prometheus' HTTP server,
a periodic reader), whenever it likes; the scheduler's job table lives on the event
loop and changes under it. The view only counts, never hands out entries, and takes
a copy of the table's values before counting, retrying the rare copy that a change
on the loop interrupted, so a gauge never sees a half-made job nor raises.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sized
from typing import Protocol

from ._models import JobStatus

__all__ = ["JobsView"]

_COPY_TRIES = 5


class _Counted(Protocol):
    """What the view reads of a job table entry (a ``JobEntry``): said here, so that
    the view, which the instrument contract names, does not depend on the entry."""

    @property
    def status(self) -> JobStatus: ...

    @property
    def running(self) -> Sized: ...


class JobsView:
    """The scheduler's jobs, counted; safe to call from any thread."""

    def __init__(self, worker_id: str, entries: Callable[[], Iterable[_Counted]]) -> None:
        self._worker_id = worker_id
        self._entries = entries

    def __repr__(self) -> str:
        return f"JobsView(worker_id={self._worker_id!r})"

    @property
    def worker_id(self) -> str:
        """The scheduler's worker id (as in its execution records)."""
        return self._worker_id

    def count_by_status(self) -> dict[str, int]:
        """How many jobs are in each status (``scheduled``, ``paused``, ...); statuses
        no job has are left out. Empty when the table kept changing while copied."""
        for _ in range(_COPY_TRIES):
            try:
                statuses = [entry.status for entry in list(self._entries())]
            except RuntimeError:  # changed size while being copied (another thread)
                continue
            return dict(Counter(str(status.value) for status in statuses))
        return {}

    def running_count(self) -> int:
        """How many runs are under way in this scheduler right now."""
        for _ in range(_COPY_TRIES):
            try:
                return sum(len(entry.running) for entry in list(self._entries()))
            except RuntimeError:
                continue
        return 0
