"""A core NATS subject as the store's change signal
(:class:`tickwork.abc.ChangeSignalingStore`).

A signal is a plain publish (no JetStream: nothing is kept) on
``tickwork.jobs-changed.<job bucket>``; a bucket name is ``[A-Za-z0-9_-]+``, which is
always one valid subject token, so stores on different buckets never wake each other.
The message body is the JSON of :class:`tickwork.ChangePayload`: the sending store
object's random tag, so a listener can leave out its own store's signals, and the ids
of the jobs that changed (data in the body, never in the subject). A body larger than
the server's ``max_payload`` would be refused, so past that the signal says
"everything" instead; a body that cannot be read (an older tickwork's bare tag) counts
as "everything" too. ``signal_changes`` waits until the server has the message, so a
signal sent just before a CLI command closes its connection still leaves.

nats-py reconnects a dropped connection by itself and subscribes again, but whatever
was published while it was away is gone. A listener therefore checks the connection
every :data:`CHECK_EVERY` seconds, and when it finds it down, or reconnected since it
began to listen, it reports the connection lost: the scheduler listens again once the
connection is back and polls at once, which finds the changes made meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Collection

from nats.aio.client import Client
from nats.aio.msg import Msg

from tickwork import ChangePayload, StorageConnectionError
from tickwork.abc import ChangedJobs

from ._errors import translate_errors

__all__ = ["CHECK_EVERY", "ChangeSubject", "settle"]

#: Seconds between checks of the listening connection.
CHECK_EVERY = 0.25

_FLUSH_TIMEOUT = 5  # seconds (nats-py wants an int)

#: The largest body sent (the server's default ``max_payload`` is 1 MiB; a smaller
#: limit on the server is honoured too).
LONGEST_BODY = 64 * 1024


async def settle(nc: Client) -> None:
    """Return once the server has processed every command ``nc`` has queued so far.

    One ``flush()`` does not promise that: nats-py writes a flush's PING to the socket at
    once, ahead of the commands still waiting for its writer task, so the PONG can come
    back before the server has seen a SUB queued just before it, and a message published
    meanwhile from another connection finds no interest and is dropped. The writer task
    runs while the first PING travels, so the second PING is queued behind everything
    and its PONG means the server has processed all of it.
    """
    await nc.flush(timeout=_FLUSH_TIMEOUT)
    await nc.flush(timeout=_FLUSH_TIMEOUT)


class ChangeSubject:
    """Sends and hears the store's "jobs changed" messages."""

    def __init__(self, job_bucket: str) -> None:
        self.subject = f"tickwork.jobs-changed.{job_bucket}"
        self.sender = secrets.token_hex(8)

    async def signal(self, nc: Client, job_ids: Collection[str] | None) -> None:
        limit = min(LONGEST_BODY, nc.max_payload) if nc.max_payload else LONGEST_BODY
        body = ChangePayload.of(self.sender, job_ids).encode(limit)
        with translate_errors(f"signal a job change on {self.subject}"):
            await nc.publish(self.subject, body)
            await settle(nc)

    @contextlib.asynccontextmanager
    async def listen(self, nc: Client) -> AsyncIterator[AsyncIterator[ChangedJobs]]:
        """Subscribe on ``nc``; the iterator yields once per batch of messages from
        other store objects, what they named together."""
        if not nc.is_connected:
            raise StorageConnectionError(
                f"not connected to NATS, cannot listen on {self.subject}; "
                "the connection reconnects on its own"
            )
        heard: asyncio.Queue[ChangedJobs] = asyncio.Queue()

        async def on_message(msg: Msg) -> None:
            payload = ChangePayload.decode(msg.data)
            if payload.sender != self.sender:
                heard.put_nowait(payload.job_ids)

        reconnects = nc.stats["reconnects"]
        with translate_errors(f"subscribe to {self.subject}"):
            subscription = await nc.subscribe(self.subject, cb=on_message)
        try:
            with translate_errors(f"subscribe to {self.subject}"):
                await settle(nc)  # the server has the interest now
            yield self._heard(nc, heard, reconnects)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _heard(
        self, nc: Client, heard: asyncio.Queue[ChangedJobs], reconnects: int
    ) -> AsyncIterator[ChangedJobs]:
        while True:
            if not nc.is_connected or nc.stats["reconnects"] != reconnects:
                raise StorageConnectionError(
                    f"the NATS connection listening on {self.subject} was lost; "
                    "messages sent meanwhile are missed"
                )
            try:
                async with asyncio.timeout(CHECK_EVERY):
                    news = [await heard.get()]
            except TimeoutError:
                continue
            while not heard.empty():  # a burst wakes the poll once
                news.append(heard.get_nowait())
            yield ChangePayload.together(news)
