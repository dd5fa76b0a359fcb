"""Converting tickwork records to table rows and back.

Checks happen here, before any I/O, so every database rejects the same input with the
same tickwork error instead of each driver failing in its own way. Reading is lenient
with rows the Go library wrote (zero times, empty metadata), and a job row that cannot
be understood (metadata that is not a JSON object of strings, an unknown status, a time
that is not one) is handed back on its own as :meth:`tickwork.JobData.unreadable_row`,
with a reason naming each bad field and its value: one bad row never fails a listing,
a claim batch or a scheduler's start. Such a job is never written back
(:func:`check_job` refuses it).

Jobs are read by position (:data:`JOB_FIELDS`), their times as the driver returns them
(see :func:`read_time`): a scheduler starting over 10,000 jobs reads them all, and
mapping rows to dicts and letting SQLAlchemy convert every time took most of that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import tickwork
from tickwork import ExecutionRecord, ExecutionStatus, JobData, JobStatus

from ._schema import ID_LENGTH, SCHEDULE_TYPE_LENGTH

__all__ = [
    "JOB_FIELDS",
    "check_execution",
    "check_job",
    "check_job_id",
    "check_owner",
    "execution_from_row",
    "execution_to_row",
    "id_too_long",
    "job_from_values",
    "job_to_row",
    "read_time",
    "sort_by_id",
    "unreadable_job",
    "utc",
]

#: The ``scheduler_jobs`` columns in the order :func:`job_from_values` reads them
#: (JobData's field order).
JOB_FIELDS: tuple[str, ...] = (
    "id",
    "schedule_type",
    "schedule_config",
    "status",
    "next_run",
    "last_run",
    "created_at",
    "updated_at",
    "metadata",
)


def check_job_id(job_id: Any) -> str:
    """Return ``job_id`` if it is a non-empty string, else raise EmptyJobIDError."""
    if not isinstance(job_id, str) or not job_id:
        raise tickwork.EmptyJobIDError(job_id)
    return job_id


def id_too_long(job_id: str) -> str | None:
    """Why a job id does not fit the ``id`` columns (``VARCHAR(255)``), or None."""
    if len(job_id) <= ID_LENGTH:
        return None
    return f"the SQL store holds ids of at most {ID_LENGTH} characters, it has {len(job_id)}"


def _check_length(what: str, value: str, limit: int) -> None:
    # The reference schema sizes these columns; SQLite would accept more, PostgreSQL
    # and MySQL would fail with a driver error. One rule for all of them.
    if len(value) > limit:
        raise tickwork.InvalidJobDataError(
            f"{what} is {len(value)} characters long; the SQL store's column holds at most "
            f"{limit} (value starts {value[:40]!r})"
        )


def check_owner(owner: Any) -> str:
    """A claim owner (a scheduler's worker id) must fit the claims table."""
    if not isinstance(owner, str) or not owner:
        raise tickwork.InvalidJobDataError(
            f"a claim owner must be a non-empty string, got {owner!r}"
        )
    _check_length("claim owner", owner, ID_LENGTH)
    return owner


def check_job(job: Any) -> JobData:
    """Reject what cannot become a ``scheduler_jobs`` row, and the stand-in for a row
    that could not be read (it is never written back)."""
    if not isinstance(job, JobData):
        raise tickwork.InvalidJobDataError(f"expected a JobData, got {type(job).__name__}")
    check_job_id(job.id)
    if job.unreadable is not None:
        raise tickwork.InvalidJobDataError(
            f"job {job.id!r} stands for a stored row that could not be read "
            f"({job.unreadable}); it is never written back. Fix the row with SQL, or "
            "remove the job and add it again"
        )
    too_long = id_too_long(job.id)
    if too_long is not None:
        raise tickwork.JobIDTooLongError(job.id, too_long)
    if not isinstance(job.schedule_type, str) or not job.schedule_type:
        raise tickwork.InvalidJobDataError(f"job {job.id!r} has no schedule_type")
    _check_length(f"schedule_type of job {job.id!r}", job.schedule_type, SCHEDULE_TYPE_LENGTH)
    if not isinstance(job.schedule_config, str):
        raise tickwork.InvalidJobDataError(f"job {job.id!r}: schedule_config must be a str")
    return job


def check_execution(record: Any) -> ExecutionRecord:
    """Reject what cannot become a ``scheduler_executions`` row."""
    if not isinstance(record, ExecutionRecord):
        raise tickwork.InvalidJobDataError(
            f"expected an ExecutionRecord, got {type(record).__name__}"
        )
    check_job_id(record.job_id)
    _check_length("job id", record.job_id, ID_LENGTH)
    if not isinstance(record.execution_id, str) or not record.execution_id:
        raise tickwork.InvalidJobDataError(
            f"execution record of job {record.job_id!r} has an empty execution_id"
        )
    _check_length("execution id", record.execution_id, ID_LENGTH)
    if not isinstance(record.duration, timedelta):
        raise tickwork.InvalidJobDataError(
            f"execution {record.execution_id!r}: duration must be a timedelta"
        )
    return record


# -- values ----------------------------------------------------------------------------


def _dump_metadata(metadata: Mapping[str, str]) -> str:
    # Compact and key-sorted, like Go's encoding/json, so both libraries write the same text.
    return json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _load_metadata(text: str | None, owner: str) -> dict[str, str]:
    # Most jobs have none: "{}" as tickwork writes it, "null" as Go writes a nil map.
    if text is None or text == "{}" or text == "" or text == "null":
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise tickwork.InvalidJobDataError(f"{owner}: metadata is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise tickwork.InvalidJobDataError(
            f"{owner}: metadata must be a JSON object of strings, got {text[:80]!r}"
        )
    return value


_fromisoformat = datetime.fromisoformat


def read_time(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (``None`` for NULL).

    Takes what the job columns give (see ``_schema.job_columns``): text on SQLite (as
    SQLAlchemy writes it, ``2025-01-02 03:04:05.123456``, or as Go's driver does, with
    nanoseconds and an offset) and on MySQL (its DATETIME cast to text), a datetime
    elsewhere. Text without an offset is UTC. Adding ``+00:00`` to the text makes
    ``fromisoformat`` return the UTC datetime directly: ``replace(tzinfo=UTC)`` takes
    eight times as long as the parse.

    :raises ValueError: text that is not an ISO 8601 time.
    :raises TypeError: neither text nor a datetime.
    """
    if value is None:
        return None
    parsed: datetime
    if isinstance(value, str):
        try:
            return _fromisoformat(value + "+00:00")
        except ValueError:  # it has an offset of its own, or is not a time
            parsed = _fromisoformat(value)
    elif isinstance(value, datetime):
        if value.tzinfo is UTC:
            return value
        parsed = value
    else:
        raise TypeError(f"expected a time, got {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_JOB_STATUSES: dict[Any, JobStatus] = {status.value: status for status in JobStatus}


def _execution_status(value: Any, owner: str) -> JobStatus | ExecutionStatus:
    # JobStatus where the value has one (so ``record.status is JobStatus.COMPLETED``
    # holds, as for every store), else the tick log's own outcomes ("missed", ...).
    try:
        return JobStatus(value)
    except ValueError:
        pass
    try:
        return ExecutionStatus(value)
    except ValueError:
        raise tickwork.InvalidJobDataError(f"{owner}: unknown status {value!r}") from None


def _to_nanoseconds(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1_000


def _from_nanoseconds(value: int) -> timedelta:
    return timedelta(microseconds=int(value) // 1_000)


# -- rows ------------------------------------------------------------------------------


def job_to_row(job: JobData) -> dict[str, Any]:
    """The ``scheduler_jobs`` row for ``job``."""
    return {
        "id": job.id,
        "schedule_type": job.schedule_type,
        "schedule_config": job.schedule_config,
        "status": job.status.value,
        "next_run": job.next_run,
        "last_run": job.last_run,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "metadata": _dump_metadata(job.metadata),
    }


def job_from_values(values: Sequence[Any]) -> JobData:
    """A new JobData from the values of :data:`JOB_FIELDS`, times as :func:`read_time`
    takes them; for a row that cannot be a job (unknown status, bad metadata, a time
    that is not one, NULL where a time must be), its
    :meth:`~tickwork.JobData.unreadable_row` (see :func:`unreadable_job`). Never raises
    for what the row holds.

    Every value is handed to JobData in the form its converters keep as it is (aware
    UTC datetimes, a JobStatus member, a fresh dict), so they cost little.
    """
    job_id, schedule_type, config, status, next_run, last_run, created, updated, metadata = values
    member = _JOB_STATUSES.get(status)
    if member is None:
        return unreadable_job(values)
    try:
        next_run = read_time(next_run)
        last_run = read_time(last_run)
        # Go has no null time: the reference store writes time.Time{} (year 1) for "never".
        if next_run is not None and next_run.year == 1:
            next_run = None
        if last_run is not None and last_run.year == 1:
            last_run = None
        created = read_time(created)
        updated = read_time(updated)
        if metadata is None or metadata == "{}" or metadata == "" or metadata == "null":
            loaded: dict[str, str] = {}
        else:
            loaded = _load_metadata(metadata, f"stored job {job_id!r}")
        return JobData(
            job_id,
            schedule_type,
            config or "",
            member,
            next_run,
            last_run,
            created,
            updated,
            loaded,
        )
    except (TypeError, ValueError) as exc:  # InvalidJobDataError is a ValueError
        return unreadable_job(values, str(exc))


def unreadable_job(values: Sequence[Any], hint: str | None = None) -> JobData:
    """The :meth:`~tickwork.JobData.unreadable_row` of a ``scheduler_jobs`` row (the
    values of :data:`JOB_FIELDS`) that is not a job.

    The reason names every field that cannot be read, with its value, one after the
    other (``"status: 'weird' is not a job status; next_run: '2024-13-99' is not a
    time"``); the schedule and the metadata are kept where they can be read, so that a
    listing still shows what the job was. ``hint``: the error that gave the row away,
    for the reason when no field is found at fault.
    """
    job_id, schedule_type, config, status, *times, metadata = values
    problems: list[str] = []
    if status not in _JOB_STATUSES:
        problems.append(f"status: {_shown(status)} is not a job status")
    for name, value in zip(JOB_FIELDS[4:8], times, strict=True):
        if value is None:
            if name in ("created_at", "updated_at"):
                problems.append(f"{name}: NULL, where a time is required")
            continue
        try:
            read_time(value)
        except (TypeError, ValueError):
            problems.append(f"{name}: {_shown(value)} is not a time")
    kept: dict[str, str] | None = None
    problem = _metadata_problem(metadata)
    if problem is None:
        kept = _load_metadata(metadata, f"stored job {job_id!r}")
    else:
        problems.append(f"metadata: {problem}")
    if not problems:  # a rule of JobData's own converters: its error says which
        problems.append(hint or "the row cannot be read")
    return JobData.unreadable_row(
        str(job_id),
        "; ".join(problems),
        schedule_type=schedule_type or "",
        schedule_config=config or "",
        metadata=kept,
    )


def _metadata_problem(text: Any) -> str | None:
    """What is wrong with a job's stored metadata, or None when it reads."""
    if text is None or text == "{}" or text == "" or text == "null":
        return None
    if not isinstance(text, str):
        return f"{_shown(text)} is not text"
    try:
        value = json.loads(text)
    except ValueError:
        return f"{_shown(text)} is not a JSON object"
    if not isinstance(value, dict):
        return f"{_shown(text)} is not a JSON object"
    for key, item in value.items():
        if not isinstance(item, str):
            return f"value of {_shown(key)} is {_shown(item)}, not a string"
    return None


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_by_id = attrgetter("id")


def sort_by_id(jobs: list[JobData]) -> list[JobData]:
    """``jobs``, sorted by id in place.

    Sorted here rather than by ORDER BY: the database's collation (locale-aware on many
    PostgreSQL installs) would disagree with Python's code-point order.
    """
    jobs.sort(key=_by_id)
    return jobs


def execution_to_row(record: ExecutionRecord) -> dict[str, Any]:
    """The ``scheduler_executions`` row for ``record``."""
    return {
        "execution_id": record.execution_id,
        "job_id": record.job_id,
        "start_time": record.start_time,
        "end_time": record.end_time,
        "duration": _to_nanoseconds(record.duration),
        "status": record.status.value,
        "error": record.error,
        "metadata": _dump_metadata(record.metadata),
    }


def execution_from_row(row: Mapping[str, Any]) -> ExecutionRecord:
    """A new ExecutionRecord from a ``scheduler_executions`` row."""
    owner = f"stored execution {row['execution_id']!r}"
    try:
        return ExecutionRecord(
            job_id=row["job_id"],
            execution_id=row["execution_id"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            duration=_from_nanoseconds(row["duration"] or 0),
            status=_execution_status(row["status"], owner),
            error=row["error"],
            metadata=_load_metadata(row["metadata"], owner),
        )
    except TypeError as exc:
        raise tickwork.InvalidJobDataError(f"{owner}: {exc}") from exc


def utc(value: Any) -> datetime:
    """``value`` as aware UTC; a time given by a caller, checked before any statement."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    return value.astimezone(UTC)
