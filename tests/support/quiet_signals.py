"""A memory store that says it signals changes but never hears one, and job rows to
put in it: what the change follower's unit tests build on, so that each test drives
the follower's reads itself (by waking it, or through its fallback interval)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from datetime import timedelta

from tickwork import IntervalSchedule, JobData, MemoryStore, default_codec
from tickwork.abc import ChangedJobs

KIND, HOURLY = default_codec().encode(IntervalSchedule(timedelta(hours=1)))
_, DAILY = default_codec().encode(IntervalSchedule(timedelta(days=1)))


def job(job_id: str = "j", config: str = HOURLY, **fields: object) -> JobData:
    """A stored job on an hourly (or ``config``) interval."""
    values: dict[str, object] = {"schedule_type": KIND, "schedule_config": config, **fields}
    return JobData(id=job_id, **values)  # type: ignore[arg-type]


class QuietSignalStore(MemoryStore):
    """A shared MemoryStore with the change-signal capability: its signals go nowhere
    and its listener waits forever."""

    signals_changes = True

    def __init__(self) -> None:
        super().__init__(shared=True)

    async def signal_changes(self, job_ids: Collection[str] | None = None) -> None:
        return None

    @contextlib.asynccontextmanager
    async def listen_for_changes(self) -> AsyncIterator[AsyncIterator[ChangedJobs]]:
        yield self._never()

    async def _never(self) -> AsyncIterator[ChangedJobs]:
        await asyncio.Event().wait()
        yield None
