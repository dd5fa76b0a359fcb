"""Tasks in child processes: one fresh Python process per call.

A child is ``sys.executable -m tickwork._process_child``, started with
:func:`asyncio.create_subprocess_exec` rather than :mod:`multiprocessing`, so nothing
is pickled and nothing of the parent (its threads, its event loop, its open
connections) is forked into the child. The parent writes one JSON request on the
child's stdin and reads one JSON outcome line from its stdout; the child points its
own file descriptor 1 at stderr before the task runs, so the task's prints cannot
corrupt that line (see :mod:`tickwork._process_child`). The child's stderr is the
parent's stderr: what a task prints, and a crash report, show up there unchanged.

A fresh process per call costs a start-up (about 0.1-0.3 s) and buys isolation: a
task that leaks memory, crashes the interpreter or never returns is ended by ending
its process, and the next call starts clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from asyncio.subprocess import PIPE, Process
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from ._errors import TaskFailedError
from ._task_call import TaskCall

__all__ = ["ProcessExecutor"]

logger = logging.getLogger("tickwork.executors")

CHILD_MODULE = "tickwork._process_child"
# The folder holding the tickwork package, so the child imports the same tickwork
# even when the parent found it through sys.path rather than an installation.
_TICKWORK_ROOT = str(Path(__file__).resolve().parents[1])


def request_of(call: TaskCall) -> bytes:
    """The JSON request the child reads from its stdin."""
    fields = attrs.asdict(call.context)
    datetimes = [name for name, value in fields.items() if isinstance(value, datetime)]
    for name in datetimes:
        fields[name] = fields[name].isoformat()
    arguments = call.arguments
    if arguments is None and (call.args or call.kwargs):
        # A call built without its stored text (tests, direct use): encode it here.
        from ._task_args import encode_arguments

        arguments = encode_arguments(tuple(call.args), dict(call.kwargs))
    request = {
        "task": call.task,
        "import_path": call.import_path,
        "arguments": arguments,
        "context": fields,
        "datetimes": datetimes,
        "sys_path": list(sys.path),
    }
    return json.dumps(request).encode()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = _TICKWORK_ROOT + (os.pathsep + path if path else "")
    return env


def death_of(returncode: int) -> str:
    """How a child that sent no outcome ended, in words."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by signal {name}"
    return f"exited with code {returncode}"


def outcome_from(task: str, returncode: int, output: bytes) -> object:
    """The task's result from the child's outcome line, or the error to raise.

    :raises TaskFailedError: the task raised (``error_type`` says what), or the child
        died before it wrote an outcome.
    """
    if not output.strip():
        raise TaskFailedError(f"task {task!r} {death_of(returncode)}")
    try:
        outcome: dict[str, Any] = json.loads(output)
    except ValueError:
        raise TaskFailedError(
            f"task {task!r}: its process sent an unreadable outcome ({death_of(returncode)})"
        ) from None
    if outcome.get("ok"):
        return outcome.get("result")
    error_type = str(outcome.get("error_type") or "Exception")
    error = TaskFailedError(str(outcome.get("message") or error_type), error_type=error_type)
    trace = outcome.get("traceback")
    if trace:
        error.add_note(f"in the child process of task {task!r}:\n{trace}")
    raise error


