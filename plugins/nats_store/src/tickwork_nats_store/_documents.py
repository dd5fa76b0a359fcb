"""The JSON documents stored as KV values (format version 1).

Every document is a UTF-8 JSON object with ``"v": 1``. Datetimes are RFC 3339 strings
in UTC with exactly six fractional digits (``2025-01-02T03:04:05.123456Z``), ``null``
when unset; durations are integer nanoseconds, like the reference library and the SQL
store. Readers accept any RFC 3339 offset and up to nine fractional digits (digits
beyond microseconds are dropped), so documents written by other tools load too.

Job::

    {"v": 1, "id": "report", "schedule_type": "interval", "schedule_config": "5m0s",
     "status": "pending", "next_run": "2025-01-02T03:09:05.123456Z", "last_run": null,
     "created_at": "...", "updated_at": "...", "metadata": {"team": "core"}}

Execution record::

    {"v": 1, "job_id": "report", "execution_id": "7f0c...", "start_time": "...",
     "end_time": "...", "duration": 1000007000, "status": "completed", "error": null,
     "metadata": {}}

Execution index (key ``idx.<execution>``)::

    {"v": 1, "job_id": "report"}

A job document that cannot be read (not JSON, a field missing or of the wrong type, an
unknown status, a time that is not RFC 3339, or the id of another key) is read as
:meth:`tickwork.JobData.unreadable_row` by :func:`read_job`, with a reason naming each
bad field and its value, so that one bad document never fails a listing.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tickwork import ExecutionRecord, ExecutionStatus, InvalidJobDataError, JobData, JobStatus

from . import _keys as keys
from ._bucket import Bucket, Entry

__all__ = [
    "FORMAT_VERSION",
    "decode_execution",
    "decode_index",
    "decode_job",
    "encode_execution",
    "encode_index",
    "encode_job",
    "format_time",
    "parse_time",
    "read_job",
    "record_from",
]

FORMAT_VERSION = 1

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # RFC 3339 digits are 0-9: a full-width "２" makes a document unreadable
)


# -- scalars ---------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """RFC 3339, UTC, microseconds: ``2025-01-02T03:04:05.123456Z``."""
    # Naive values are local time, as everywhere in tickwork (astimezone assumes so).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime.

    :raises ValueError: ``text`` is not RFC 3339.
    """
    if len(text) == 27 and text[26] == "Z" and text[10] == "T" and text[19] == ".":
        # The form format_time writes, read by the C parser (20x faster than below).
        try:
            return datetime.fromisoformat(text)
        except ValueError:  # not a valid time after all: the message below says why
            pass
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    if match.group(8):
        tz: timezone = UTC
    else:
        sign = -1 if match.group(9) == "-" else 1
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        tz = timezone(sign * offset)
    parsed = datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=tz)
    return parsed.astimezone(UTC)


