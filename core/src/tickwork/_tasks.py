"""Tasks: functions registered under a name, so jobs can say what they run.

A job that names a task stores only the name (and its arguments as JSON): never the
function, never a pickle. Any process that registered a function under that name can
run the job, which is how several workers share one database, and how a job outlives
a restart or a deploy. The name defaults to the function's ``module:qualname``, which
is also how a child process (the ``process`` executor) imports it.

A :class:`TaskRegistry` may be shared by several schedulers (or built once in a module
that every worker imports); each scheduler also has one of its own, behind
``scheduler.task``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

import attrs

from ._errors import TaskNotFoundError, TaskRegistrationError
from ._invoke import is_async_callable
from ._policy import DEFAULT_OPTIONS, JobOptions
from ._task_args import encode_arguments
from ._task_ref import TaskRef

__all__ = ["NO_TASK", "Task", "TaskChoice", "TaskRegistry", "TaskSpec", "default_task_name"]

F = Any  # a task function: any callable


@attrs.frozen
class Task:
    """A registered task: its name, its function, where it runs, its default policies."""

    name: str
    function: Callable[..., Any] = attrs.field(eq=False)
    #: ``module:qualname``: how a process that did not register it imports it.
    import_path: str
    #: The name of the executor it runs on (``loop``, ``thread``, ``process``, a plugin's).
    executor: str
    #: Run policies for its jobs, unless a job sets its own.
    options: JobOptions = DEFAULT_OPTIONS


def default_task_name(function: Callable[..., Any]) -> str:
    """``module:qualname`` of ``function``.

    :raises TaskRegistrationError: the function has no importable name (a lambda, a
        function defined inside another): give it a ``name=``.
    """
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise TaskRegistrationError(
            f"task {function!r} has no name another process could import it by "
            f"({module}:{qualname}); register it with name=... or define it at module level"
        )
    return f"{module}:{qualname}"


class TaskRegistry:
    """Functions by task name.

    Use :meth:`task` as a decorator (bare, or with a name, an executor and default run
    policies), or :meth:`register`. Registering the same function under the same name
    again is allowed (a module imported twice); another function under a taken name is
    an error.
    """

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._by_function: dict[int, Task] = {}

    @overload
    def task(self, function: F, /) -> F: ...

    @overload
    def task(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        executor: str | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Callable[[F], F]: ...

    def task(
        self,
        function: F | None = None,
        /,
        *,
        name: str | None = None,
        executor: str | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Any:
        """Register the decorated function as a task; it is returned unchanged.

        ``@registry.task`` or ``@registry.task(name="report", executor="process",
        timeout=timedelta(minutes=5))``.
        """

        def decorate(fn: F) -> F:
            self.register(fn, name=name, executor=executor, options=options, **option_fields)
            return fn

        return decorate(function) if function is not None else decorate

    def register(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        executor: str | None = None,
        options: JobOptions | None = None,
        **option_fields: Any,
    ) -> Task:
        """Register ``function``; the :class:`Task`.

        :raises TaskRegistrationError: not callable, a taken name, an empty name, or a
            ``process`` task that a child process could not import.
        """
        if not callable(function):
            raise TaskRegistrationError(f"a task must be callable, got {function!r}")
        task = _new_task(
            function, name, executor, (options or DEFAULT_OPTIONS).replace(**option_fields)
        )
        known = self._tasks.get(task.name)
        if known is not None:
            if known.function is function and known == task:
                return known
            raise TaskRegistrationError(
                f"task name {task.name!r} is taken by {known.function!r}; "
                "choose another name= for this function"
            )
        self._tasks[task.name] = task
        self._by_function.setdefault(id(function), task)
        return task

    def resolve(self, task: Callable[..., Any] | str | Task) -> Task:
        """The registered task for a name, a :class:`Task` or a function; a function
        not registered yet is registered under its default name.

        :raises TaskNotFoundError: an unknown name.
        """
        if isinstance(task, Task):
            return self.get(task.name)
        if isinstance(task, str):
            return self.get(task)
        known = self._by_function.get(id(task))
        if known is not None and known.function is task:
            return known
        return self.register(task)

    def get(self, name: str) -> Task:
        """:raises TaskNotFoundError: no task of that name here."""
        try:
            return self._tasks[name]
        except KeyError:
            raise TaskNotFoundError(
                f"no task named {name!r} is registered in this process"
                + (f" (registered: {', '.join(sorted(self._tasks))})" if self._tasks else "")
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(sorted(self._tasks.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return f"TaskRegistry({len(self._tasks)} tasks)"


def _new_task(
    function: Callable[..., Any], name: str | None, executor: str | None, options: JobOptions
) -> Task:
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise TaskRegistrationError(f"a task name must be a non-empty string, got {name!r}")
    chosen = executor or ("loop" if is_async_callable(function) else "thread")
    if chosen == "process":
        import_path = default_task_name(function)  # a child process must import it
        if import_path.startswith("__main__:"):
            raise TaskRegistrationError(
                f"task {import_path!r} is defined in the script being run, which a child "
                "process cannot import by name; move it into a module for executor='process'"
            )
    else:
        try:
            import_path = default_task_name(function)
        except TaskRegistrationError:
            if name is None:
                raise
            import_path = ""  # runs in this process only
    return Task(name or import_path, function, import_path, chosen, options)


TaskSpec = Callable[..., Any] | str | Task
"""What ``add_job(task=...)`` accepts: a function, a registered name, a :class:`Task`."""


@attrs.frozen
class TaskChoice:
    """What a caller of ``add_job`` asked to run: a task (or None: the handler) and its
    arguments, as given."""

    task: TaskSpec | None = None
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] | None = None

    def resolve(self, registry: TaskRegistry) -> tuple[TaskRef | None, JobOptions]:
        """What the job stores of its task, and the run policies it starts from (the
        task's defaults; the scheduler's for a job without a task).

        :raises TaskNotFoundError: ``task`` names no registered task.
        :raises InvalidJobDataError: an argument cannot be stored (its path is named).
        :raises TypeError: arguments without a task.
        """
        args, kwargs = self.args, self.kwargs
        if self.task is None:
            if args or kwargs:
                raise TypeError("args= and kwargs= are the arguments of a task: pass task= too")
            return None, DEFAULT_OPTIONS
        if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
            raise TypeError(f"args= must be a list or tuple of arguments, got {args!r}")
        found = registry.resolve(self.task)
        return TaskRef(found.name, encode_arguments(args, kwargs or {})), found.options


NO_TASK = TaskChoice()
