"""``tickwork jobs show ID``: one job in full, its task's arguments decoded.

``jobs list`` has one line per job and cuts long cells; a task's arguments are stored as
JSON text meant for the scheduler, not for a person. ``show`` prints every field on its
own line, and the arguments back as the Python values the task will receive (decoding
never imports anything: a value of a class this process has not loaded is reported, with
the stored text, instead of failing the command).
"""

from __future__ import annotations

from typing import Any, TextIO

from .._errors import TickworkError
from .._models import JobData
from .._policy import options_from_metadata, user_metadata
from .._task_args import decode_arguments
from .._task_ref import ARGS_KEY, TASK_KEY
from ..abc import Store
from ._table import cell
from ._tasks import options_text

__all__ = ["show_job"]


async def show_job(store: Store, job_id: str, out: TextIO) -> int:
    """Print the job's fields, one per line; exit status 0.

    :raises JobDataNotFoundError: no such job (one line, as every command's errors).
    """
    job = await store.get_job(job_id)
    fields: list[tuple[str, Any]] = [
        ("id", job.id),
        ("schedule", f"{job.schedule_type} {job.schedule_config}"),
        ("status", job.status.value),
        *_task_fields(job),
        ("run policies", _options(job) or "defaults"),
        ("metadata", user_metadata(job.metadata)),
        ("next run", job.next_run),
        ("last run", job.last_run),
        ("created", job.created_at),
        ("updated", job.updated_at),
    ]
    if job.unreadable is not None:
        fields.append(("unreadable", job.unreadable))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        out.write(f"{name.ljust(width)}  {cell(value)}\n")
    return 0


def _task_fields(job: JobData) -> list[tuple[str, Any]]:
    task = job.metadata.get(TASK_KEY)
    if task is None:
        return [("task", "- (runs go to the handler)")]
    stored = job.metadata.get(ARGS_KEY)
    try:
        args, kwargs = decode_arguments(stored)
    except TickworkError as exc:
        return [("task", task), ("arguments", f"cannot be decoded ({exc}): {stored}")]
    return [
        ("task", task),
        ("args", ", ".join(repr(a) for a in args) or "-"),
        ("kwargs", ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "-"),
    ]


def _options(job: JobData) -> str:
    try:
        return options_text(options_from_metadata(job.metadata))
    except TickworkError as exc:
        return f"cannot be read ({exc})"
