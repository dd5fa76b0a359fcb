"""Writing a job on condition of the revision read, and reading a job's document.

KV has no transaction, so every update or delete of a job reads its revision and
writes only while that revision is still current; a writer that loses the race reads
again. This keeps a deleted job deleted and applies each write whole, in order.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from tickwork import JobData, JobDataNotFoundError, StorageOperationError

from ._bucket import Bucket, Entry
from ._checks import decode_or_none
from ._documents import read_job
from ._errors import is_wrong_last_sequence, translate_errors

__all__ = ["compare_and_set", "job_from"]

logger = logging.getLogger("tickwork.nats")


async def compare_and_set(
    jobs: Bucket,
    key: str,
    job_id: str,
    write: Callable[[Entry], Awaitable[None]],
    verb: str,
    *,
    attempts: int,
) -> None:
    """Read the job's revision, then ``write`` on condition that it is still current.

    A concurrent writer makes the condition fail: read again and retry, so the job
    is never resurrected after a delete and every write applies whole, in order.
    After ``attempts`` lost races in a row it gives up with StorageOperationError.
    """
    for attempt in range(attempts):
        with translate_errors(f"{verb} job {job_id!r}"):
            entry = await jobs.get(key)
            if entry is None:
                raise JobDataNotFoundError(job_id)
            try:
                await write(entry)
                return
            except Exception as exc:
                if not is_wrong_last_sequence(exc):
                    raise
        logger.debug("%s of job %r lost a race (attempt %d); retrying", verb, job_id, attempt)
        await asyncio.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
    raise StorageOperationError(
        f"could not {verb} job {job_id!r}: {attempts} attempts in a row were "
        "overtaken by concurrent writers of the same job"
    )


def job_from(jobs: Bucket, entry: Entry, job_id: str | None = None) -> JobData:
    """The job of a document; one that cannot be read is its unreadable_row."""
    expected = job_id if job_id is not None else decode_or_none(entry.key)
    if expected is None:
        return JobData.unreadable_row(
            entry.key, f"key: {entry.key!r} in bucket {jobs.name} is not a job id's key"
        )
    return read_job(entry.value, expected)
