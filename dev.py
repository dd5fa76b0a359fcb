#!/usr/bin/env python3
"""Set up the development environment and run the project's two main commands.

    python3 dev.py demo     # install everything, then run `tickwork demo`
    python3 dev.py test     # install everything, then lint, type-check and run every test

It needs only Python 3.11+ and pip: it installs a pinned `uv` into `.tools/`, and uv
installs the locked workspace (core, plugins, example plugin, dev tools) into `.venv/`.
Extra arguments after `test` go to pytest (one run); without them the suite runs as
two pytest processes at once (see `run_in_two`). After `demo`, they go to `tickwork demo`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.13.9"
BIN = "Scripts" if os.name == "nt" else "bin"

# Services the integration tests use, and how this machine's kind starts them.
SERVICES = {
    "PostgreSQL": (
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "MariaDB": (3306, "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"),
    "NATS 2.9 (for the 'server too old' test)": (
        4222,
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
        "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
    ),
}


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*cmd: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    say(" ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check, env=env).returncode


# The browser tests (tests/integration/web/browser) drive the system's Chromium through
# the system's chromedriver; nothing downloads a browser at install or test time.
BROWSER_FILES = (Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver"))
BROWSER_PACKAGES = ("chromium", "chromium-driver")


def ensure_browser() -> None:
    """Install Debian's chromium and chromium-driver when either binary is missing.

    Best effort: without apt-get (or root) it says so and the browser tests report
    Chromium missing (a failure under CI=true, a skip elsewhere).
    """
    if all(path.exists() for path in BROWSER_FILES):
        return
    missing = ", ".join(str(path) for path in BROWSER_FILES if not path.exists())
    if shutil.which("apt-get") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        say(f"browser tests need {missing}: install {' '.join(BROWSER_PACKAGES)} as root")
        return
    say(f"{missing} missing: installing {' '.join(BROWSER_PACKAGES)} from Debian's packages")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", check=False, env=env)
    apt = ("apt-get", "install", "-y", "--no-install-recommends", *BROWSER_PACKAGES)
    if run(*apt, check=False, env=env) != 0:
        say("installing the browser failed; the browser tests will report Chromium missing")


def setup() -> None:
    """Install uv (pinned), sync the locked workspace into .venv, install the test browser."""
    if sys.version_info < (3, 11):
        sys.exit(f"tickwork needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    ensure_browser()
    uv = TOOLS / BIN / "uv"
    if not uv.exists():
        run(sys.executable, "-m", "venv", TOOLS)
        run(TOOLS / BIN / "python", "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}")
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(VENV))
    run(uv, "sync", "--all-packages", "--frozen", "--python", sys.executable, env=env)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def ensure_services() -> None:
    """Start the machine's database and NATS services when they are down (best effort)."""
    for name, (port, command) in SERVICES.items():
        if port_open(port):
            continue
        executable = command.split()[0]
        if shutil.which(executable) is None:
            say(f"{name} is down (port {port}) and cannot be started here: no {executable}")
            continue
        say(f"{name} is not running on port {port}; starting it")
        subprocess.run(command, shell=True, cwd=ROOT, check=False)
        for _ in range(60):
            if port_open(port):
                break
            time.sleep(0.5)
        say(f"{name}: {'up' if port_open(port) else 'still down'}")


def test(extra: list[str]) -> int:
    """Lint, type-check and run the whole test suite; non-zero on any failure."""
    py = VENV / BIN
    ensure_services()
    steps = [
        [py / "ruff", "check", "."],
        [py / "ruff", "format", "--check", "."],
        [py / "mypy"],
    ]
    for step in steps:
        if run(*step, check=False) != 0:
            say(f"failed: {' '.join(str(s) for s in step)}")
            return 1
    if extra:
        return run(py / "pytest", *extra, check=False)
    return run_in_two(py / "pytest")


# Tests that use only servers they start themselves (their own PostgreSQL, MariaDB and
# NATS, on free loopback ports), most of which spend their time waiting on purpose (an
# outage held for 30 s, workers on a one-second grid), and the NATS store's tests. They
# run in a second pytest beside the rest, which keeps the whole command near half its
# serial time on two cores. Everything that uses the machine's shared servers stays in
# the main run: its tests count the connections to the shared `test` databases.
BESIDE = [
    "tests/faults",
    "tests/integration/nats",
    "tests/integration/nats_trigger/test_nats_trigger_basics.py",
    "tests/integration/nats_trigger/test_nats_trigger_cluster.py",
    "tests/integration/nats_trigger/test_nats_trigger_policies.py",
    "tests/integration/nats_trigger/test_nats_trigger_round_trips.py",
    "tests/integration/nats_trigger/test_nats_trigger_timing.py",
    "tests/integration/nats_trigger/test_nats_trigger_workers.py",
]


def run_in_two(pytest: Path) -> int:
    """The whole suite as two pytest runs at once; non-zero if either fails.

    The second run's output goes to a file and is printed after the main run's, so
    neither interleaves with the other.
    """
    scratch = Path(tempfile.gettempdir())
    log = scratch / "tickwork-tests-beside.log"
    beside_cmd = [str(pytest), "--basetemp", str(scratch / "tickwork-pytest-beside"), *BESIDE]
    say(" ".join(beside_cmd) + f"  (beside the main run; output in {log})")
    with open(log, "w") as out:
        beside = subprocess.Popen(beside_cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        ignored = [f"--ignore={path}" for path in BESIDE]
        main = run(pytest, "--basetemp", scratch / "tickwork-pytest-main", *ignored, check=False)
        beside_code = beside.wait()
    finally:
        if beside.poll() is None:
            beside.kill()
    say(f"the run beside ({' '.join(BESIDE)}):")
    print(log.read_text(), flush=True)
    if main or beside_code:
        say(f"failed: main run exit {main}, run beside exit {beside_code}")
        return main or beside_code
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "setup"}:
        print(__doc__)
        return 2
    setup()
    command, extra = argv[0], argv[1:]
    if command == "setup":
        return 0
    if command == "demo":
        return run(VENV / BIN / "tickwork", "demo", *extra, check=False)
    return test(extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
