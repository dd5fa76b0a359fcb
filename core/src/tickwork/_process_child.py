"""The child side of :class:`~tickwork.ProcessExecutor`: ``python -m tickwork._process_child``.

The channel, from the child's point of view:

- **stdin** carries one JSON request from the parent: ``import_path``
  (``"module:qualname"``), ``arguments`` (the stored JSON text of the task's
  arguments, or ``null``), ``context`` (the :class:`~tickwork.RunContext` fields, with
  the names of those that are ISO datetimes in ``datetimes``) and ``sys_path`` (the
  parent's ``sys.path``, so that a module the parent imported from its working folder
  imports here too). Nothing is pickled: only names and JSON cross.
- **stdout** is the result channel. Before anything else runs, the child keeps a
  duplicate of file descriptor 1 for itself and points descriptor 1 at stderr, so
  whatever the task prints (``print``, a C library writing to fd 1) lands on stderr and
  cannot corrupt the result. The child writes exactly one JSON line there, the
  outcome: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_type": ...,
  "message": ..., "traceback": ...}``.
- **stderr** is inherited from the parent: the task's output and any crash report
  show up where the parent's own stderr goes.

A child that dies before it writes the outcome (a signal, ``os._exit``) says nothing;
the parent then reports how it ended from its exit status.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import sys
import traceback
from datetime import datetime
from typing import Any

from ._run_context import RunContext, running

__all__ = ["main"]

#: The most of a traceback that travels back (its end, where the error is).
TRACEBACK_CHARS = 4000


def import_function(import_path: str) -> Any:
    """The object ``"module:qualname"`` names (the qualname may be dotted: a method)."""
    module_name, sep, qualname = import_path.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"an import path is 'module:qualname', got {import_path!r}")
    target: Any = importlib.import_module(module_name)
    for attribute in qualname.split("."):
        target = getattr(target, attribute)
    return target


def run_context(fields: dict[str, Any], datetimes: list[str]) -> RunContext:
    """The :class:`RunContext` the parent sent, its datetimes parsed back."""
    values = dict(fields)
    for name in datetimes:
        values[name] = datetime.fromisoformat(values[name])
    return RunContext(**values)


def _run(request: dict[str, Any]) -> object:
    """Import, decode, call (a coroutine is run to its end) and return the result."""
    from ._task_args import decode_arguments

    sys.path[:] = request["sys_path"]
    function = import_function(request["import_path"])
    args, kwargs = decode_arguments(request["arguments"])
    with running(run_context(request["context"], request["datetimes"])):
        result = function(*args, **kwargs)
        if inspect.iscoroutine(result):
            # asyncio.run copies this context into its task: the run stays current.
            result = asyncio.run(result)
    return result


def _failure(exc: BaseException) -> dict[str, Any]:
    text = "".join(traceback.format_exception(exc))
    return {
        "ok": False,
        "error_type": type(exc).__name__,
        "message": str(exc),
        "traceback": text[-TRACEBACK_CHARS:],
    }


def outcome_of(request: dict[str, Any]) -> dict[str, Any]:
    """The outcome line's content: the result, or what the task raised.

    Every exception is reported, ``SystemExit`` and ``KeyboardInterrupt`` too: they
    ended the task, and the parent must hear how. A result JSON cannot carry is a
    failure of its own (a ``TypeError``), rather than a silently changed value.
    """
    try:
        result = _run(request)
    except BaseException as exc:
        return _failure(exc)
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return _failure(
            TypeError(f"the task returned {type(result).__name__}, which JSON cannot carry: {exc}")
        )
    return {"ok": True, "result": result}


def main() -> int:
    """Read the request, run the task, write the outcome line; exit status 0."""
    result_fd = os.dup(1)
    os.dup2(2, 1)  # the task's prints go to stderr, never into the outcome
    with os.fdopen(result_fd, "w", encoding="utf-8") as channel:
        request = json.loads(sys.stdin.read())
        outcome = outcome_of(request)
        sys.stdout.flush()
        channel.write(json.dumps(outcome) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
