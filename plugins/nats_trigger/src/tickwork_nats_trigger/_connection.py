"""The trigger's NATS connection: opened within a time budget, or borrowed.

The trigger either borrows a connection (a JetStream context given as ``js=``, or the
one a :class:`tickwork_nats_store.NATSStore` already opened) and never closes it, or
opens its own from ``servers=`` in ``start()``. Opening is bounded: nats-py retries a
missing server forever otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from tickwork import StorageConnectionError, StorageOperationError, TickworkError
from tickwork_nats_store import CONNECTION_ERRORS, fail_if_all_refuse

__all__ = [
    "DEFAULT_SERVER",
    "TRANSIENT_ERRORS",
    "client_of",
    "connect",
    "describe",
    "is_transient",
    "parse_servers",
    "phase",
    "wait_for_jetstream",
]

DEFAULT_SERVER = "nats://127.0.0.1:4222"

TRANSIENT_ERRORS = CONNECTION_ERRORS
"""Failures that mean "the server (or its JetStream) did not answer": worth a retry."""

# JetStream API error codes that are temporary: no leader / cluster busy / not current.
_TRANSIENT_API_CODES = frozenset({10008, 10023, 10074, 10077})


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same request later may succeed."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    if isinstance(exc, nats.js.errors.APIError):
        return exc.code == 503 or exc.err_code in _TRANSIENT_API_CODES
    return False


def describe(exc: BaseException) -> str:
    """``Name: text`` of an exception, for messages."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


def parse_servers(servers: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise ``servers``: one URL, a comma-separated string, or a list of URLs.

    :raises ValueError: empty or not strings.
    """
    if servers is None:
        return (DEFAULT_SERVER,)
    items = servers.split(",") if isinstance(servers, str) else list(servers)
    if not all(isinstance(s, str) for s in items):
        raise ValueError(f"servers must be NATS URLs (str or list of str), got {servers!r}")
    urls = tuple(s.strip() for s in items if s.strip())
    if not urls:
        raise ValueError(f"servers must name at least one NATS URL, got {servers!r}")
    return urls


def client_of(js: JetStreamContext) -> Client:
    """The connection under a JetStream context (nats-py keeps it as ``_nc``)."""
    nc: Client = js._nc
    return nc


async def connect(
    servers: Sequence[str],
    *,
    timeout: float,
    options: Mapping[str, Any] | None,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> Client:
    """Connect to the first reachable server, trying for at most ``timeout`` seconds.

    Once connected, the client reconnects forever (a restarted server or another
    cluster node is picked up again). ``options`` go to ``Client.connect`` and win.

    :raises StorageConnectionError: every server refused the connection (at once,
        naming each host and port), or none accepted one in time.
    """
    await fail_if_all_refuse(servers, timeout)
    nc = Client()

    async def on_error(exc: Exception) -> None:
        logger.debug("NATS connection error: %s", describe(exc))

    async def on_disconnected() -> None:
        if not nc.is_closed:
            logger.warning("disconnected from NATS; reconnecting in the background")

    async def on_reconnected() -> None:
        url = nc.connected_url
        logger.info("reconnected to NATS at %s", url.netloc if url else "?")

    kwargs: dict[str, Any] = {
        "servers": list(servers),
        "name": "tickwork-nats-trigger",
        "connect_timeout": max(0.1, min(2.0, timeout)),
        "reconnect_time_wait": 0.5,
        "max_reconnect_attempts": -1,
        "allow_reconnect": True,
        "error_cb": on_error,
        "disconnected_cb": on_disconnected,
        "reconnected_cb": on_reconnected,
    }
    kwargs.update(options or {})
    try:
        await asyncio.wait_for(nc.connect(**kwargs), timeout)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await nc.close()
        if not isinstance(exc, Exception):
            raise
        raise StorageConnectionError(
            f"cannot connect to NATS at {', '.join(servers)} within {timeout:g} s "
            f"({describe(exc)}). Start nats-server 2.12+ with JetStream (nats-server -js) "
            "or pass the right servers=..."
        ) from exc
    return nc


async def wait_for_jetstream(js: JetStreamContext, timeout: float) -> None:
    """Wait until JetStream answers an account-info request (a new cluster answers
    once its meta leader is elected). ``timeout <= 0`` makes one attempt.

    :raises StorageConnectionError: no answer within ``timeout`` seconds.
    :raises StorageOperationError: JetStream answered that it is not enabled.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout, 0.0)
    delay = 0.05
    while True:
        try:
            await js.account_info()
            return
        except Exception as exc:
            if isinstance(exc, nats.js.errors.APIError) and exc.err_code == 10039:
                raise StorageOperationError(
                    f"JetStream is not enabled for this account ({describe(exc)}); start "
                    "the server with -js or enable JetStream in its account config"
                ) from exc
            if not is_transient(exc):
                raise StorageOperationError(
                    f"JetStream account info failed: {describe(exc)}"
                ) from exc
            last: Exception = exc
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise StorageConnectionError(
                f"JetStream did not answer within {timeout:g} s ({describe(last)}). Is the "
                "server started with -js, and does the cluster have a meta leader yet?"
            ) from last
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, 1.0)


@contextlib.asynccontextmanager
async def phase(
    name: str,
    timeout: float,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> AsyncIterator[None]:
    """One bounded, logged step of ``start()``.

    Logs the step's start and its duration; a step that outlives ``timeout`` seconds
    (``<= 0``: unbounded) raises :class:`tickwork.StorageConnectionError` naming it, and
    any other failure is re-raised with the step's name in the message.
    """
    logger.debug("start phase %r ...", name)
    began = time.monotonic()
    deadline = asyncio.timeout(timeout if timeout > 0 else None)
    try:
        async with deadline:
            yield
    except TimeoutError as exc:
        if not deadline.expired():
            raise StorageConnectionError(
                f"NATS trigger start-up phase {name!r} failed: {describe(exc)}"
            ) from exc
        raise StorageConnectionError(
            f"NATS trigger start-up phase {name!r} did not finish within {timeout:g} s "
            "(start_phase_timeout); is the NATS server up, and does the cluster have a "
            "leader?"
        ) from exc
    except TickworkError:
        logger.warning("start phase %r failed after %.3f s", name, time.monotonic() - began)
        raise
    except Exception as exc:
        logger.warning("start phase %r failed after %.3f s", name, time.monotonic() - began)
        error = StorageConnectionError if is_transient(exc) else StorageOperationError
        raise error(f"NATS trigger start-up phase {name!r} failed: {describe(exc)}") from exc
    logger.info("start phase %r done in %.3f s", name, time.monotonic() - began)
