"""What users see of jobs: the ``Job`` snapshot and the ``JobEvent`` a handler receives."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from ._models import JobStatus
from ._policy import DEFAULT_OPTIONS, JobOptions
from .abc import Schedule

__all__ = ["Job", "JobEvent"]


def _copy_metadata(value: Any) -> dict[str, str]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class Job:
    """An immutable snapshot of one job, taken when it was asked for.

    It does not follow later changes; ask the scheduler again for fresh state.
    """

    id: str
    schedule: Schedule
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_copy_metadata, hash=False)
    status: JobStatus = JobStatus.PENDING
    next_run: datetime | None = None
    last_run: datetime | None = None
    created_at: datetime
    is_running: bool = False
    #: How the scheduler treats this job's runs (timeouts, retries, overlap, ...).
    options: JobOptions = DEFAULT_OPTIONS
    #: Why this process does not run the job (its schedule type has no installed codec,
    #: its task is not registered here), or None.
    quarantined: str | None = None
    #: The name of the task the job runs, or None for the scheduler's handler.
    task: str | None = None


@attrs.frozen(kw_only=True)
class JobEvent:
    """Everything a handler needs to know about the run it is asked to do."""

    id: str
    metadata: dict[str, str] = attrs.field(converter=_copy_metadata, hash=False)
    schedule: Schedule
    scheduled_at: datetime
    started_at: datetime
    last_completed_at: datetime | None
    execution_id: str
    job: Job
    #: 1 for the first try of a run, 2 for the first retry, and so on.
    attempt: int = 1
    #: The random delay added before this run started (``jitter`` option).
    jitter: timedelta = timedelta(0)
    #: True for a run started with ``run_job_now`` rather than by the schedule.
    manual: bool = False
    #: True for a run of a past tick asked for with ``backfill`` (``manual`` too).
    backfill: bool = False

    @property
    def name(self) -> str:
        """The job's name, which is its id (kept for the reference's API)."""
        return self.id

    @property
    def delay(self) -> timedelta:
        """How late the handler started: ``started_at - scheduled_at``."""
        return self.started_at - self.scheduled_at
