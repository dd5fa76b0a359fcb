"""Execution history in the execution bucket: saving, reading and pruning records.

Each record is stored twice over: the document under its job's key (so one job's
history is one scan) and an index entry from the execution id to the job id (so a
record is found by id alone). The functions here keep the two in step; they take the
bucket and the few settings they need, so :class:`NATSStore` only delegates.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tickwork import ExecutionNotFoundError, ExecutionRecord, QueryOptions

from . import _keys as keys
from ._bucket import Bucket, gather_in_batches
from ._checks import check_execution, check_job_id, existing_key, key_for_write
from ._documents import decode_index, encode_execution, encode_index, record_from
from ._errors import translate_errors

__all__ = [
    "delete_executions",
    "get_execution",
    "last_saved_execution",
    "list_executions",
    "save_execution",
]

logger = logging.getLogger("tickwork.nats")


async def save_execution(execs: Bucket, record: ExecutionRecord, *, expires: bool) -> None:
    """Write ``record`` and its index entry; ``expires``: the bucket has a max age."""
    check_execution(record)
    job_id, execution_id = record.job_id, record.execution_id
    index = key_for_write(keys.index_key, execution_id)
    record_key = key_for_write(keys.record_key, job_id, execution_id)
    with translate_errors(f"save execution {execution_id!r} of job {job_id!r}"):
        previous = await execs.get(index)
        previous_job = None
        if previous is not None:
            previous_job = decode_index(previous.value, f"index entry {index!r}")
        # Index first: a record visible in a listing can always be found by id.
        # With exec_ttl, rewrite it anyway so it never expires before its record.
        if previous_job != job_id or expires:
            await execs.put(index, encode_index(job_id))
        await execs.put(record_key, encode_execution(record))
        if previous_job is not None and previous_job != job_id:
            # The id moved to another job: drop the old job's copy.
            await execs.remove(keys.record_key(previous_job, execution_id))


async def get_execution(execs: Bucket, execution_id: str) -> ExecutionRecord:
    """The record of ``execution_id``, found through its index entry."""
    index = (
        existing_key(keys.index_key, execution_id)
        if isinstance(execution_id, str) and execution_id
        else None
    )
    if index is None:
        raise ExecutionNotFoundError(execution_id)
    with translate_errors(f"get execution {execution_id!r}"):
        pointer = await execs.get(index)
        if pointer is None:
            raise ExecutionNotFoundError(execution_id)
        job_id = decode_index(pointer.value, f"index entry {index!r} in {execs.name}")
        entry = await execs.get(keys.record_key(job_id, execution_id))
    if entry is None:
        raise ExecutionNotFoundError(execution_id)
    return record_from(execs, entry)


async def list_executions(
    execs: Bucket, job_id: str, options: QueryOptions, *, timeout: float
) -> list[ExecutionRecord]:
    """The records of ``job_id`` (one scan), filtered and ordered by ``options``
    (already validated: the store checks them before anything else)."""
    check_job_id(job_id)
    key_filter = existing_key(keys.job_records_filter, job_id)
    if key_filter is None:
        return []
    with translate_errors(f"list the executions of job {job_id!r}"):
        entries = await execs.scan(key_filter, timeout=timeout)
    return options.apply([record_from(execs, e) for e in entries])


async def last_saved_execution(
    execs: Bucket, job_id: str, *, timeout: float
) -> ExecutionRecord | None:
    """The record of ``job_id`` written last: one read of the last message under the
    job's records, not a scan of its history (see :meth:`Bucket.newest`)."""
    check_job_id(job_id)
    key_filter = existing_key(keys.job_records_filter, job_id)
    if key_filter is None:
        return None
    with translate_errors(f"read the last execution of job {job_id!r}"):
        entry = await execs.newest(key_filter, timeout=timeout)
    return None if entry is None else record_from(execs, entry)


async def delete_executions(
    execs: Bucket, job_id: str | None, before: datetime, *, timeout: float
) -> None:
    """Remove the records (and index entries) of ``job_id``, or of every job, started
    before ``before``."""
    if job_id is not None:
        check_job_id(job_id)
    if not isinstance(before, datetime):
        raise TypeError(f"before must be a datetime, got {before!r}")
    cutoff = before.astimezone(UTC)
    key_filter = (
        keys.all_records_filter()
        if job_id is None
        else existing_key(keys.job_records_filter, job_id)
    )
    if key_filter is None:
        return  # an id too long to be stored has no records
    whose = "every job" if job_id is None else f"job {job_id!r}"
    with translate_errors(f"delete old executions of {whose}"):
        entries = await execs.scan(key_filter, timeout=timeout)
        doomed = [r for r in (record_from(execs, e) for e in entries) if r.start_time < cutoff]

        async def remove(record: ExecutionRecord) -> None:
            await execs.remove(keys.record_key(record.job_id, record.execution_id))
            await execs.remove(keys.index_key(record.execution_id))

        await gather_in_batches(remove, doomed)
    if doomed:
        logger.debug("deleted %d execution records of %s", len(doomed), whose)
