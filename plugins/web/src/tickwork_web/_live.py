"""Live updates: the scheduler's events as Server-Sent Events.

When the app was given a scheduler, ``/api/events`` streams one message per event
(``{"type": "RunCompleted", "job_id": "...", "at": "..."}``); the pages' script
reloads the part of the page it concerns. Without a scheduler there are no events to
follow (a store alone says nothing when it changes), so the endpoint answers 204 and
the pages offer a plain refresh.

The subscription is a plain callback, which the scheduler calls in a thread of its
own; it hands each event to the stream's loop. A client that reads too slowly loses
events beyond :data:`QUEUE` (the page reloads anyway at the next one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

__all__ = ["KEEPALIVE", "QUEUE", "events"]

QUEUE = 200
#: Seconds between comments that keep proxies from closing an idle stream.
KEEPALIVE = 15.0


def _message(event: Any) -> str:
    data = {
        "type": type(event).__name__,
        "job_id": getattr(event, "job_id", None),
        "at": event.at.isoformat() if getattr(event, "at", None) else None,
    }
    return f"data: {json.dumps(data)}\n\n"


async def events(request: Request) -> Response:
    source = request.app.state.web.source
    if not source.live:
        return Response(status_code=204)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue(QUEUE)

    def put(text: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(text)

    def on_event(event: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the stream is over
            loop.call_soon_threadsafe(put, _message(event))

    subscription = source.subscribe(on_event)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n: live\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keepalive\n\n"
        finally:
            subscription.unsubscribe()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"x-accel-buffering": "no"},
    )
