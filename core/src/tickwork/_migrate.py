"""Copying jobs and history from one store to another."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._errors import ExecutionNotFoundError, JobDataAlreadyExistsError
from ._models import JobData, MigrateResult, QueryOptions
from .abc import Store

__all__ = ["migrate_storage"]

logger = logging.getLogger("tickwork.migrate")

_PAGE = 1000

Progress = Callable[[str, int], None]
"""Called as ``progress(kind, count)`` after each job ("jobs") or record ("executions")."""


async def migrate_storage(
    src: Store, dst: Store, *, progress: Progress | None = None
) -> MigrateResult:
    """Copy every job and execution record from ``src`` to ``dst``.

    Both stores must be initialized. Only reads are sent to ``src``. What ``dst``
    already holds (same job id, same execution id) is left as it is and counted as
    skipped, so running the migration again is harmless and finishes an interrupted one.
    History is copied for every job in ``src``; records of jobs that were deleted
    (history outlives its job) cannot be enumerated through the Store protocol and are
    not copied.

    A job whose row ``src`` cannot read (:attr:`JobData.unreadable`) is not copied: the
    Store protocol only carries what a store could read, and no store writes such a
    job. It stays in ``src`` as it is, its history is copied, and it is named with its
    reason in :attr:`MigrateResult.unreadable_jobs` (and logged); once its row is fixed,
    running the migration again copies it.
    """
    jobs = await src.list_jobs()
    jobs_migrated, jobs_skipped, unreadable = await _copy_jobs(jobs, dst, progress)
    executions_migrated = executions_skipped = 0
    for job in jobs:
        copied, skipped = await _copy_history(src, dst, job.id, progress)
        executions_migrated += copied
        executions_skipped += skipped
    result = MigrateResult(
        jobs_migrated=jobs_migrated,
        jobs_skipped=jobs_skipped,
        executions_migrated=executions_migrated,
        executions_skipped=executions_skipped,
        unreadable_jobs=tuple(unreadable),
    )
    logger.info("migration finished: %s", result)
    return result


async def _copy_jobs(
    jobs: list[JobData], dst: Store, progress: Progress | None
) -> tuple[int, int, list[tuple[str, str]]]:
    """Save each readable job in ``dst``: (copied, already there, unreadable ones)."""
    jobs_migrated = jobs_skipped = 0
    unreadable: list[tuple[str, str]] = []
    for job in jobs:
        if job.unreadable is not None:
            logger.warning(
                "not copying job %r: its stored row cannot be read: %s", job.id, job.unreadable
            )
            unreadable.append((job.id, job.unreadable))
            continue
        try:
            await dst.save_job(job)
            jobs_migrated += 1
        except JobDataAlreadyExistsError:
            jobs_skipped += 1
        if progress:
            progress("jobs", 1)
    return jobs_migrated, jobs_skipped, unreadable


async def _copy_history(
    src: Store, dst: Store, job_id: str, progress: Progress | None
) -> tuple[int, int]:
    """Copy one job's execution records, a page at a time: (copied, already there)."""
    copied = skipped = offset = 0
    while True:
        page = await src.list_executions(job_id, QueryOptions(limit=_PAGE, offset=offset))
        for record in page:
            if await _has_execution(dst, record.execution_id):
                skipped += 1
            else:
                await dst.save_execution(record)
                copied += 1
            if progress:
                progress("executions", 1)
        if len(page) < _PAGE:
            return copied, skipped
        offset += _PAGE


async def _has_execution(store: Store, execution_id: str) -> bool:
    try:
        await store.get_execution(execution_id)
    except ExecutionNotFoundError:
        return False
    return True
