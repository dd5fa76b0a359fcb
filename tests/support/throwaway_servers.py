"""Private PostgreSQL and MariaDB servers that a test may stop, kill and start again.

The machine's shared servers (``support.services``) must never be stopped by a test:
other tests, and other pytest processes, use them. A test that takes a database away
starts one of these instead: its own data folder in a temp dir, a free loopback port,
its unix socket in the temp dir, tuned to start in well under a second (no fsync, small
buffers: a machine crash could lose data, a killed server loses no commit), and stopped
and deleted on :meth:`cleanup`.

Typical use (fixtures in ``tests/faults/conftest.py`` do this for you)::

    server = ThrowawayPostgres().start()   # initdb on first start, then postgres
    url = server.create_database("t1")     # postgresql+asyncpg://postgres@127.0.0.1:<port>/t1
    server.stop()                          # clean, fast stop (clients see the server go)
    server.kill()                          # or SIGKILL, like a crash
    server.start()                         # same port, same data dir: data is back
    server.cleanup()                       # stop and delete the temp dir

The binaries come from the machine: PostgreSQL's ``initdb`` and ``postgres`` from
``$TICKWORK_PG_BINDIR`` or the newest ``/usr/lib/postgresql/*/bin``; MariaDB's
``mariadb-install-db`` and ``mariadbd`` from ``$TICKWORK_MARIADB_BINDIR`` or the PATH
(plus ``/usr/sbin``). PostgreSQL refuses to run as root, so under root its server runs
as the ``postgres`` user (the data dir is handed to it); MariaDB runs as the caller.
Only 127.0.0.1 is ever listened on.

As a safety net, servers still running are killed at interpreter exit, and each server
dies with the process that started it (``PR_SET_PDEATHSIG``), from whichever thread
:meth:`ThrowawayServer.start` is called (``asyncio.to_thread(server.start)`` is fine).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from support.nats_server import free_port

__all__ = [
    "ThrowawayMariaDB",
    "ThrowawayPostgres",
    "ThrowawayServer",
    "ThrowawayServerError",
    "find_mariadb",
    "find_postgres",
    "stopped",
]

ENV_PG_BINDIR = "TICKWORK_PG_BINDIR"
ENV_MARIADB_BINDIR = "TICKWORK_MARIADB_BINDIR"

_LIVE: set[ThrowawayServer] = set()
"""Servers started and not yet stopped (killed at interpreter exit)."""


class ThrowawayServerError(RuntimeError):
    """A server failed to initialize, start or stop; the message ends with its log."""


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_LIVE):
        server.kill()


# Every server is forked from this one thread, which lives as long as the process: the
# death signal follows the thread that forked, and a test may well start a server from
# a short-lived thread (``asyncio.to_thread(server.start)``), whose end would kill it.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="throwaway-server-spawner")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# -- finding the binaries --------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_postgres() -> tuple[Path | None, str]:
    """The directory holding ``initdb`` and ``postgres``: ``(dir, "")`` or ``(None, why)``."""
    override = os.environ.get(ENV_PG_BINDIR)
    if override:
        candidates = [Path(override)]
    else:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key)
        candidates = list(reversed(found))
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            if os.geteuid() == 0:
                try:
                    pwd.getpwnam("postgres")
                except KeyError:
                    return None, "running as root and there is no 'postgres' user to run it"
            return bindir, ""
    where = f"${ENV_PG_BINDIR}={override}" if override else "/usr/lib/postgresql/*/bin or PATH"
    return None, f"no initdb and postgres binaries in {where}"


def find_mariadb() -> tuple[Path | None, str]:
    """The directory holding ``mariadbd`` (its ``mariadb-install-db`` may be elsewhere on
    the PATH): ``(dir, "")`` or ``(None, why)``."""
    override = os.environ.get(ENV_MARIADB_BINDIR)
    if override:
        bindir = Path(override)
        if (bindir / "mariadbd").is_file():
            return bindir, ""
        return None, f"no mariadbd in ${ENV_MARIADB_BINDIR}={override}"
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    server = shutil.which("mariadbd", path=search)
    if server is None:
        return None, "no mariadbd binary on the PATH or in /usr/sbin"
    if shutil.which("mariadb-install-db", path=search) is None:
        return None, "no mariadb-install-db binary on the PATH"
    return Path(server).parent, ""


# -- the common part ---------------------------------------------------------------------------


class ThrowawayServer:
    """One database server process on a loopback port, with its own data dir.

    Subclasses say how to initialize the data dir, which command runs the server, how
    to ask whether it is ready, and which signal stops it cleanly.
    """

    host = "127.0.0.1"
    kind = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, *, port: int | None = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"tickwork-{self.kind}-"))
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "server.log"
        self.port = port or free_port(self.host)
        self._process: subprocess.Popen[bytes] | None = None
        self._initialized = False
        self._log_offset = 0

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"{type(self).__name__}({self.host}:{self.port}, {state}, {str(self.workdir)!r})"

    # -- to be provided by subclasses ------------------------------------------------------

    def _initialize(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _server_user(self) -> str | None:
        """The user the server and its set-up run as (``None``: the caller)."""
        return None

    def ready(self) -> bool:
        """Whether the server answers a query right now."""
        raise NotImplementedError

    def url(self, database: str) -> str:
        """The SQLAlchemy URL (async driver) of ``database`` on this server."""
        raise NotImplementedError

    def create_database(self, name: str) -> str:
        """Create (or empty, by recreating) database ``name``; return its URL."""
        raise NotImplementedError

    # -- state -------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> ThrowawayServer:
        """Initialize the data dir on the first call, start the server on its port and
        wait until it answers queries.

        :raises ThrowawayServerError: it exited or was not ready within ``timeout``.
        """
        if self.running:
            raise ThrowawayServerError(f"{self!r} is already running")
        if not self._initialized:
            self._initialize()
            self._initialized = True
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            command, user = self._command(), self._server_user()
            self._process = _spawner.submit(
                lambda: subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    user=user,
                    group=user,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                )
            ).result()
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self._process.poll() is not None:
                raise ThrowawayServerError(f"{self.kind} exited early:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise ThrowawayServerError(
                    f"{self.kind} on port {self.port} not ready after {timeout:g} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Stop cleanly and quickly (open sessions are ended; clients see the server go),
        SIGKILLing it if it takes longer than ``timeout``."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL the server (a crash) and reap it. The next :meth:`start` recovers."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        _LIVE.discard(self)

    def restart(self, *, kill: bool = False, timeout: float = 30.0) -> ThrowawayServer:
        """Stop (or ``kill``) if running, then start again on the same port and data."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start(timeout)

    def cleanup(self) -> None:
        """Stop the server and delete its temp dir (data included)."""
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ThrowawayServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- helpers -----------------------------------------------------------------------------

    def _run(self, command: list[str], what: str, *, as_server_user: bool = False) -> str:
        """Run a client or set-up command; its output, or an error with its output."""
        user = self._server_user() if as_server_user else None
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=self.workdir,
            user=user,
            group=user,
        )
        if result.returncode != 0:
            raise ThrowawayServerError(
                f"{what} failed with exit code {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}\n{self.log_tail()}"
            )
        return str(result.stdout)

    def log_tail(self, lines: int = 30) -> str:
        """The server log's last lines since the last start (for failure messages)."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"database names here are lowercase identifiers, got {name!r}")
    return name


# -- PostgreSQL ----------------------------------------------------------------------------------


class ThrowawayPostgres(ThrowawayServer):
    """A private PostgreSQL server: trust authentication for ``postgres`` on 127.0.0.1.

    :meth:`stop` is PostgreSQL's *fast* shutdown (SIGINT): sessions are ended at once,
    as when an operator restarts the server.
    """

    kind = "postgresql"
    stop_signal = signal.SIGINT

    def __init__(self, *, port: int | None = None, bindir: Path | None = None) -> None:
        if bindir is None:
            bindir, why = find_postgres()
            if bindir is None:
                raise ThrowawayServerError(why)
        self.bindir = bindir
        super().__init__(port=port)
        self.socket_dir = self.workdir / "socket"
        self._user: str | None = "postgres" if os.geteuid() == 0 else None

    def _server_user(self) -> str | None:
        return self._user

    def _initialize(self) -> None:
        self.socket_dir.mkdir()
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            for path in (self.workdir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.log_path.touch()
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        command = [
            str(self.bindir / "initdb"),
            "-D", str(self.data_dir),
            "-U", "postgres",
            "-A", "trust",
            "-E", "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        self._run(command, "initdb", as_server_user=True)

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            # No fsync (only a machine crash would lose data), but every commit is
            # written to the OS before it is acknowledged: a SIGKILLed server keeps
            # every commit, as a real one does.
            "fsync": "off",
            "synchronous_commit": "on",
            "full_page_writes": "off",
            "shared_buffers": "16MB",
            "max_connections": "100",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        command = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        return command

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with ``psql`` over TCP; its unaligned output."""
        command = [
            str(self.bindir / "psql") if (self.bindir / "psql").is_file() else "psql",
            "-h", self.host,
            "-p", str(self.port),
            "-U", "postgres",
            "-d", database,
            "-X", "-q", "-A", "-t",
            "-v", "ON_ERROR_STOP=1",
            "-c", sql,
        ]  # fmt: skip
        return self._run(command, f"psql {sql!r}")

    def ready(self) -> bool:
        try:
            return self.psql("SELECT 1").strip() == "1"
        except (ThrowawayServerError, subprocess.SubprocessError, OSError):
            return False

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/{_check_name(database)}"

    def create_database(self, name: str) -> str:
        _check_name(name)
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)


