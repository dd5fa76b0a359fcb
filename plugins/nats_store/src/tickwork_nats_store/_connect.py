"""Opening a NATS connection within a time budget, and waiting for JetStream.

``nats.connect`` with unlimited reconnects retries a missing server forever, and a
JetStream API call made while a cluster's meta leader is still being elected hangs
until its timeout. Both are bounded here, so ``initialize()`` either succeeds or
raises :class:`tickwork.StorageConnectionError` within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from tickwork import StorageConnectionError, StorageOperationError, StoreURLError

from ._errors import is_connection_error

__all__ = ["DEFAULT_SERVER", "connect", "parse_servers", "shown_server", "wait_for_jetstream"]

logger = logging.getLogger("tickwork.nats")

DEFAULT_SERVER = "nats://127.0.0.1:4222"
_DEFAULT_PORT = 4222

# JetStream answered "not enabled for this account": waiting will not help.
_JETSTREAM_NOT_ENABLED = frozenset({10039})


def parse_servers(servers: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise ``servers``: one URL, a comma-separated string, or a list of URLs."""
    if servers is None:
        return (DEFAULT_SERVER,)
    items = servers.split(",") if isinstance(servers, str) else list(servers)
    urls = tuple(s.strip() for s in items if isinstance(s, str) and s.strip())
    if not urls or len(urls) != len([s for s in items if not isinstance(s, str) or s.strip()]):
        shown = repr(servers) if "@" not in repr(servers) else type(servers).__name__
        raise StoreURLError(
            "servers must be NATS URLs such as nats://HOST:4222 (a str, comma-separated, "
            f"or a list of str), got {shown}"
        )
    for url in urls:
        _check_userinfo(url)
    return urls


