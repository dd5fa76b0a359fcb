"""Job rows written straight into a store, as another process (or the Go library)
would write them, for tests that start a scheduler on existing data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from tickwork import JobData, JobStatus
from tickwork.abc import Store

#: A fixed time for rows built without a clock.
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def job_row(job_id: str, **metadata: str) -> JobData:
    """A five-minute interval job created at :data:`T0` with ``metadata`` (not saved)."""
    return JobData(
        id=job_id,
        schedule_type="interval",
        schedule_config="5m0s",
        created_at=T0,
        updated_at=T0,
        metadata=metadata,
    )


async def save_row(
    store: Store,
    job_id: str,
    *,
    schedule_type: str = "interval",
    schedule_config: str = "50ms",
    **fields: Any,
) -> JobData:
    """Save a ``pending`` job row due now (``fields`` override any column); the row."""
    now = datetime.now(UTC)
    data = JobData(
        id=job_id,
        schedule_type=schedule_type,
        schedule_config=schedule_config,
        status=JobStatus.PENDING,
        next_run=now,
        created_at=now,
        updated_at=now,
    )
    data = attrs.evolve(data, **fields)
    await store.initialize()
    await store.save_job(data)
    return data