def _nanoseconds(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1_000


def _from_nanoseconds(value: int) -> timedelta:
    return timedelta(microseconds=value // 1_000)


def _dumps(document: dict[str, Any]) -> bytes:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8: fall back to \\u escapes (still valid JSON).
        return json.dumps(document, separators=(",", ":")).encode("ascii")


# -- reading helpers -----------------------------------------------------------------------


class _Reader:
    """Typed access to one decoded document; every failure names the key."""

    def __init__(self, raw: bytes | None, what: str) -> None:
        self.what = what
        try:
            document = json.loads(raw or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidJobDataError(f"{what} is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise InvalidJobDataError(f"{what} is not a JSON object")
        version = document.get("v", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise InvalidJobDataError(
                f"{what} has format version {version!r}; this tickwork-nats-store reads "
                f"version {FORMAT_VERSION}. Upgrade tickwork-nats-store."
            )
        self.doc: dict[str, Any] = document

    def fail(self, field: str, reason: str) -> InvalidJobDataError:
        return InvalidJobDataError(f"{self.what}: field {field!r} {reason}")

    def text(self, field: str, *, allow_empty: bool = False) -> str:
        value = self.doc.get(field)
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.fail(field, f"must be a{'' if allow_empty else ' non-empty'} string")
        return value

    def optional_str(self, field: str) -> str | None:
        value = self.doc.get(field)
        if value is not None and not isinstance(value, str):
            raise self.fail(field, "must be a string or null")
        return value

    def time(self, field: str) -> datetime:
        value = self.optional_time(field)
        if value is None:
            raise self.fail(field, "is required")
        return value

    def optional_time(self, field: str) -> datetime | None:
        value = self.doc.get(field)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(field, "must be an RFC 3339 string or null")
        try:
            return parse_time(value)
        except ValueError as exc:
            raise self.fail(field, str(exc)) from exc

    def status(self, field: str) -> JobStatus:
        value = self.doc.get(field)
        try:
            return JobStatus(str(value))
        except ValueError:
            raise self.fail(field, f"is not a job status: {value!r}") from None

    def outcome(self, field: str) -> JobStatus | ExecutionStatus:
        """An execution's status: a job status or one of the tick log's outcomes."""
        value = str(self.doc.get(field))
        for kind in (JobStatus, ExecutionStatus):
            try:
                return kind(value)
            except ValueError:
                continue
        raise self.fail(field, f"is not an execution status: {value!r}")

    def metadata(self, field: str) -> dict[str, str]:
        value = self.doc.get(field) or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.fail(field, "must be an object of strings")
        return dict(value)

    def integer(self, field: str) -> int:
        value = self.doc.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, "must be an integer (nanoseconds)")
        return value


# -- documents -------------------------------------------------------------------------


def encode_job(job: JobData) -> bytes:
    """Serialize a job."""
    return _dumps(
        {
            "v": FORMAT_VERSION,
            "id": job.id,
            "schedule_type": job.schedule_type,
            "schedule_config": job.schedule_config,
            "status": JobStatus(job.status).value,
            "next_run": None if job.next_run is None else format_time(job.next_run),
            "last_run": None if job.last_run is None else format_time(job.last_run),
            "created_at": format_time(job.created_at),
            "updated_at": format_time(job.updated_at),
            "metadata": dict(job.metadata),
        }
    )


def decode_job(raw: bytes | None, what: str = "job document") -> JobData:
    """Rebuild a job.

    :raises InvalidJobDataError: the document is malformed.
    """
    r = _Reader(raw, what)
    return JobData(
        id=r.text("id"),
        schedule_type=r.text("schedule_type"),
        schedule_config=r.text("schedule_config", allow_empty=True),
        status=r.status("status"),
        next_run=r.optional_time("next_run"),
        last_run=r.optional_time("last_run"),
        created_at=r.time("created_at"),
        updated_at=r.time("updated_at"),
        metadata=r.metadata("metadata"),
    )


def read_job(raw: bytes | None, job_id: str) -> JobData:
    """The job that the document stored under ``job_id``'s key holds; for a document
    that is not one (see :func:`decode_job`), or that holds another id, its
    :meth:`~tickwork.JobData.unreadable_row`, whose reason names every field that
    cannot be read and its value. Never raises for what the document holds.
    """
    try:
        job = decode_job(raw)
    except InvalidJobDataError:
        return _unreadable_job(raw, job_id)
    if job.id != job_id:
        return JobData.unreadable_row(
            job_id,
            f"id: {_shown(job.id)} is not the id of its key ({job_id!r})",
            schedule_type=job.schedule_type,
            schedule_config=job.schedule_config,
            metadata=job.metadata,
        )
    return job


_MISSING: Any = object()


def _unreadable_job(raw: bytes | None, job_id: str) -> JobData:
    """The stand-in for a job document that :func:`decode_job` refuses, with what can
    be read of it (its schedule, its metadata) and a reason naming each fault."""
    try:
        document = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError):
        text = (raw or b"").decode("utf-8", "replace")
        return JobData.unreadable_row(job_id, f"document: {_shown(text)} is not JSON")
    if not isinstance(document, dict):
        return JobData.unreadable_row(job_id, f"document: {_shown(document)} is not a JSON object")
    problems: list[str] = []

    def field(name: str, fault: Any, required: bool = True) -> Any:
        """The value of ``name``, or None after noting what is wrong with it."""
        value = document.get(name, _MISSING)
        if value is _MISSING or (value is None and required):
            if required:
                problems.append(f"{name}: missing" if value is _MISSING else f"{name}: null")
            return None
        if value is None:
            return None
        wrong = fault(value)
        if wrong is not None:
            problems.append(f"{name}: {_shown(value)} {wrong}")
            return None
        return value

    version = document.get("v", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        problems.append(
            f"v: {_shown(version)} is not format version {FORMAT_VERSION} (this "
            "tickwork-nats-store reads only that one: upgrade it)"
        )
    stored_id = field("id", lambda v: None if isinstance(v, str) and v else "is not an id")
    if stored_id is not None and stored_id != job_id:
        problems.append(f"id: {_shown(stored_id)} is not the id of its key ({job_id!r})")
    schedule_type = field(
        "schedule_type", lambda v: None if isinstance(v, str) and v else "is not a schedule type"
    )
    config = field("schedule_config", lambda v: None if isinstance(v, str) else "is not a string")
    field("status", lambda v: None if v in _JOB_STATUS_VALUES else "is not a job status")
    for name in ("next_run", "last_run", "created_at", "updated_at"):
        field(name, _time_fault, required=name in ("created_at", "updated_at"))
    metadata = document.get("metadata")
    kept: dict[str, str] | None = None
    if metadata is None:
        kept = {}
    elif not isinstance(metadata, dict):
        problems.append(f"metadata: {_shown(metadata)} is not a JSON object")
    else:
        wrong_value = next(((k, v) for k, v in metadata.items() if not isinstance(v, str)), None)
        if wrong_value is None:
            kept = dict(metadata)
        else:
            key, value = wrong_value
            problems.append(f"metadata: value of {_shown(key)} is {_shown(value)}, not a string")
    if not problems:  # decode_job refused it for a reason not listed here: say which
        try:
            decode_job(raw)
        except InvalidJobDataError as exc:
            problems.append(str(exc))
    return JobData.unreadable_row(
        job_id,
        "; ".join(problems),
        schedule_type=schedule_type or "",
        schedule_config=config or "",
        metadata=kept,
    )


_JOB_STATUS_VALUES = frozenset(status.value for status in JobStatus)


def _time_fault(value: Any) -> str | None:
    if not isinstance(value, str):
        return "is not a time"
    try:
        parse_time(value)
    except ValueError:
        return "is not a time (RFC 3339)"
    return None


def _shown(value: Any, limit: int = 60) -> str:
    """``value`` for a message: its repr (null for None), cut short."""
    text = "null" if value is None else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def encode_execution(record: ExecutionRecord) -> bytes:
    """Serialize an execution record."""
    return _dumps(
        {
            "v": FORMAT_VERSION,
            "job_id": record.job_id,
            "execution_id": record.execution_id,
            "start_time": format_time(record.start_time),
            "end_time": format_time(record.end_time),
            "duration": _nanoseconds(record.duration),
            "status": str(record.status.value),
            "error": record.error,
            "metadata": dict(record.metadata),
        }
    )


def decode_execution(raw: bytes | None, what: str = "execution document") -> ExecutionRecord:
    """Rebuild an execution record.

    :raises InvalidJobDataError: the document is malformed.
    """
    r = _Reader(raw, what)
    return ExecutionRecord(
        job_id=r.text("job_id"),
        execution_id=r.text("execution_id"),
        start_time=r.time("start_time"),
        end_time=r.time("end_time"),
        duration=_from_nanoseconds(r.integer("duration")),
        status=r.outcome("status"),
        error=r.optional_str("error"),
        metadata=r.metadata("metadata"),
    )


def encode_index(job_id: str) -> bytes:
    """Serialize the index entry that points an execution id at its job."""
    return _dumps({"v": FORMAT_VERSION, "job_id": job_id})


def decode_index(raw: bytes | None, what: str = "execution index entry") -> str:
    """Return the job id an index entry points at.

    :raises InvalidJobDataError: the document is malformed.
    """
    return _Reader(raw, what).text("job_id")


def record_from(execs: Bucket, entry: Entry) -> ExecutionRecord:
    """The execution record at ``entry``, checked against its key."""
    what = f"execution document at key {entry.key!r} in bucket {execs.name}"
    record = decode_execution(entry.value, what)
    try:
        expected = keys.split_record_key(entry.key)
    except ValueError as exc:
        raise InvalidJobDataError(f"{what}: unexpected key ({exc})") from exc
    if (record.job_id, record.execution_id) != expected:
        raise InvalidJobDataError(
            f"{what} holds execution {record.execution_id!r} of "
            f"job {record.job_id!r}, not {expected!r}"
        )
    return record
