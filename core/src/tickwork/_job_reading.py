"""Reading stored rows as the scheduler reads them, for tools that have only a store.

A dashboard, a report or a command beside the workers holds :class:`~tickwork.JobData`
rows, whose schedule, run policies and task are still encoded text in reserved
metadata keys. Decoding them again by hand would drift from what the scheduler does:
a row it quarantines (a schedule type not installed here, unreadable run policies, a
pending job with no next run) would look healthy in the tool. So the rows go through
the scheduler's own decoding (:meth:`tickwork._job_table.JobTable.decode`) and come
out as the :class:`~tickwork.Job` snapshot its job methods return.

What differs is on purpose: a tool shows the row as stored, so the status and times
are the stored ones (a scheduler starting up would turn a ``running`` row of a dead
process back into ``pending``), and a task is only checked against a registry when one
is given (a dashboard registers no tasks, and a job for a task it lacks is not
quarantined for the workers that have it).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._entry import JobEntry
from ._job import Job
from ._job_table import JobTable, memoized
from ._models import JobData, JobStatus
from ._plugins import default_codec
from ._policy import user_metadata
from ._tasks import TaskRegistry
from .abc import ScheduleCodec

__all__ = ["job_from_data", "jobs_from_data"]


def job_from_data(
    data: JobData, codec: ScheduleCodec | None = None, *, tasks: TaskRegistry | None = None
) -> Job:
    """The job a stored row holds, decoded as the scheduler decodes it.

    :param data: the row, as a store's ``get_job`` or a query returns it.
    :param codec: decodes the schedule (default: :func:`~tickwork.default_codec`, every
        installed schedule type).
    :param tasks: when given, a job whose task is not in it is quarantined, as a
        scheduler with these tasks would; when None, tasks are not checked.
    :return: a :class:`~tickwork.Job` with the decoded schedule, run options and task
        name, and the user's metadata (tickwork's own keys removed). A row that cannot
        be used has ``quarantined`` set to the reason and default options; it never
        raises for what is stored. The status and times are the row's, and
        ``is_running`` says whether the row says ``running``.
    """
    return jobs_from_data([data], codec, tasks=tasks)[0]


def jobs_from_data(
    rows: Iterable[JobData],
    codec: ScheduleCodec | None = None,
    *,
    tasks: TaskRegistry | None = None,
) -> list[Job]:
    """:func:`job_from_data` for many rows, in order; rows on the same stored schedule
    share one decoded schedule (a listing of thousands of jobs on a handful of
    schedules parses each once)."""
    table = JobTable(codec if codec is not None else default_codec(), tasks)
    decode = memoized(table.codec.decode)
    check_tasks = tasks is not None
    return [_as_stored(table.decode(data, decode), data, check_tasks) for data in rows]


def _as_stored(entry: JobEntry, data: JobData, check_tasks: bool) -> Job:
    """The scheduler's snapshot of ``entry`` (made for this call alone, so it may be
    changed) with the row's own state put back."""
    if not check_tasks:
        entry.task_missing = None
    entry.metadata = user_metadata(data.metadata)
    entry.status, entry.next_run, entry.last_run = data.status, data.next_run, data.last_run
    job = entry.snapshot()
    # The row's word for a run in progress (somewhere; this process runs nothing).
    return attrs.evolve(job, is_running=True) if data.status == JobStatus.RUNNING else job
