"""The data model that stores persist: jobs, execution records, query options.

``JobData`` and ``ExecutionRecord`` are mutable records (a store copies them in and out,
so mutating one never changes what is stored). ``QueryOptions`` and ``MigrateResult`` are
frozen values. Every datetime field is normalised to aware UTC on assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypeVar

import attrs

from ._errors import InvalidQueryError
from ._timeutil import as_utc, as_utc_or_none, utcnow

__all__ = [
    "RUN_OUTCOMES",
    "SORT_FIELDS",
    "ExecutionRecord",
    "ExecutionStatus",
    "FinishOutcome",
    "JobData",
    "JobStatus",
    "MigrateResult",
    "QueryOptions",
    "RunFinish",
    "SortField",
]


class JobStatus(StrEnum):
    """Lifecycle state of a job, and the outcome of one execution."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    RESCHEDULING_FAILED = "rescheduling_failed"
    DISABLED = "disabled"


def _to_status(value: Any) -> JobStatus:
    return value if isinstance(value, JobStatus) else JobStatus(value)


class ExecutionStatus(StrEnum):
    """The outcome of one intended run: the statuses the tick log records.

    ``running``, ``completed`` and ``failed`` are the values of the same names in
    :class:`JobStatus` (they compare equal, being ``str`` enums); records keep the
    JobStatus member for those, so ``record.status is JobStatus.COMPLETED`` works. The
    others are runs that were intended but did not happen, or did not end normally.
    """

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"  # the run passed its timeout
    MISSED = "missed"  # later than misfire_grace_time: not started
    COALESCED = "coalesced"  # a tick missed during downtime, folded into a catch-up run
    SKIPPED_OVERLAP = "skipped_overlap"  # due while the previous run was still going
    PAUSED = "paused"  # due while the job was paused
    DST_SKIPPED = "dst_skipped"  # its wall-clock time did not exist (daylight saving)
    TASK_MISSING = "task_missing"  # its task is registered in no process that saw it due
    SCHEDULE_ENDED = "schedule_ended"  # the schedule has no fire time left: the job is done


#: Outcomes of runs whose handler actually started.
RUN_OUTCOMES = frozenset({"running", "completed", "failed", "timed_out"})


def to_execution_status(value: Any) -> JobStatus | ExecutionStatus:
    """A stored status as JobStatus where one exists, else as ExecutionStatus."""
    if isinstance(value, JobStatus | ExecutionStatus):
        value = value.value
    try:
        return JobStatus(value)
    except ValueError:
        return ExecutionStatus(value)


def _to_metadata(value: Any) -> dict[str, str]:
    """Copy metadata so callers never share a dict with a stored record."""
    if value is None:
        return {}
    return {str(k): str(v) for k, v in dict(value).items()}


def _required_utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    return as_utc(value)


@attrs.define(eq=True)
class JobData:
    """The persistent state of one job, as every store keeps it."""

    id: str
    schedule_type: str
    schedule_config: str
    status: JobStatus = attrs.field(default=JobStatus.PENDING, converter=_to_status)
    next_run: datetime | None = attrs.field(default=None, converter=as_utc_or_none)
    last_run: datetime | None = attrs.field(default=None, converter=as_utc_or_none)
    created_at: datetime = attrs.field(factory=utcnow, converter=_required_utc)
    updated_at: datetime = attrs.field(factory=utcnow, converter=_required_utc)
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_to_metadata)
    #: Why the stored row could not be read (names the field and the value), or None.
    #: A store never fails a whole listing for one bad row: it hands the row back with
    #: this set (see :meth:`unreadable_row`), and the scheduler quarantines the job.
    #: Such a job is never run and never written back; only ``remove_job`` touches it.
    unreadable: str | None = attrs.field(default=None, kw_only=True)

    def copy(self) -> JobData:
        """Return an independent copy (metadata included)."""
        return _copy_record(self)

    @classmethod
    def unreadable_row(
        cls,
        job_id: str,
        reason: str,
        *,
        schedule_type: str = "",
        schedule_config: str = "",
        metadata: dict[str, str] | None = None,
    ) -> JobData:
        """The stand-in for a stored row that cannot be read, for stores to return.

        ``reason`` names the field and its value (``"status: 'paused?' is not a job
        status"``). The other fields are placeholders where the row's own values could
        not be read: status ``disabled`` and times at the epoch, so that nothing that
        ignores ``unreadable`` by mistake would run it.
        """
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return cls(
            id=job_id,
            schedule_type=schedule_type,
            schedule_config=schedule_config,
            status=JobStatus.DISABLED,
            next_run=None,
            last_run=None,
            created_at=epoch,
            updated_at=epoch,
            metadata=metadata or {},
            unreadable=reason,
        )