# -- MariaDB -------------------------------------------------------------------------------------


class ThrowawayMariaDB(ThrowawayServer):
    """A private MariaDB server: ``root`` without a password on 127.0.0.1.

    :meth:`stop` is SIGTERM, MariaDB's normal shutdown: connections are closed, then the
    server exits (with the small settings here, in well under a second).
    """

    kind = "mariadb"
    stop_signal = signal.SIGTERM

    def __init__(self, *, port: int | None = None, bindir: Path | None = None) -> None:
        if bindir is None:
            bindir, why = find_mariadb()
            if bindir is None:
                raise ThrowawayServerError(why)
        self.bindir = bindir
        super().__init__(port=port)
        self.socket_path = self.workdir / "mariadb.sock"

    def _initialize(self) -> None:
        search = os.pathsep.join([str(self.bindir), os.environ.get("PATH", ""), "/usr/bin"])
        install = shutil.which("mariadb-install-db", path=search) or "mariadb-install-db"
        command = [
            install,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        self._run(command, "mariadb-install-db")

    def _command(self) -> list[str]:
        command = [
            str(self.bindir / "mariadbd"),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.workdir / 'mariadb.pid'}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            # Written to the OS at each commit (kept by a SIGKILLed server), synced
            # once a second (lost only by a machine crash).
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-doublewrite=0",
            "--innodb-flush-method=nosync",
            "--max-connections=200",
            "--log-warnings=1",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        return command

    def mariadb(self, sql: str) -> str:
        """Run ``sql`` with the ``mariadb`` client over TCP; its tab-separated output."""
        search = os.pathsep.join([str(self.bindir), os.environ.get("PATH", ""), "/usr/bin"])
        client = shutil.which("mariadb", path=search) or shutil.which("mysql", path=search)
        command = [
            client or "mariadb",
            "--no-defaults",
            "--protocol=TCP",
            "-h", self.host,
            "-P", str(self.port),
            "-u", "root",
            "--batch",
            "--skip-column-names",
            "-e", sql,
        ]  # fmt: skip
        return self._run(command, f"mariadb {sql!r}")

    def ready(self) -> bool:
        try:
            return self.mariadb("SELECT 1").strip() == "1"
        except (ThrowawayServerError, subprocess.SubprocessError, OSError):
            return False

    def url(self, database: str) -> str:
        return f"mysql+aiomysql://root@{self.host}:{self.port}/{_check_name(database)}"

    def create_database(self, name: str) -> str:
        _check_name(name)
        self.mariadb(
            f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4"
        )
        return self.url(name)


@contextlib.contextmanager
def stopped(server: ThrowawayServer, *, kill: bool = False) -> Iterator[None]:
    """``with stopped(server):`` the server is down inside the block and started again
    (same port, same data) when the block ends, however it ends."""
    if kill:
        server.kill()
    else:
        server.stop()
    try:
        yield
    finally:
        server.start()
