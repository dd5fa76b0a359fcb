"""A check that a test closed every connection its stores opened to a server.

A store that forgets to close a connection works in a test and exhausts the server's
connection slots in production, hours later. The server's own view (PostgreSQL's
``pg_stat_activity``) needs a privileged query per backend; the one thing every backend
shares is a TCP socket, so this counts the sockets *this process* holds to the server's
address, when the test starts and after it ends. It reads Linux's ``/proc`` (or
``psutil`` where that is installed); closing is often asynchronous, so the end count is
polled for a few seconds before the check fails.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from pathlib import Path

import attrs

from ._service_rule import server_unavailable

__all__ = ["ConnectionLeakCheck", "open_connections"]

_LISTEN = "0A"


def _addresses(host: str, port: int) -> set[str]:
    """Every IP address ``host`` resolves to, in the form ipaddress prints."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return {str(ipaddress.ip_address(info[4][0])) for info in infos}


def _proc_address(hex_address: str) -> tuple[str, int]:
    """An ``/proc/net/tcp[6]`` address (``0100007F:1538``) as (ip, port)."""
    hex_ip, hex_port = hex_address.split(":")
    raw = bytes.fromhex(hex_ip)
    # The kernel prints each 32-bit word in host order (little-endian on x86 and ARM).
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(words)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(hex_port, 16)


def _own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _count_with_proc(addresses: set[str], port: int) -> int:
    inodes = _own_socket_inodes()
    wanted = {(address, port) for address in addresses}
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN or fields[9] not in inodes:
                continue
            if _proc_address(fields[2]) in wanted:
                count += 1
    return count


def open_connections(host: str, port: int) -> int:
    """How many TCP connections this process holds to ``host:port`` (any state but
    listening: one the server closed and this process did not is still a leak)."""
    addresses = _addresses(host, port)
    if Path("/proc/self/net/tcp").exists():
        return _count_with_proc(addresses, port)
    return _count_with_psutil(addresses, port)


def _count_with_psutil(addresses: set[str], port: int) -> int:
    try:
        import psutil  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        server_unavailable(
            "a count of open connections", "this system has no /proc", "install psutil"
        )
    wanted = {(address, port) for address in addresses}
    found = psutil.Process().net_connections(kind="tcp")
    return sum(1 for c in found if c.raddr and (c.raddr.ip, c.raddr.port) in wanted)


@attrs.frozen(kw_only=True)
class ConnectionLeakCheck:
    """The connections to one server when watching began, to compare with at the end."""

    host: str
    port: int
    baseline: int
    #: How long closing may take to show (a pool closes its sockets in the background).
    grace: float = 5.0

    @classmethod
    def start(cls, host: str, port: int, grace: float = 5.0) -> ConnectionLeakCheck:
        return cls(host=host, port=port, baseline=open_connections(host, port), grace=grace)

    def assert_no_leaks(self) -> None:
        """:raises AssertionError: more connections are open than at the start, once
        ``grace`` seconds have passed."""
        deadline = time.monotonic() + self.grace
        while True:
            now = open_connections(self.host, self.port)
            if now <= self.baseline:
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{now - self.baseline} connection(s) to {self.host}:{self.port} were "
                    f"left open ({now} now, {self.baseline} when the test began): a store "
                    "was not closed, or its close() does not release every connection"
                )
            time.sleep(0.02)