@attrs.define(eq=True)
class ExecutionRecord:
    """One execution of a job: when it ran, how long, and how it ended."""

    job_id: str
    execution_id: str
    start_time: datetime = attrs.field(converter=_required_utc)
    end_time: datetime = attrs.field(converter=_required_utc)
    duration: timedelta = attrs.field(default=timedelta(0))
    status: JobStatus | ExecutionStatus = attrs.field(
        default=JobStatus.COMPLETED, converter=to_execution_status
    )
    error: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_to_metadata)

    def copy(self) -> ExecutionRecord:
        """Return an independent copy (metadata included)."""
        return _copy_record(self)


_R = TypeVar("_R", JobData, ExecutionRecord)
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(a.name for a in attrs.fields(cls)) for cls in (JobData, ExecutionRecord)
}


def _copy_record(record: _R) -> _R:
    """A field-by-field copy that skips the converters.

    Every field already went through its converter when it was set (attrs runs them on
    assignment too), and the values are immutable apart from ``metadata``, which gets a
    dict of its own. Stores copy every object in and out, so this is on the hot path
    of every run: ``attrs.evolve`` would run each converter again.
    """
    cls = type(record)
    names = _FIELD_NAMES.get(cls)
    if names is None:  # a subclass: it may convert or validate more, so play safe
        return attrs.evolve(record)
    new = object.__new__(cls)
    for name in names:
        object.__setattr__(new, name, getattr(record, name))
    object.__setattr__(new, "metadata", dict(record.metadata))
    return new


def build_unchecked(cls: type[_R], values: Sequence[Any]) -> _R:
    """Build a ``JobData`` or ``ExecutionRecord`` from values given in field order and
    already in the form its converters produce, without running the converters.

    For stores that keep canonical values (the memory store) and hand out fresh objects
    on every read; anything else should call the constructor. ``JobData.unreadable``
    may be left out (it is then None): readable rows are the hot path.
    """
    new = object.__new__(cls)
    names = _FIELD_NAMES[cls]
    if cls is JobData and len(values) == len(names) - 1:
        object.__setattr__(new, "unreadable", None)
        names = names[:-1]
    for name, value in zip(names, values, strict=True):
        object.__setattr__(new, name, value)
    return new


SortField = Literal["start_time", "end_time", "duration"]
SORT_FIELDS: frozenset[str] = frozenset({"start_time", "end_time", "duration"})


