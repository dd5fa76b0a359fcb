"""Worker processes a measurement drives over their stdin and stdout.

A multi-process workload (the NATS trigger's, W7) starts each extra scheduler as a
child running ``python -m benchmarks.<module> SPEC``. The child answers each command on
one line that starts with a word (``imported``, ``ready``, ``samples`` ...); its stderr
goes to a temporary file, shown when it says something unexpected. A child dies with
the measuring process (Linux), so a crashed measurement leaves nothing behind.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["WorkerProcesses", "death_signal"]

ROOT = Path(__file__).resolve().parent.parent


def death_signal() -> Callable[[], None] | None:
    """What a worker runs before ``exec`` so that it dies with this process (Linux).

    Resolved here, before forking: code that runs between fork and exec must not import.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl

    def die_with_parent() -> None:  # pragma: no cover - runs in the forked child
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return die_with_parent


class WorkerProcesses:
    """Child processes started with one spec each; commands go to all of them.

    ``first_number`` is the number the first child has in error messages (the
    measuring process may count itself as worker 1).
    """

    def __init__(self, *, first_number: int = 0) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        self.logs: list[Any] = []
        self._first_number = first_number
        self._die_with_parent = death_signal()

    def spawn(self, module: str, spec: str) -> None:
        log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by kill()
        self.logs.append(log)
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", module, spec],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                preexec_fn=self._die_with_parent,
            )
        )

    def _tell(self, command: str) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(command + "\n")
            process.stdin.flush()

    def _hear(self, process: subprocess.Popen[str], word: str) -> str:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith(word):
            index = self.processes.index(process)
            self.logs[index].seek(0)
            raise RuntimeError(
                f"worker {index + self._first_number} said {line[:200]!r} instead of "
                f"{word!r}; its stderr:\n" + self.logs[index].read()[-3000:]
            )
        return line[len(word) :].strip()

    def imported(self) -> None:
        """Wait until each has imported everything."""
        for process in self.processes:
            self._hear(process, "imported")

    def count(self) -> int:
        """Runs the workers have seen so far, added up."""
        self._tell("count")
        return sum(int(self._hear(p, "count")) for p in self.processes)

    def cpu_seconds(self) -> float:
        """CPU time the workers have used so far."""
        import psutil

        total = 0.0
        for process in self.processes:
            times = psutil.Process(process.pid).cpu_times()
            total += times.user + times.system
        return total

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        for log in self.logs:
            log.close()
