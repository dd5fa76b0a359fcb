"""The distributions as a pip user gets them: built as wheels, installed with plain pip
into a new virtual environment, and run there.

This is the one check that the wheels hold what the workspace install hides: every
module and entry point packaged, dependencies declared (not just present in the dev
environment), the SQL drivers left to their extras. It uses no service but PyPI, and
PyPI only the first time: the dependencies are downloaded once into a wheelhouse under
the system's temporary directory and installed from there with ``--no-index`` after
(re-downloaded only when an install from it fails, e.g. after a dependency changed).
"""

from __future__ import annotations

import ensurepip
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tickwork.testing import server_unavailable

ROOT = Path(__file__).resolve().parents[2]
CACHE = (
    Path(tempfile.gettempdir())
    / f"tickwork-wheel-test-py{sys.version_info[0]}{sys.version_info[1]}"
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _uv() -> str:
    """uv, as ``dev.py`` installs it, or from PATH."""
    pinned = ROOT / ".tools" / ("Scripts" if os.name == "nt" else "bin") / "uv"
    found = str(pinned) if pinned.exists() else shutil.which("uv")
    if found is None:
        server_unavailable("uv", "not in .tools/ nor on PATH", "run python3 dev.py setup")
    return found


def _run(*cmd: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or a failure that shows it."""
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(str(c) for c in cmd)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
        )
    return done.stdout


def _clean_env(venv: Path) -> dict[str, str]:
    """The environment of a user's shell with the new venv activated: nothing of this
    test run's environment (its venv, TICKWORK_* variables) leaks in."""
    env = {k: v for k, v in os.environ.items() if k in {"HOME", "LANG", "TMPDIR", "CI"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def _new_venv(path: Path) -> list[str]:
    """A virtual environment without pip, and the plain-pip command that installs into
    it: the pip wheel bundled with Python, run from the wheel (no install, no download);
    a full ``venv`` with pip where Python ships no bundled wheel."""
    bundled = sorted((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))
    if not bundled:
        _run(sys.executable, "-m", "venv", path)
        return [str(path / "bin" / "python"), "-m", "pip"]
    _run(sys.executable, "-m", "venv", "--without-pip", path)
    return [str(path / "bin" / "python"), str(bundled[-1] / "pip")]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every distribution of the workspace, built as a wheel by ``uv build``."""
    dist = tmp_path_factory.mktemp("dist")
    _run(_uv(), "build", "--all-packages", "--wheel", "--no-build-logs", "-o", dist)
    return dist


def _names(wheels: Path) -> list[str]:
    return sorted(w.name.split("-")[0].replace("_", "-") for w in wheels.glob("*.whl"))


def _install(pip: list[str], wheels: Path, env: dict[str, str]) -> None:
    """Install every wheel and its dependencies, from the wheelhouse if it has them."""
    wheelhouse = CACHE / "wheelhouse"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    quiet = ["--disable-pip-version-check", "--no-input", "-q"]
    install = [
        *pip,
        "install",
        *quiet,
        "--find-links",
        wheels,
        "--find-links",
        wheelhouse,
    ]
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        offline = subprocess.run(
            [*map(str, install), "--no-index", *_names(wheels)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        if offline.returncode == 0:
            return
        download = [*pip, "download", *quiet, "--dest", wheelhouse, "--find-links", wheels]
        _run(*download, "--cache-dir", CACHE / "pip-cache", *_names(wheels), env=env)
        for ours in wheelhouse.glob("tickwork*.whl"):  # ours come from this build only
            ours.unlink()
    _run(*install, "--no-index", *_names(wheels), env=env)


@pytest.fixture(scope="module")
def venv(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with every wheel installed by plain pip."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    pip = _new_venv(path)
    _install(pip, wheels, _clean_env(path))
    return path


def test_tickwork_plugins_lists_every_distribution(venv: Path, wheels: Path) -> None:
    out = _run(venv / "bin" / "tickwork", "plugins", env=_clean_env(venv))
    for name in _names(wheels):
        assert f" {name} " in out, f"{name} registers nothing in a pip install:\n{out}"
    for entry_point in ("sqlalchemy_store", "nats_store", "nats_trigger", "rrule"):
        assert f" {entry_point} " in out
    assert "failed to load" not in out


def test_tickwork_demo_runs_on_sqlite(venv: Path, tmp_path: Path) -> None:
    out = _run(
        venv / "bin" / "tickwork", "demo", "--seconds", "1.5", cwd=tmp_path, env=_clean_env(venv)
    )
    assert "heartbeat" in out
    assert "in memory" not in out
    assert (tmp_path / "tickwork-demo.db").is_file()


def test_tickwork_demo_with_only_the_core_runs_in_memory(venv: Path, tmp_path: Path) -> None:
    env = _clean_env(venv) | {"TICKWORK_PLUGINS": ""}
    out = _run(venv / "bin" / "tickwork", "demo", "--seconds", "1.2", cwd=tmp_path, env=env)
    assert "no SQL store is installed" in out
    assert list(tmp_path.iterdir()) == []


def test_a_server_url_without_its_extra_names_it(venv: Path) -> None:
    """The plain install has no PostgreSQL driver: the store says which extra brings it
    before it tries to connect (nothing is contacted)."""
    script = (
        "import asyncio, tickwork\n"
        "store = tickwork.create_store('postgresql://nobody@127.0.0.1:9/none')\n"
        "try:\n"
        "    asyncio.run(store.initialize())\n"
        "except tickwork.TickworkError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = _run(venv / "bin" / "python", "-c", script, env=_clean_env(venv))
    assert out.startswith("MissingDriverError ")
    assert "pip install 'tickwork-sqlalchemy-store[postgresql]'" in out
