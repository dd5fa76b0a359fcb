"""How a job names its task in the store: two reserved metadata keys.

A job row has no column for a task, and must not get one: the Go library reads the
same rows, and a job without a task must stay exactly the row it wrote. So, like run
policies, the task travels in the job's ``string -> string`` metadata: its registered
name under :data:`TASK_KEY` and its arguments, as JSON text, under :data:`ARGS_KEY`. A
job with neither key is a job for the scheduler's handler, as in the reference library.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._errors import InvalidJobDataError

__all__ = ["ARGS_KEY", "TASK_KEY", "TASK_KEYS", "TaskRef", "task_from_metadata", "task_to_metadata"]

TASK_KEY = "tickwork.task"
ARGS_KEY = "tickwork.args"
TASK_KEYS = frozenset({TASK_KEY, ARGS_KEY})


@attrs.frozen
class TaskRef:
    """What a job stores of its task: the name, and the arguments' JSON text (``None``
    when the task takes none). Decoding the arguments waits until a run needs them."""

    name: str
    arguments: str | None = None


def task_from_metadata(metadata: Mapping[str, str]) -> TaskRef | None:
    """The task a stored job names, or None (a job for the handler).

    :raises InvalidJobDataError: arguments stored without a task, or an empty name.
    """
    name = metadata.get(TASK_KEY)
    arguments = metadata.get(ARGS_KEY)
    if name is None:
        if arguments is not None:
            raise InvalidJobDataError(f"metadata has {ARGS_KEY!r} but no {TASK_KEY!r}")
        return None
    if not name:
        raise InvalidJobDataError(f"metadata key {TASK_KEY!r} is empty")
    return TaskRef(name, arguments)


def task_to_metadata(task: TaskRef | None, metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` with the task's keys (``metadata`` itself when there is no task)."""
    if task is None:
        return metadata
    result = dict(metadata)
    result[TASK_KEY] = task.name
    if task.arguments is not None:
        result[ARGS_KEY] = task.arguments
    return result
