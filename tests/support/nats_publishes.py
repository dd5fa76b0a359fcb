"""Every message a NATS client in this process publishes, seen as it leaves.

Tests that count round trips (a message with a reply subject waits for an answer)
wrap ``nats.aio.client.Client.publish`` for a while; the wrapping lives here once."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from nats.aio.client import Client

__all__ = ["Seen", "observing_publishes"]

#: Called with (subject, payload, reply) for each message published.
Seen = Callable[[str, bytes, str], None]


@contextlib.contextmanager
def observing_publishes(seen: Seen) -> Iterator[None]:
    """Call ``seen`` for every message any client publishes meanwhile."""
    original = Client.publish

    async def publish(
        client: Client,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, Any] | None = None,
    ) -> None:
        seen(subject, payload, reply)
        await original(client, subject, payload, reply, headers)

    Client.publish = publish  # type: ignore[method-assign]
    try:
        yield
    finally:
        Client.publish = original  # type: ignore[method-assign]
