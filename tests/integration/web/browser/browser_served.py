"""The web app and a running scheduler on one event loop, served by uvicorn in a thread.

``support.web_app.serve_app`` serves an app on uvicorn's own loop, which suits a store
that is not bound to a loop. A live scheduler is: its tasks, its store connections and
the app's calls into it must share one loop. Here the test owns that loop (a thread
running it forever), builds the store, the scheduler and the app on it, serves the app
from it, and runs its own checks there too (:meth:`LiveApp.call`), so the test reads
the store exactly as the app does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

Build = Callable[[contextlib.AsyncExitStack], Awaitable[Any]]
"""Builds the ASGI app on the served loop; pushes what must be closed afterwards
(a scheduler's ``stop``, a store's ``close``) onto the exit stack it is given."""


class LiveApp:
    """A served app: its ``url`` (``http://127.0.0.1:PORT``) and its loop."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self._loop = loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the app's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


async def _build(stack: contextlib.AsyncExitStack, build: Build) -> Any:
    return await build(stack)


def _wait_started(server: Any, serving: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if serving.done():
            serving.result()  # raises what stopped it
            raise RuntimeError("uvicorn stopped before it started serving")
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start serving in {timeout} s")
        time.sleep(0.02)


@contextlib.contextmanager
def serve_live(build: Build) -> Iterator[LiveApp]:
    """Serve the app that ``build`` makes, on a free 127.0.0.1 port, until the block ends."""
    import uvicorn

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="web-live-loop", daemon=True)
    thread.start()
    stack = contextlib.AsyncExitStack()
    live = LiveApp("", loop)
    server: Any = None
    serving: Any = None
    try:
        app = live.call(_build(stack, build))
        sock = _listening_socket()
        live.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        # A page following live events holds a stream open: shutting down waits a
        # second for it, then cancels it, instead of waiting for the browser.
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        serving = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), loop)
        _wait_started(server, serving)
        yield live
    finally:
        if server is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                serving.result(15)
        live.call(stack.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
