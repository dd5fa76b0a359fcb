"""What the NATS KV store checks before any I/O, and how it names keys for ids.

Every write is checked whole before a byte goes to the server, so a bad job, record or
finish is refused with ``InvalidJobDataError`` (naming it) and nothing of the call is
written. An id too long for a key is invalid data when written, and "not stored" when
looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from tickwork import (
    EmptyJobIDError,
    ExecutionRecord,
    FinishOutcome,
    InvalidJobDataError,
    JobData,
    JobIDTooLongError,
    RunFinish,
)

from . import _keys as keys

__all__ = [
    "apply_in_order",
    "check_bucket_name",
    "check_execution",
    "check_job",
    "check_job_id",
    "decode_or_none",
    "existing_key",
    "id_too_long",
    "key_for_write",
    "new_job_key",
    "seconds_or_none",
]


def key_for_write(build: Callable[..., str], *ids: str) -> str:
    """The key for data about to be written; a too-long id is invalid data."""
    try:
        return build(*ids)
    except keys.IdTooLongError as exc:
        raise InvalidJobDataError(str(exc)) from exc


def new_job_key(job_id: str) -> str:
    """The key of a job about to be saved; a too-long id is refused naming the limit."""
    too_long = id_too_long(job_id)
    if too_long is not None:
        raise JobIDTooLongError(job_id, too_long)
    return keys.job_key(job_id)


def existing_key(build: Callable[..., str], *ids: str) -> str | None:
    """The key of data to look up; None when the id is too long to have been stored."""
    try:
        return build(*ids)
    except keys.IdTooLongError:
        return None


def decode_or_none(token: str) -> str | None:
    try:
        return keys.decode_id(token)
    except ValueError:
        return None


def check_bucket_name(label: str, name: Any) -> None:
    if (
        not isinstance(name, str)
        or not name
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    ):
        raise ValueError(f"{label} must be a KV bucket name ([A-Za-z0-9_-]+), got {name!r}")


def seconds_or_none(label: str, value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError(f"{label} must be positive, got {value!r}")
    return seconds


def check_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not job_id:
        raise EmptyJobIDError(job_id)
    return job_id


def id_too_long(job_id: str) -> str | None:
    """Why ``job_id`` makes a key longer than JetStream takes, or None when it fits."""
    try:
        keys.encode_id(job_id)
    except keys.IdTooLongError as exc:
        return (
            f"the NATS store holds keys of at most {keys.MAX_TOKEN_LENGTH} characters and "
            f"this id's would have {exc.length} (A-Z a-z 0-9 - _ count 1, any other "
            "character 3 per UTF-8 byte)"
        )
    return None


def check_job(job: Any) -> JobData:
    if not isinstance(job, JobData):
        raise InvalidJobDataError(f"expected a JobData, got {type(job).__name__}")
    check_job_id(job.id)
    if job.unreadable is not None:
        raise InvalidJobDataError(
            f"job {job.id!r} stands for a stored document that could not be read "
            f"({job.unreadable}); it is never written back. Fix the document, or remove "
            "the job and add it again"
        )
    if not isinstance(job.schedule_type, str) or not job.schedule_type:
        raise InvalidJobDataError(f"job {job.id!r} has no schedule_type")
    if not isinstance(job.schedule_config, str):
        raise InvalidJobDataError(f"job {job.id!r}: schedule_config must be a str")
    return job


def check_execution(record: Any) -> ExecutionRecord:
    if not isinstance(record, ExecutionRecord):
        raise InvalidJobDataError(f"expected an ExecutionRecord, got {type(record).__name__}")
    check_job_id(record.job_id)
    if not isinstance(record.execution_id, str) or not record.execution_id:
        raise InvalidJobDataError(
            f"execution record of job {record.job_id!r} has an empty execution_id"
        )
    return record


def apply_in_order(
    stored: datetime | None, finishes: Sequence[RunFinish]
) -> tuple[list[FinishOutcome], JobData | None]:
    """The outcome of each of one job's finishes, applied in order over the stored
    version (None: not needed, every write is unconditional), and the job's last
    written state (None: nothing to write)."""
    outcomes: list[FinishOutcome] = []
    last: JobData | None = None
    for finish in finishes:
        assert finish.job is not None
        if finish.seen is not None and finish.seen != stored:
            outcomes.append(FinishOutcome.CHANGED)
        else:
            outcomes.append(FinishOutcome.STORED)
            stored, last = finish.job.updated_at, finish.job
    return outcomes, last