class ProcessExecutor:
    """Runs each call in a child Python process of its own, at most ``max_processes``
    at once (default: the number of CPUs).

    The function is imported in the child by ``call.import_path`` and its arguments
    decoded from ``call.arguments``, so both must make sense there; the result comes
    back through JSON (a tuple comes back as a list, and a result JSON cannot carry
    fails the call with ``error_type="TypeError"``). Whatever the task raised comes
    back as :class:`~tickwork.TaskFailedError` with the exception's class name as
    ``error_type`` and the child's traceback as a note.

    A timeout counts from the call, waiting for a free process included. At the
    timeout, at the cancellation of the caller and at ``aclose(wait=False)`` the child
    (and whatever it started: it leads a session of its own) gets ``SIGTERM``, then
    ``SIGKILL`` after ``kill_grace`` seconds, and is reaped before the call returns.
    """

    def __init__(self, max_processes: int | None = None, *, kill_grace: float = 0.5) -> None:
        if max_processes is not None and max_processes < 1:
            raise ValueError(f"max_processes must be at least 1, got {max_processes!r}")
        self._max_processes = max_processes or os.cpu_count() or 1
        self._kill_grace = kill_grace
        self._slots = asyncio.Semaphore(self._max_processes)
        self._children: set[Process] = set()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"ProcessExecutor(max_processes={self._max_processes}, running={len(self._children)})"
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (then no call is taken)."""
        return self._closed

    @property
    def children(self) -> frozenset[int]:
        """The process ids of the children running now."""
        return frozenset(child.pid for child in self._children)

    async def call(self, call: TaskCall, timeout: float | None) -> object:
        """Run the task in a new child process and return its (JSON) result.

        :raises TimeoutError: the timeout passed; the child was killed and reaped.
        :raises TaskFailedError: the task raised, or its process died.
        :raises RuntimeError: the executor is closed.
        """
        if self._closed:
            raise RuntimeError("ProcessExecutor is closed: it takes no more calls")
        request = request_of(call)
        try:
            async with asyncio.timeout(timeout), self._slots:
                returncode, output = await self._run_child(call.task, request)
        except TimeoutError:
            logger.warning(
                "task %r passed its timeout of %s s; its process was killed", call.task, timeout
            )
            raise
        if self.closed and not output.strip():
            raise TaskFailedError(
                f"task {call.task!r} was stopped: the executor closed ({death_of(returncode)})"
            )
        return outcome_from(call.task, returncode, output)

    async def _run_child(self, task: str, request: bytes) -> tuple[int, bytes]:
        """Start a child, hand it the request, and wait for its outcome and exit.

        Whatever interrupts the wait (the timeout, a cancellation) kills the child and
        reaps it before the interruption goes on.
        """
        if self._closed:  # closed while this call waited for a free process
            raise TaskFailedError(f"task {task!r} not started: the executor closed")
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            CHILD_MODULE,
            stdin=PIPE,
            stdout=PIPE,
            stderr=None,
            env=_child_env(),
            start_new_session=True,
        )
        self._children.add(child)
        try:
            output, _ = await child.communicate(request)
        except BaseException:
            await self._end_shielded(child)
            raise
        finally:
            self._children.discard(child)
        assert child.returncode is not None  # communicate() waited for the exit
        return child.returncode, output

    async def _end_shielded(self, child: Process) -> None:
        """End ``child`` even when the caller is cancelled again meanwhile."""
        ending = asyncio.ensure_future(self._end(child))
        try:
            await asyncio.shield(ending)
        except asyncio.CancelledError:
            _signal(child, signal.SIGKILL)
            raise

    async def _end(self, child: Process) -> None:
        """SIGTERM, a grace, SIGKILL; then reap it (no zombie is left behind)."""
        _signal(child, signal.SIGTERM)
        try:
            await asyncio.wait_for(child.wait(), self._kill_grace)
        except TimeoutError:
            _signal(child, signal.SIGKILL)
            await child.wait()

    async def aclose(self, *, wait: bool) -> None:
        """Take no more calls; wait for the children under way (``wait``), or end them.

        Calls still waiting for a free process fail with :class:`TaskFailedError`.
        """
        self._closed = True
        children = list(self._children)
        if not wait:
            await asyncio.gather(*(self._end(child) for child in children))
        await asyncio.gather(*(child.wait() for child in children))


def _signal(child: Process, signum: signal.Signals) -> None:
    """Signal the child's whole session (it leads it), if it is not reaped yet."""
    if child.returncode is not None:
        return  # reaped: its pid may belong to another process by now
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)
