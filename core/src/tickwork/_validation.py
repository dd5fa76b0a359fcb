"""Argument checks shared by the scheduler and every store, so they agree on bad input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._entry import NO_METADATA
from ._errors import EmptyJobIDError, InvalidJobDataError
from ._models import ExecutionRecord, JobData
from ._policy import OPTIONS_KEY
from ._task_ref import TASK_KEYS

__all__ = [
    "check_execution",
    "check_job",
    "check_job_id",
    "check_metadata",
    "check_owner",
]


def check_job_id(job_id: Any) -> str:
    """Return ``job_id`` when it is a non-empty str; raise EmptyJobIDError otherwise."""
    if not isinstance(job_id, str) or not job_id:
        raise EmptyJobIDError(job_id)
    return job_id


def check_owner(owner: Any) -> str:
    """Return ``owner`` (a scheduler's worker id) when it is a non-empty str."""
    if not isinstance(owner, str) or not owner:
        raise InvalidJobDataError(
            f"a scheduler's owner name must be a non-empty str, got {owner!r}"
        )
    return owner


def check_job(job: Any) -> JobData:
    """Reject what is not a storable JobData before it reaches a backend, and the
    stand-in for a stored row that could not be read (it is never written back)."""
    if not isinstance(job, JobData):
        raise InvalidJobDataError(f"expected a JobData, got {type(job).__name__}")
    check_job_id(job.id)
    if job.unreadable is not None:
        raise InvalidJobDataError(
            f"job {job.id!r} stands for a stored row that could not be read "
            f"({job.unreadable}); it is never written back. Fix the row, or remove the "
            "job and add it again"
        )
    if not isinstance(job.schedule_type, str) or not job.schedule_type:
        raise InvalidJobDataError(f"job {job.id!r} has no schedule_type")
    if not isinstance(job.schedule_config, str):
        raise InvalidJobDataError(f"job {job.id!r}: schedule_config must be a str")
    return job


def check_execution(record: Any) -> ExecutionRecord:
    """Reject what is not a storable ExecutionRecord before it reaches a backend."""
    if not isinstance(record, ExecutionRecord):
        raise InvalidJobDataError(f"expected an ExecutionRecord, got {type(record).__name__}")
    check_job_id(record.job_id)
    if not isinstance(record.execution_id, str) or not record.execution_id:
        raise InvalidJobDataError(
            f"execution record of job {record.job_id!r} has an empty execution_id"
        )
    return record


def check_metadata(metadata: Mapping[str, str] | None) -> Mapping[str, str]:
    """A new job's metadata, checked: a copy of its own, or the one shared read-only
    empty mapping when there is none (most jobs; a million empty dicts are 64 MB)."""
    if not metadata:
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidJobDataError(f"metadata must be a mapping of str to str, got {metadata!r}")
        return NO_METADATA
    if not isinstance(metadata, Mapping):
        raise InvalidJobDataError(f"metadata must be a mapping of str to str, got {metadata!r}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidJobDataError(f"metadata must map str to str; got {key!r}: {value!r}")
        if key == OPTIONS_KEY:
            raise InvalidJobDataError(
                f"metadata key {OPTIONS_KEY!r} is reserved for run policies; "
                "pass options=JobOptions(...) instead"
            )
        if key in TASK_KEYS:
            raise InvalidJobDataError(
                f"metadata key {key!r} is reserved for the job's task; "
                "pass task=, args= and kwargs= instead"
            )
    return dict(metadata)