def shown_server(url: str) -> str:
    """``url`` for logs and ``repr``: a password or token replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _password = userinfo.partition(":")
    hidden = f"{user}:***" if colon else "***"
    return f"{scheme}://{hidden}@{host}{slash}{path}"


def _check_userinfo(url: str) -> None:
    """Refuse a URL whose user name, password or token holds a raw ``@``: the rest of
    it would be taken for the host, and the connection would fail far from the cause.
    Only what follows the last ``@`` is shown (the rest is a secret)."""
    netloc = url.partition("://")[2].partition("/")[0]
    if netloc.count("@") > 1:
        host = netloc.rpartition("@")[2]
        raise StoreURLError(
            f"the NATS URL for {host!r} has an '@' in its user name, password or token, "
            "which nats-py cannot read even URL-encoded (it does not decode %40): put them "
            "in connect_options={'user': ..., 'password': ...} (or {'token': ...}) instead; "
            "in a tickwork config file, [scheduler.store_options] connect_options = "
            "{user = ..., password = ...}"
        )


async def connect(
    servers: Sequence[str],
    *,
    timeout: float,
    reconnect_time_wait: float,
    options: Mapping[str, Any] | None = None,
) -> Client:
    """Connect to the first reachable server, retrying for at most ``timeout`` seconds.

    The connection reconnects forever once established (a restarted server is picked up
    again); ``options`` are passed to :meth:`nats.aio.client.Client.connect` and win
    over these defaults.

    :raises StorageConnectionError: every server refused the connection (at once:
        nothing listens there), or none accepted one in time.
    """
    await fail_if_all_refuse(servers, timeout)
    nc = Client()
    kwargs: dict[str, Any] = {
        "servers": list(servers),
        "name": "tickwork-nats-store",
        "connect_timeout": max(0.1, min(2.0, timeout)),
        "reconnect_time_wait": reconnect_time_wait,
        "max_reconnect_attempts": -1,
        "allow_reconnect": True,
        "error_cb": _on_error,
        "disconnected_cb": _disconnected_cb(nc),
        "reconnected_cb": _reconnected_cb(nc),
    }
    kwargs.update(options or {})
    try:
        await asyncio.wait_for(nc.connect(**kwargs), timeout)
    except Exception as exc:
        await _close_quietly(nc)
        raise StorageConnectionError(
            f"cannot connect to NATS at {', '.join(map(shown_server, servers))} within "
            f"{timeout:g} s: "
            f"{type(exc).__name__}: {exc}. Start nats-server with JetStream (nats-server -js) "
            "or pass the right servers=..."
        ) from exc
    except asyncio.CancelledError:
        await _close_quietly(nc)
        raise
    logger.debug("connected to NATS at %s", nc.connected_url.netloc if nc.connected_url else "?")
    return nc


async def fail_if_all_refuse(servers: Sequence[str], timeout: float) -> None:
    """Fail at once when every server's port refuses a TCP connection.

    nats-py retries a refused port until the time budget is spent and then reports a
    bare timeout; a refusal means nothing listens there (a wrong port, a server not
    started), which waiting seldom fixes, so it is reported in a moment, naming each
    host and port. A server that does not answer at all (a firewall) is still given
    the whole budget.

    :raises StorageConnectionError: every server refused.
    """
    addresses = [address for url in servers if (address := _address(url)) is not None]
    if not addresses or len(addresses) < len(servers):
        return  # a URL this cannot read: let nats-py report it
    budget = max(0.05, min(1.0, timeout))
    refusals = await asyncio.gather(*(_refusal(host, port, budget) for host, port in addresses))
    if all(refusal is not None for refusal in refusals):
        where = ", ".join(f"{host}:{port}" for host, port in addresses)
        raise StorageConnectionError(
            f"cannot connect to NATS: connection refused at {where} (nothing listens "
            "there). Start nats-server with JetStream there (nats-server -js -p PORT) "
            "or pass the right servers=..."
        ) from refusals[0]


def _address(url: str) -> tuple[str, int] | None:
    """``(host, port)`` of a NATS URL (port 4222 when not given), or None."""
    try:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        port = parts.port or _DEFAULT_PORT
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname else None


async def _refusal(host: str, port: int, timeout: float) -> ConnectionRefusedError | None:
    """The refusal of a TCP connection to ``host:port``; None when it accepts one, or
    cannot be reached in ``timeout`` (only a refusal is certain)."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except ConnectionRefusedError as exc:
        return exc
    except (OSError, TimeoutError):
        return None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def wait_for_jetstream(js: JetStreamContext, timeout: float) -> None:
    """Wait until JetStream answers an account-info request.

    A freshly started cluster answers only once its meta leader is elected; this turns
    the hang into a bounded wait. ``timeout <= 0`` makes a single attempt.

    :raises StorageConnectionError: JetStream did not answer within ``timeout`` seconds.
    :raises StorageOperationError: JetStream answered that it is not enabled.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout, 0.0)
    delay = 0.05
    while True:
        try:
            await js.account_info()
            return
        except nats.js.errors.APIError as exc:
            if exc.err_code in _JETSTREAM_NOT_ENABLED:
                raise StorageOperationError(
                    f"JetStream is not enabled for this account: {exc}. "
                    "Enable it on the server (nats-server -js) or in the account config."
                ) from exc
            last: Exception = exc
            if not is_connection_error(exc):
                raise StorageOperationError(f"JetStream account info failed: {exc}") from exc
        except nats.errors.ConnectionClosedError as exc:
            raise StorageConnectionError(
                "the NATS connection is closed: open a new one (nats-py does not reopen a "
                "closed connection)"
            ) from exc
        except Exception as exc:
            if not is_connection_error(exc):
                raise StorageOperationError(f"JetStream account info failed: {exc}") from exc
            last = exc
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise StorageConnectionError(
                f"JetStream did not answer within {timeout:g} s ({type(last).__name__}: "
                f"{last}). Is the server started with JetStream enabled (nats-server -js), "
                "and does the cluster have a meta leader?"
            ) from last
        logger.debug("JetStream not ready yet (%s); retrying", type(last).__name__)
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, 1.0)


async def _close_quietly(nc: Client) -> None:
    try:
        await nc.close()
    except Exception:  # the connection never opened: nothing to release
        logger.debug("closing a failed NATS connection raised", exc_info=True)


async def _on_error(exc: Exception) -> None:
    if isinstance(exc, OSError | nats.errors.NoServersError | nats.errors.TimeoutError):
        logger.debug("NATS connection error: %s: %s", type(exc).__name__, exc)
    else:
        logger.warning("NATS error: %s: %s", type(exc).__name__, exc)


def _disconnected_cb(nc: Client) -> Any:
    async def _on_disconnected() -> None:
        if nc.is_closed:
            logger.debug("NATS connection closed")
        else:
            logger.warning("disconnected from NATS; reconnecting in the background")

    return _on_disconnected


def _reconnected_cb(nc: Client) -> Any:
    async def _on_reconnected() -> None:
        url = nc.connected_url
        logger.info("reconnected to NATS at %s", url.netloc if url else "?")

    return _on_reconnected
