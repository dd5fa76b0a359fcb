"""PostgreSQL's LISTEN/NOTIFY as the store's change signal
(:class:`tickwork.abc.ChangeSignalingStore`).

A signal is ``SELECT pg_notify(channel, payload)``: the payload is the JSON of
:class:`tickwork.ChangePayload` (the sending store object's tag and the ids of the jobs
that changed), and the channel and payload travel as bound parameters, never in the
SQL text. PostgreSQL refuses a payload of 8000 bytes or more: past that the signal
says "everything" instead of naming the jobs, and a payload that cannot be read (an
older tickwork's bare tag) counts as "everything" too. A listener holds one pooled asyncpg
connection for as long as it listens and is told of notifications by the driver; the
server delivers a notification only after the transaction that sent it commits, and
only to sessions in the same database.

The channel is named after the store's schema, so stores in different schemas of one
database do not wake each other. PostgreSQL identifiers are at most 63 bytes: a
schema name too long for that is replaced by a digest of it. Two schemas that happen
to share a channel only cost each other a poll that finds nothing, since a signal only
wakes a poll. asyncpg quotes the channel when it sends ``LISTEN``, so any name is a
valid identifier there.

A listener learns that its connection is gone from the driver (the socket closed: the
server restarted, or the backend was terminated), and from a ``SELECT 1`` after
:data:`PING_AFTER` seconds without news (a connection cut without the socket closing
would otherwise stay silent forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Collection
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import tickwork
from tickwork import ChangePayload
from tickwork.abc import ChangedJobs

from ._errors import connection_error, reason
from ._runners import Runner

__all__ = ["CHANNEL_PREFIX", "PING_AFTER", "ChangeChannel", "channel_name"]

CHANNEL_PREFIX = "tickwork_jobs"

#: Seconds without a notification after which the listening connection is checked.
PING_AFTER = 10.0
_PING_TIMEOUT = 5.0

# NAMEDATALEN - 1: PostgreSQL refuses (pg_notify) or cuts (LISTEN) longer channel names.
_LONGEST_IDENTIFIER = 63

#: The longest payload PostgreSQL accepts (it must be shorter than 8000 bytes).
LONGEST_PAYLOAD = 7999

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
_LOST: Literal["lost"] = "lost"


def channel_name(schema: str | None) -> str:
    """The notification channel of the store's tables in ``schema`` (None: the
    connection's default schema)."""
    if schema is None:
        return CHANNEL_PREFIX
    name = f"{CHANNEL_PREFIX}:{schema}"
    if len(name.encode()) <= _LONGEST_IDENTIFIER:
        return name
    return f"{CHANNEL_PREFIX}:{hashlib.sha256(schema.encode()).hexdigest()[:32]}"


class ChangeChannel:
    """Sends and hears the store's "jobs changed" notifications."""

    def __init__(self, schema: str | None, where: str) -> None:
        self.name = channel_name(schema)
        # Sent with each notification, so a listener can leave out its own store's.
        self.sender = secrets.token_hex(8)
        self._where = where

    async def signal(self, runner: Runner, job_ids: Collection[str] | None) -> None:
        payload = ChangePayload.of(self.sender, job_ids).encode(LONGEST_PAYLOAD)
        parameters = {"channel": self.name, "payload": payload.decode()}

        def notify(conn: Connection) -> None:
            conn.execute(_NOTIFY, parameters)

        await runner.transaction("signal a job change", notify)

    @contextlib.asynccontextmanager
    async def listen(self, engine: AsyncEngine) -> AsyncIterator[AsyncIterator[ChangedJobs]]:
        """Listen on a connection of ``engine``'s pool; the iterator yields once per
        batch of notifications from other store objects, what they named together."""
        try:
            conn = await engine.connect()
        except Exception as exc:
            raise connection_error(exc, self._where) from exc
        heard: asyncio.Queue[ChangedJobs | Literal["lost"]] = asyncio.Queue()

        def on_notification(_c: Any, _pid: int, _channel: str, body: str) -> None:
            payload = ChangePayload.decode(body)
            if payload.sender != self.sender:
                heard.put_nowait(payload.job_ids)

        def on_lost(_c: Any) -> None:
            heard.put_nowait(_LOST)

        driver: Any = None
        try:
            try:
                driver = (await conn.get_raw_connection()).driver_connection
                driver.add_termination_listener(on_lost)
                await driver.add_listener(self.name, on_notification)  # LISTEN
            except Exception as exc:
                raise self._lost(exc) from exc
            yield self._heard(driver, heard)
        finally:
            await self._hang_up(conn, driver, on_notification, on_lost)

    async def _heard(
        self, driver: Any, heard: asyncio.Queue[ChangedJobs | Literal["lost"]]
    ) -> AsyncIterator[ChangedJobs]:
        while True:
            try:
                async with asyncio.timeout(PING_AFTER):
                    news = [await heard.get()]
            except TimeoutError:
                await self._ping(driver)
                continue
            while not heard.empty():  # a burst wakes the poll once
                news.append(heard.get_nowait())
            if _LOST in news:
                raise tickwork.StorageConnectionError(
                    f"lost the connection listening for job changes on {self._where}"
                )
            yield ChangePayload.together(n for n in news if n != _LOST)

    async def _ping(self, driver: Any) -> None:
        try:
            async with asyncio.timeout(_PING_TIMEOUT):
                await driver.fetchval("SELECT 1")
        except Exception as exc:
            raise self._lost(exc) from exc

    def _lost(self, exc: BaseException) -> tickwork.StorageConnectionError:
        return tickwork.StorageConnectionError(
            f"lost the connection listening for job changes on {self._where}: "
            f"{type(exc).__name__}: {reason(exc)}"
        )

    async def _hang_up(
        self, conn: AsyncConnection, driver: Any, on_notification: Any, on_lost: Any
    ) -> None:
        """Stop listening and give the connection back (or drop it when it is dead)."""
        if driver is not None and not driver.is_closed():
            driver.remove_termination_listener(on_lost)
            try:
                async with asyncio.timeout(_PING_TIMEOUT):
                    await driver.remove_listener(self.name, on_notification)  # UNLISTEN
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await conn.invalidate(exc)
        elif not conn.invalidated:
            with contextlib.suppress(Exception):
                await conn.invalidate()
        with contextlib.suppress(Exception):
            await conn.close()
