"""A loopback TCP proxy that records what clients send, in the order the server gets it.

It lets a test check the order of protocol commands on the wire (for example that a
subscription reached the server before the PING whose PONG a client waits for), which
the client library's own objects do not show."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["RecordingProxy", "recording_proxy"]


class RecordingProxy:
    """Forwards every connection to ``upstream``; ``sent`` is what clients wrote."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.sent = bytearray()
        self.url = ""
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, record=True)),
            asyncio.create_task(self._pump(up_reader, writer, record=False)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        for stream in (writer, up_writer):
            stream.close()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, record: bool
    ) -> None:
        while chunk := await source.read(65536):
            if record:
                self.sent += chunk
            sink.write(chunk)
            await sink.drain()


@contextlib.asynccontextmanager
async def recording_proxy(host: str, port: int) -> AsyncIterator[RecordingProxy]:
    """A proxy on a free loopback port in front of ``host:port``."""
    proxy = RecordingProxy(host, port)
    server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
    proxy.url = f"nats://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield proxy
    finally:
        server.close()
        for task in proxy._tasks:
            task.cancel()
        await asyncio.gather(*proxy._tasks, return_exceptions=True)
