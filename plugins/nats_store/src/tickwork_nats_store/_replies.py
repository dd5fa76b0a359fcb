"""The answers a connection waits for, on one inbox subscription of its own.

nats-py's ``request`` gives each request a future, a timer and a task, and a reply
that comes as several messages (a batched direct get) needs a subscription of its own,
subscribed and unsubscribed around it: two more protocol messages, and interest the
server sets up and tears down, for every read on the run path. :class:`Replies` keeps
one wildcard subscription per connection instead (made on first use; nats-py renews it
after a reconnect) and gives each request a reply subject under it:

- :meth:`Replies.publish_each`: many publishes, one answer each, all sent before any
  is awaited, then waited for together;
- :meth:`Replies.stream`: one request answered by messages until a status message
  (a direct get's ``EOB``, or its error).

What does not come in time is left out, and the token is forgotten, so a late answer
is dropped.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

__all__ = ["Outgoing", "Replies", "replies_of"]

Outgoing = tuple[str, bytes, Mapping[str, str] | None]
"""``(subject, payload, headers)`` of one message to publish."""


class _Answers:
    """The messages one token has received; done at the first (``until_status``
    False) or at the first with a ``Status`` header."""

    __slots__ = ("done", "messages", "token", "until_status")

    def __init__(self, loop: asyncio.AbstractEventLoop, token: str, until_status: bool) -> None:
        self.token = token
        self.messages: list[Msg] = []
        self.until_status = until_status
        self.done: asyncio.Future[None] = loop.create_future()

    def add(self, msg: Msg) -> None:
        if self.done.done():
            return
        self.messages.append(msg)
        if not self.until_status or (msg.headers and "Status" in msg.headers):
            self.done.set_result(None)


class Replies:
    """One connection's inbox for the answers it waits for (see the module's note)."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._waiting: dict[str, _Answers] = {}
        self._subscribed = False
        self._subscribing = asyncio.Lock()
        self._count = 0

    async def publish_each(
        self, messages: Sequence[Outgoing], timeout: float | None
    ) -> list[Msg | None]:
        """Publish ``messages``, each with a reply subject of its own; each one's
        answer, None for one that did not come within ``timeout`` seconds (None: no
        limit)."""
        waiting = await self._send(messages, until_status=False)
        await self._wait(waiting, timeout)
        return [a.messages[0] if a.messages else None for a in waiting]

    async def stream(self, subject: str, payload: bytes, timeout: float) -> list[Msg]:
        """Every message that answers one request, the closing status message last.

        :raises nats.errors.TimeoutError: the status message did not come within
            ``timeout`` seconds.
        """
        [answers] = await self._send([(subject, payload, None)], until_status=True)
        if not await self._wait([answers], timeout):
            raise nats.errors.TimeoutError
        return answers.messages

    async def _send(self, messages: Sequence[Outgoing], *, until_status: bool) -> list[_Answers]:
        if not self._subscribed:
            async with self._subscribing:
                if not self._subscribed:
                    await self._nc.subscribe(f"{self._prefix}.*", cb=self._on_answer)
                    self._subscribed = True
        loop = asyncio.get_running_loop()
        sent: list[_Answers] = []
        try:
            for subject, payload, headers in messages:
                self._count += 1
                token = str(self._count)
                answers = self._waiting[token] = _Answers(loop, token, until_status)
                sent.append(answers)
                await self._nc.publish(
                    subject,
                    payload,
                    reply=f"{self._prefix}.{token}",
                    headers=dict(headers) if headers else None,
                )
        except BaseException:
            self._forget(sent)
            raise
        return sent

    async def _wait(self, waiting: list[_Answers], timeout: float | None) -> bool:
        """Wait for every one of ``waiting``; whether all came in time."""
        try:
            _, pending = await asyncio.wait([a.done for a in waiting], timeout=timeout)
        finally:
            self._forget(waiting)
        for future in pending:
            future.cancel()
        return not pending

    def _forget(self, answers: list[_Answers]) -> None:
        for done_with in answers:
            self._waiting.pop(done_with.token, None)

    async def _on_answer(self, msg: Msg) -> None:
        answers = self._waiting.get(msg.subject[len(self._prefix) + 1 :])
        if answers is not None:
            answers.add(msg)


_REPLIES: weakref.WeakKeyDictionary[Client, Replies] = weakref.WeakKeyDictionary()


def replies_of(nc: Client) -> Replies:
    """The :class:`Replies` of connection ``nc`` (made on first use)."""
    replies = _REPLIES.get(nc)
    if replies is None:
        replies = _REPLIES[nc] = Replies(nc)
    return replies
