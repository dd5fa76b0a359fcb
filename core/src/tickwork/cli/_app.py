"""Loading the user's code: ``module:attribute`` from the directory the command runs in.

``tickwork`` is usually started as a console script, whose ``sys.path`` starts with
the script's own folder, not the current directory, so ``tickwork run --app myapp:tasks``
next to ``myapp.py`` could not import it. Like celery and uvicorn, the current directory
is put at the front of ``sys.path`` before the import: the command works the same way
``python -c "import myapp"`` would from there.

Every failure is a one-line :class:`AppError` naming what is at fault (the module and
the directory it was looked for in, the attribute, or the kind of object found), because
an operator reading a worker's log needs that line, not an import traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import attrs

from .._errors import TickworkError
from .._scheduler import AsyncScheduler
from .._sync import Scheduler
from .._tasks import TaskRegistry

__all__ = ["App", "AppError", "import_object", "load_app"]

logger = logging.getLogger(__name__)


class AppError(TickworkError, ValueError):
    """``module:attribute`` names nothing importable, or something of the wrong kind."""


@attrs.frozen
class App:
    """What ``--app`` (or the configuration's ``app`` key) gave: tasks and a handler."""

    #: The ``module:attribute`` text, to name the app in messages.
    spec: str
    #: The tasks it registers (an empty registry when it gave only a handler).
    tasks: TaskRegistry
    #: The handler for jobs without a task, or None.
    handler: Callable[..., Any] | None = None


def current_directory_first() -> str:
    """Put the current directory at the front of ``sys.path``; the directory.

    Harmless when it is there already (an entry more is only looked at once more).
    """
    cwd = os.getcwd()
    if not sys.path or sys.path[0] not in (cwd, ""):
        sys.path.insert(0, cwd)
    return cwd


def import_object(spec: str, what: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted); ``what`` names it
    in messages ("app", "handler").

    :raises AppError: no colon, no such module (the directory is named), an import that
        failed inside the module, or no such attribute.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AppError(f"{what} must be 'module:attribute', got {spec!r}")
    module = _import_module(module_name, what)
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppError(
                f"{what} {spec!r}: module {module_name!r} ({getattr(module, '__file__', '?')}) "
                f"has no attribute {attribute!r}"
            ) from None
    return target


def _import_module(module_name: str, what: str) -> Any:
    cwd = current_directory_first()
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise AppError(
                f"{what} module {module_name!r} not found in the current directory "
                f"({cwd}) nor on sys.path"
            ) from None
        logger.debug("importing %s failed", module_name, exc_info=True)
        raise AppError(
            f"{what} module {module_name!r} could not be imported: {_one_line(exc)}"
        ) from None
    except Exception as exc:  # the module's own code failed: say so in one line
        logger.debug("importing %s failed", module_name, exc_info=True)
        raise AppError(
            f"{what} module {module_name!r} failed while importing: {_one_line(exc)}"
        ) from None


def load_app(spec: str) -> App:
    """The tasks and handler that ``module:attribute`` names.

    The attribute may be a :class:`TaskRegistry`, an :class:`AsyncScheduler` or
    :class:`Scheduler` (its ``tasks`` and its handler are used; the scheduler itself is
    not started: the command line builds its own from its options), or a handler
    function.

    :raises AppError: see :func:`import_object`, or an attribute of another kind.
    """
    target = import_object(spec, "app")
    if isinstance(target, TaskRegistry):
        return App(spec, target)
    if isinstance(target, AsyncScheduler | Scheduler):
        return App(spec, target.tasks, target.handler)
    if callable(target) and not isinstance(target, type):
        return App(spec, TaskRegistry(), target)
    raise AppError(
        f"app {spec!r} is a {type(target).__name__}"
        + (f" ({target.__name__})" if isinstance(target, type) else "")
        + ", not a TaskRegistry, a scheduler or a handler function"
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
