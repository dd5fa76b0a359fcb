"""What a browsing query asks for and what a page holds, and the reference answer.

The value objects check themselves at construction (a bad sort key or a negative
limit raises :class:`~tickwork.InvalidQueryError` before any store sees it), so a
store can put their fields in a query without re-checking. ``apply_job_query`` and
``apply_execution_query`` are the meaning of a query written as pure functions over
full lists: the memory store and the fallback for other stores use them, and the
contract suite compares every store's pages with them.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

import attrs

from ._errors import InvalidQueryError
from ._models import (
    SORT_FIELDS,
    ExecutionRecord,
    ExecutionStatus,
    JobData,
    JobStatus,
    SortField,
    _check_bool,
    _check_offset,
    to_execution_status,
)
from ._task_ref import TASK_KEY

__all__ = [
    "JOB_SORT_FIELDS",
    "MAX_PAGE",
    "TASK_METADATA_KEY",
    "ExecutionPage",
    "ExecutionQuery",
    "JobPage",
    "JobQuery",
    "JobSortField",
    "apply_execution_query",
    "apply_job_query",
    "check_count_window",
    "check_per_job",
    "count_by_status",
    "fold_case",
    "job_matches",
    "latest_by_job",
    "record_matches",
]

#: The most rows one page may hold: a page is for a screen or an API response.
MAX_PAGE = 1000
#: The metadata key that names a job's task.
TASK_METADATA_KEY = TASK_KEY

JobSortField = Literal["id", "status", "next_run", "last_run", "created_at", "updated_at"]
JOB_SORT_FIELDS: frozenset[str] = frozenset(
    {"id", "status", "next_run", "last_run", "created_at", "updated_at"}
)


def _check_page_limit(_inst: Any, _attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQueryError("limit", value, "must be an int")
    if not 0 <= value <= MAX_PAGE:
        raise InvalidQueryError("limit", value, f"must be between 0 and {MAX_PAGE}")


def _check_text(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidQueryError(attr.name, value, "must be a str or None")


def _check_job_id(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidQueryError(attr.name, value, "must be a non-empty str or None")


def _check_job_sort(_inst: Any, _attr: Any, value: Any) -> None:
    if value not in JOB_SORT_FIELDS:
        raise InvalidQueryError(
            "sort_by", value, f"must be one of {', '.join(sorted(JOB_SORT_FIELDS))}"
        )


def _check_record_sort(_inst: Any, _attr: Any, value: Any) -> None:
    if value not in SORT_FIELDS:
        raise InvalidQueryError(
            "sort_by", value, f"must be one of {', '.join(sorted(SORT_FIELDS))}"
        )


def _to_job_status(value: Any) -> JobStatus | None:
    if value is None:
        return None
    try:
        return JobStatus(value.value if isinstance(value, JobStatus) else value)
    except ValueError:
        raise InvalidQueryError("status", value, "not a JobStatus") from None


def _to_record_status(value: Any) -> JobStatus | ExecutionStatus | None:
    if value is None:
        return None
    try:
        return to_execution_status(value)
    except ValueError:
        raise InvalidQueryError("status", value, "not a JobStatus or ExecutionStatus") from None


def _to_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidQueryError("start_time/end_time", value, "must be an aware datetime")
    return value


@attrs.frozen(kw_only=True)
class JobQuery:
    """Which jobs, in which order, which page.

    ``search`` matches a substring of the job id, ignoring the case of ASCII letters
    only (see :func:`fold_case`); ``task`` the exact name in the job's
    ``tickwork.task`` metadata. Jobs sort by ``sort_by`` then by id,
    both in the sort's direction; a job with no ``next_run`` / ``last_run`` sorts
    after every job that has one in ascending order (before them, descending).
    """

    search: str | None = attrs.field(default=None, validator=_check_text)
    status: JobStatus | None = attrs.field(default=None, converter=_to_job_status)
    task: str | None = attrs.field(default=None, validator=_check_text)
    sort_by: JobSortField = attrs.field(default="id", validator=_check_job_sort)
    sort_desc: bool = attrs.field(default=False, validator=_check_bool)
    limit: int = attrs.field(default=50, validator=_check_page_limit)
    offset: int = attrs.field(default=0, validator=_check_offset)


@attrs.frozen(kw_only=True)
class ExecutionQuery:
    """Which execution records, in which order, which page.

    ``job_id`` None means every job's records. ``start_time``/``end_time`` select
    records with ``start_time`` in ``[start_time, end_time)``. Records sort by
    ``sort_by`` then by execution id, both in the sort's direction (the default:
    newest first).
    """

    job_id: str | None = attrs.field(default=None, validator=_check_job_id)
    status: JobStatus | ExecutionStatus | None = attrs.field(
        default=None, converter=_to_record_status
    )
    start_time: datetime | None = attrs.field(default=None, converter=_to_time)
    end_time: datetime | None = attrs.field(default=None, converter=_to_time)
    sort_by: SortField = attrs.field(default="start_time", validator=_check_record_sort)
    sort_desc: bool = attrs.field(default=True, validator=_check_bool)
    limit: int = attrs.field(default=50, validator=_check_page_limit)
    offset: int = attrs.field(default=0, validator=_check_offset)


@attrs.frozen
class JobPage:
    """One page of jobs and how many matched before paging."""

    jobs: tuple[JobData, ...]
    total: int


@attrs.frozen
class ExecutionPage:
    """One page of execution records and how many matched before paging."""

    records: tuple[ExecutionRecord, ...]
    total: int


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold_case(text: str) -> str:
    """``text`` with the ASCII letters A-Z lowered and every other character kept.

    Searches ignore case this way, and only this way, because it is the one folding
    every database does alike: SQLite's ``lower()`` folds ASCII only, while
    PostgreSQL's and MariaDB's full Unicode folding differ from each other and from
    Python's (``ß``, ``İ``), so a wider rule would give each store other answers.
    """
    return text.translate(_ASCII_LOWER)


def job_matches(job: JobData, query: JobQuery) -> bool:
    """Whether ``job`` passes the filters of ``query``.

    An unreadable job's status and metadata are placeholders, not what is stored, so
    it passes no status or task filter here (a store that can read its stored status
    may still select it by that); ``search`` matches its id like any other's.
    """
    if query.status is not None and (job.unreadable is not None or job.status != query.status):
        return False
    if query.task is not None and (
        job.unreadable is not None or job.metadata.get(TASK_METADATA_KEY) != query.task
    ):
        return False
    return query.search is None or fold_case(query.search) in fold_case(job.id)


def _job_key(field: JobSortField, job: JobData) -> tuple[Any, ...]:
    value = getattr(job, field)
    if field in ("next_run", "last_run"):
        # Missing times go last in ascending order, first in descending (the reverse).
        return (value is None, value or datetime.min, job.id)
    return (str(value), job.id) if field == "status" else (value, job.id)


def apply_job_query(jobs: Iterable[JobData], query: JobQuery) -> JobPage:
    """The page of ``jobs`` that ``query`` selects (the reference every store matches)."""
    selected = [j for j in jobs if job_matches(j, query)]
    selected.sort(key=lambda j: _job_key(query.sort_by, j), reverse=query.sort_desc)
    page = selected[query.offset : query.offset + query.limit]
    return JobPage(jobs=tuple(page), total=len(selected))


def record_matches(record: ExecutionRecord, query: ExecutionQuery) -> bool:
    """Whether ``record`` passes the filters of ``query``."""
    if query.job_id is not None and record.job_id != query.job_id:
        return False
    if query.start_time is not None and record.start_time < query.start_time:
        return False
    if query.end_time is not None and record.start_time >= query.end_time:
        return False
    return query.status is None or record.status == query.status


def apply_execution_query(
    records: Iterable[ExecutionRecord], query: ExecutionQuery
) -> ExecutionPage:
    """The page of ``records`` that ``query`` selects (the reference every store matches)."""
    selected = [r for r in records if record_matches(r, query)]
    field = query.sort_by
    selected.sort(key=lambda r: (getattr(r, field), r.execution_id), reverse=query.sort_desc)
    page = selected[query.offset : query.offset + query.limit]
    return ExecutionPage(records=tuple(page), total=len(selected))


def check_per_job(per_job: Any) -> int:
    """``per_job`` of ``latest_executions``, checked: an int from 0 to :data:`MAX_PAGE`."""
    if isinstance(per_job, bool) or not isinstance(per_job, int):
        raise InvalidQueryError("per_job", per_job, "must be an int")
    if not 0 <= per_job <= MAX_PAGE:
        raise InvalidQueryError("per_job", per_job, f"must be between 0 and {MAX_PAGE}")
    return per_job


def check_count_window(start_time: Any, end_time: Any) -> tuple[datetime, datetime | None]:
    """The window of ``count_executions_by_status``, checked: aware datetimes."""
    start = _to_time(start_time)
    if start is None:
        raise InvalidQueryError("start_time", start_time, "must be an aware datetime")
    return start, _to_time(end_time)


def latest_by_job(
    records: Iterable[ExecutionRecord], job_ids: Sequence[str], per_job: int
) -> dict[str, list[ExecutionRecord]]:
    """The ``per_job`` newest records of each of ``job_ids`` (by start time, then id);
    jobs with none (or ``per_job`` 0) are left out."""
    wanted = set(job_ids) if per_job > 0 else set()
    out: dict[str, list[ExecutionRecord]] = {}
    for record in records:
        if record.job_id in wanted:
            out.setdefault(record.job_id, []).append(record)
    for job_id, group in out.items():
        group.sort(key=lambda r: (r.start_time, r.execution_id), reverse=True)
        out[job_id] = group[:per_job]
    return out


def count_by_status(
    records: Iterable[ExecutionRecord], start_time: datetime, end_time: datetime | None
) -> dict[str, int]:
    """How many of ``records`` start in ``[start_time, end_time)``, by status value."""
    counts: dict[str, int] = {}
    for record in records:
        if record.start_time >= start_time and (end_time is None or record.start_time < end_time):
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
    return counts
