"""The environment APScheduler 4's side runs in: a virtualenv of its own, made on first use.

Why not the workspace venv: APScheduler 3.11 (the ``apscheduler`` side) and 4.0.0a6 are
both the import package ``apscheduler``, and one environment holds one version. A second
environment under ``.tools/venv-aps4`` (gitignored, like the rest of ``.tools/``) holds
4.0.0a6 with the workspace's own versions of SQLAlchemy (and greenlet), asyncpg, aiosqlite
and psutil, so both APScheduler versions and tickwork reach the databases through the same
drivers. It has no tickwork at all: a child on that interpreter cannot import it by mistake.

The runner (the parent process) calls :func:`interpreter` once per run, before the first
``apscheduler4`` measurement; the environment is created or brought up to date then (about
a second with uv's cache, a few with downloads from PyPI). ``uv`` is used when there is one
(``.tools/bin/uv`` or on ``PATH``), else ``python -m venv`` and pip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, build it before parallel runs
    fcntl = None  # type: ignore[assignment]

from ._common import Unavailable

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("TICKWORK_BENCH_APS4_VENV", ROOT / ".tools" / "venv-aps4"))
APSCHEDULER4 = "apscheduler==4.0.0a6"
SHARED = ("sqlalchemy", "greenlet", "asyncpg", "aiosqlite", "sniffio", "psutil")
"""Installed at the workspace's own versions (the drivers tickwork is measured with)."""
STAMP = "bench-requirements.txt"


def requirements() -> list[str]:
    """APScheduler 4.0.0a6 and the shared packages pinned to the workspace's versions."""
    pinned = [APSCHEDULER4]
    for name in SHARED:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _uv() -> str | None:
    local = ROOT / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise Unavailable(
            f"could not build APScheduler 4's environment in {VENV} "
            f"({' '.join(command[:3])} ...: {' / '.join(tail)}); delete that folder and retry, "
            "or check that PyPI is reachable"
        )


def _create(venv: Path, wanted: list[str]) -> None:
    uv = _uv()
    if not _python(venv).exists():
        if uv is not None:
            _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
        else:
            _run([sys.executable, "-m", "venv", str(venv)])
    if uv is not None:
        _run([uv, "pip", "install", "--quiet", "--python", str(_python(venv)), *wanted])
    else:
        _run([str(_python(venv)), "-m", "pip", "install", "--quiet", *wanted])


def interpreter() -> str:
    """The Python of APScheduler 4's environment, created or updated when needed.

    :raises Unavailable: the environment cannot be built (no network to PyPI ...).
    """
    wanted = requirements()
    stamp = VENV / STAMP
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(VENV.parent / f"{VENV.name}.lock"):
        current = stamp.read_text(encoding="utf-8").split() if stamp.exists() else None
        if current != wanted or not _python(VENV).exists():
            _create(VENV, wanted)
            stamp.write_text("\n".join(wanted) + "\n", encoding="utf-8")
    return str(_python(VENV))


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One benchmark command at a time builds the environment (two smoke tests at once
    would otherwise install into the same folder together)."""
    with open(path, "a", encoding="utf-8") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
