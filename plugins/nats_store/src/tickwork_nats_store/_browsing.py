"""Browsing the execution bucket (the record half of :class:`tickwork.abc.QueryableStore`).

JetStream KV has no server-side query: it can only hand back the keys under a filter.
So NATS pages in Python, with as few reads as the key layout allows: one job's history
is one scan of ``rec.<job>.*``; every job's history, and the counts by status, one scan
of ``rec.*.*``; the latest records of several jobs, one scan per job (run side by side),
since the whole history may be far larger than those jobs' part of it. Filtering,
sorting and paging are the reference functions' own, so the pages are theirs exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from tickwork import (
    ExecutionPage,
    ExecutionQuery,
    ExecutionRecord,
    apply_execution_query,
    count_by_status,
    latest_by_job,
)

from . import _keys as keys
from ._bucket import PARALLEL, Bucket
from ._checks import check_job_id, existing_key
from ._documents import record_from
from ._errors import translate_errors

__all__ = ["count_records", "latest_records", "query_records"]


async def _records(execs: Bucket, job_id: str | None, *, timeout: float) -> list[ExecutionRecord]:
    """Every record of ``job_id`` (None: of every job), in one scan."""
    if job_id is None:
        key_filter: str | None = keys.all_records_filter()
    else:
        key_filter = existing_key(keys.job_records_filter, check_job_id(job_id))
    if key_filter is None:  # an id too long to be stored has no records
        return []
    whose = "every job" if job_id is None else f"job {job_id!r}"
    with translate_errors(f"read the executions of {whose}"):
        entries = await execs.scan(key_filter, timeout=timeout)
    return [record_from(execs, entry) for entry in entries]


async def query_records(execs: Bucket, query: ExecutionQuery, *, timeout: float) -> ExecutionPage:
    """The page ``query`` selects, cut in Python from one scan."""
    return apply_execution_query(await _records(execs, query.job_id, timeout=timeout), query)


async def latest_records(
    execs: Bucket, job_ids: Sequence[str], per_job: int, *, timeout: float
) -> dict[str, list[ExecutionRecord]]:
    """The ``per_job`` newest records of each job, one scan per job (at most
    ``PARALLEL`` at once)."""
    wanted = list(dict.fromkeys(check_job_id(job_id) for job_id in job_ids))
    if not per_job:
        return {}
    out: dict[str, list[ExecutionRecord]] = {}
    for start in range(0, len(wanted), PARALLEL):
        batch = wanted[start : start + PARALLEL]
        found = await asyncio.gather(*(_records(execs, j, timeout=timeout) for j in batch))
        for job_id, records in zip(batch, found, strict=True):
            out.update(latest_by_job(records, [job_id], per_job))
    return out


async def count_records(
    execs: Bucket, start: datetime, end: datetime | None, *, timeout: float
) -> dict[str, int]:
    """Records of every job starting in ``[start, end)``, by status (one scan)."""
    return count_by_status(await _records(execs, None, timeout=timeout), start, end)
