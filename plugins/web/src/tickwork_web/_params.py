"""Query strings and JSON bodies read into tickwork's query values and run policies.

Each bad value is refused with a ``ValueError`` whose one line names the parameter
(the app answers 400 with it); nothing a client sends reaches a store unchecked: the
query values check themselves before any store sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tickwork import ExecutionQuery, JobOptions, JobQuery

__all__ = [
    "execution_query",
    "job_query",
    "options_from_form",
    "options_from_json",
]

_MAX_TEXT = 200
PAGE_SIZES = (25, 50, 100)


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name, "").strip()
    if len(value) > _MAX_TEXT:
        raise ValueError(f"{name}: longer than {_MAX_TEXT} characters")
    return value or None


def _whole(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}: must be a whole number, got {raw[:40]!r}") from None


def _flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    raw = params.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: must be true or false, got {raw[:40]!r}")


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    """``limit`` and ``offset``; ``page`` (from 1) stands for an offset on the pages."""
    limit = _whole(params, "limit", 50)
    if "offset" in params:
        return limit, _whole(params, "offset", 0)
    page = _whole(params, "page", 1)
    if page < 1:
        raise ValueError(f"page: must be 1 or more, got {page}")
    return limit, (page - 1) * limit


def job_query(params: Mapping[str, str]) -> JobQuery:
    """``search``, ``status``, ``task``, ``sort``, ``desc``, ``limit``/``offset``/``page``."""
    limit, offset = _paging(params)
    return JobQuery(
        search=_text(params, "search"),
        status=_text(params, "status"),
        task=_text(params, "task"),
        sort_by=_text(params, "sort") or "id",  # type: ignore[arg-type]
        sort_desc=_flag(params, "desc", False),
        limit=limit,
        offset=offset,
    )


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    raw = _text(params, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name}: not an ISO 8601 time: {raw[:40]!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"{name}: give a time zone (Z or +HH:MM): {raw[:40]!r}")
    return value


def execution_query(params: Mapping[str, str], job_id: str | None = None) -> ExecutionQuery:
    """``job_id``, ``status``, ``since``, ``until``, ``sort``, ``desc``, paging."""
    limit, offset = _paging(params)
    return ExecutionQuery(
        job_id=job_id if job_id is not None else _text(params, "job_id"),
        status=_text(params, "status"),
        start_time=_time(params, "since"),
        end_time=_time(params, "until"),
        sort_by=_text(params, "sort") or "start_time",  # type: ignore[arg-type]
        sort_desc=_flag(params, "desc", True),
        limit=limit,
        offset=offset,
    )


_SECONDS = ("misfire_grace_time", "timeout", "jitter")
_WHOLE = ("max_catch_up", "max_instances")
_CHOICES = ("catch_up", "overlap")
OPTION_FIELDS = (*_SECONDS, *_WHOLE, *_CHOICES, "retry")


def options_from_form(form: Mapping[str, str], current: JobOptions) -> JobOptions:
    """The run policies of the "change run policies" form: every field is sent; an
    empty duration means none, ``retry`` is the number of attempts (1 or empty: no
    retry); the retry policy's other settings are kept."""
    changes: dict[str, Any] = {}
    for name in _SECONDS:
        raw = form.get(name, "").strip()
        changes[name] = None if not raw else _number(name, raw)
    for name in _WHOLE:
        changes[name] = _whole(form, name, getattr(current, name))
    for name in _CHOICES:
        changes[name] = form.get(name, "").strip() or getattr(current, name)
    attempts = _whole(form, "retry", 1)
    changes["retry"] = _retry(current, attempts)
    return current.replace(**changes)


def options_from_json(body: Any, current: JobOptions) -> JobOptions:
    """The API's run policies: a JSON object of the fields to change (seconds for
    durations, ``null`` for none; ``retry`` as a number of attempts or null)."""
    if not isinstance(body, dict):
        raise ValueError("body: must be a JSON object of run policies")
    unknown = set(body) - set(OPTION_FIELDS)
    if unknown:
        raise ValueError(f"unknown run policy: {', '.join(sorted(map(str, unknown)))}")
    changes = dict(body)
    if "retry" in changes:
        attempts = changes["retry"]
        if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int)):
            raise ValueError("retry: must be a number of attempts or null")
        changes["retry"] = _retry(current, attempts or 1)
    for name in _SECONDS:
        value = changes.get(name)
        if isinstance(value, bool) or not (value is None or isinstance(value, int | float)):
            raise ValueError(f"{name}: must be a number of seconds or null")
    return current.replace(**changes)


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}: must be a number of seconds, got {raw[:40]!r}") from None


def _retry(current: JobOptions, attempts: int) -> Any:
    if attempts < 1:
        raise ValueError(f"retry: must be 1 or more attempts, got {attempts}")
    if attempts == 1:
        return None
    if current.retry is not None:
        return {
            "max_attempts": attempts,
            "backoff": current.retry.backoff,
            "multiplier": current.retry.multiplier,
            "max_backoff": current.retry.max_backoff,
            "jitter": current.retry.jitter,
        }
    return attempts