def _check_sort_by(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and value not in SORT_FIELDS:
        raise InvalidQueryError(
            "sort_by", value, f"must be one of {', '.join(sorted(SORT_FIELDS))} or None"
        )


def _check_limit(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQueryError("limit", value, "must be an int or None")
    if value < 0:
        raise InvalidQueryError("limit", value, "must not be negative")


def _check_offset(_inst: Any, _attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQueryError("offset", value, "must be an int")
    if value < 0:
        raise InvalidQueryError("offset", value, "must not be negative")


def _check_bool(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidQueryError(attr.name, value, "must be a bool")


def _to_optional_status(value: Any) -> JobStatus | ExecutionStatus | None:
    if value is None:
        return None
    try:
        return to_execution_status(value)
    except ValueError:
        raise InvalidQueryError("status", value, "not a JobStatus or ExecutionStatus") from None


def _to_query_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidQueryError("start_time/end_time", value, "must be a datetime or None")
    return as_utc(value)


@attrs.frozen(kw_only=True)
class QueryOptions:
    """Filters, order and paging for ``Store.list_executions``.

    Invalid options raise :class:`InvalidQueryError` here, at construction, so a bad
    ``sort_by`` can never reach a database. Stores call :meth:`validate` as well, for
    options objects built some other way.
    """

    limit: int | None = attrs.field(default=None, validator=_check_limit)
    offset: int = attrs.field(default=0, validator=_check_offset)
    start_time: datetime | None = attrs.field(default=None, converter=_to_query_time)
    end_time: datetime | None = attrs.field(default=None, converter=_to_query_time)
    status: JobStatus | ExecutionStatus | None = attrs.field(
        default=None, converter=_to_optional_status
    )
    sort_by: SortField | None = attrs.field(default=None, validator=_check_sort_by)
    sort_desc: bool = attrs.field(default=False, validator=_check_bool)

    @property
    def sort_field(self) -> SortField:
        """The effective sort column (``start_time`` when ``sort_by`` is None)."""
        return self.sort_by or "start_time"

    def validate(self) -> QueryOptions:
        """Re-run every check and return self; stores call it before any I/O."""
        attrs.validate(self)
        return self

    def matches(self, record: ExecutionRecord) -> bool:
        """Whether ``record`` passes the time and status filters (for in-memory stores)."""
        if self.start_time is not None and record.start_time < self.start_time:
            return False
        if self.end_time is not None and record.start_time >= self.end_time:
            return False
        return self.status is None or record.status == self.status

    def apply(self, records: list[ExecutionRecord]) -> list[ExecutionRecord]:
        """Filter, sort and page ``records`` as a store must (ties keep a stable order)."""
        selected = [r for r in records if self.matches(r)]
        field = self.sort_field
        selected.sort(key=lambda r: (getattr(r, field), r.execution_id), reverse=self.sort_desc)
        end = None if self.limit is None else self.offset + self.limit
        return selected[self.offset : end]


@attrs.frozen(kw_only=True)
class MigrateResult:
    """What ``migrate_storage`` copied and what it found already present."""

    jobs_migrated: int = 0
    jobs_skipped: int = 0
    executions_migrated: int = 0
    executions_skipped: int = 0
    #: ``(job id, reason)`` of each job whose stored row the source could not read
    #: (:attr:`JobData.unreadable`): left in the source, not copied (its history is).
    unreadable_jobs: tuple[tuple[str, str], ...] = ()


class FinishOutcome(StrEnum):
    """What became of the job write of one :class:`RunFinish`."""

    STORED = "stored"  # the job was written (and the claim released, if asked)
    CHANGED = "changed"  # the job's updated_at was no longer ``seen``: not written, claim kept
    MISSING = "missing"  # no such job: not written (the claim is released, if asked)


@attrs.frozen(kw_only=True)
class RunFinish:
    """Everything one finished run (or one decision not to run) leaves in the store.

    A scheduler hands these to :meth:`~tickwork.abc.FinishingStore.finish_runs`, many
    at a time, so that a run costs one store round trip after its claim: its execution
    record and tick-log records, the job's new state, and the release of its claim.
    """

    #: Execution records to save (as ``save_execution``): always written, whatever
    #: becomes of the job write, because they say what happened.
    records: tuple[ExecutionRecord, ...] = ()
    #: The job's new state, or None to write records only.
    job: JobData | None = None
    #: Write ``job`` only if its stored ``updated_at`` is still this (the version the
    #: claim handed back, or the one read last); None: write it whatever is stored.
    seen: datetime | None = None
    #: Drop this owner's claim on the job once the job is written (or found missing);
    #: kept when the write lost to a change (``CHANGED``): the run is not over yet.
    #: A finish without a job releases the claim on the job its records belong to.
    release_owner: str | None = None
