"""This worker's share of the due runs: pulling them, claiming them, keeping them alive.

Every worker pulls from the one durable consumer, so JetStream hands each due message
to one worker at a time. The pull is a long poll: one request for up to ``batch``
messages that the server answers as messages become due (or with a heartbeat every
few seconds while nothing is due), re-issued when it is used up or expires. At most
``max_in_flight`` runs are held at once; beyond that the worker stops pulling and
other workers get the messages.

For each message the worker takes the job's claim (:mod:`._claims`), waits until the
run's time if the message came early (schedules fire a little ahead, see
:data:`._publisher.FIRE_LEAD`), then hands a :class:`NATSDelivery` to the scheduler.
While the scheduler holds it, an in-progress ack every ``ack_wait / 3`` keeps the
server from redelivering it (and refreshes the claim); if this worker dies, the server
redelivers the message to another worker ``ack_wait`` after the last one.

The server may also redeliver a message to the worker that is still claiming it: no
in-progress ack goes out before the claim is written, and a claim request can take
longer than ``ack_wait`` (a cluster electing a leader, a loaded machine). Each message
is therefore taken once at a time here, by stream sequence: a redelivery that comes
while its message is being claimed or held only replaces the message to answer on.
Two takes of one message would both find the claim "carried by this very message"
and both run it (what a cluster node's loss did under load before this rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from tickwork.abc import Dispatch

from ._claim_batches import ClaimBatches
from ._claims import ClaimDecision
from ._connection import describe
from ._delivery import NATSDelivery, decode_due

__all__ = ["DueConsumer"]

logger = logging.getLogger("tickwork.nats.trigger")

PULL_BATCH = 256
"""Most messages one pull request asks for."""

PULL_EXPIRES = 30.0
"""Seconds a pull request waits for messages before the server ends it."""

MAX_HOLD = 1.0
"""Seconds a message that came before its run's time is held until then. Schedules
fire :data:`._publisher.FIRE_LEAD` ahead; a message far earlier than that (written by
hand, or a clock far off) goes to the scheduler at once, as it always did, and the
scheduler decides (a removed or paused job's run is dropped).
"""

PULL_HEARTBEAT = 2.0
"""Seconds between the server's heartbeats on an idle pull; two missed ones (or a
reconnection) mean the pull was lost and is issued again."""


class _Pull:
    __slots__ = ("backoff", "done", "last_activity", "remaining")

    def __init__(self, batch: int) -> None:
        self.remaining = batch
        self.done = asyncio.Event()
        self.last_activity = time.monotonic()
        self.backoff = 0.0


class _Taking:
    """A message whose run is being claimed; a redelivery meanwhile replaces ``msg``
    (the newest delivery is the one to answer)."""

    __slots__ = ("msg",)

    def __init__(self, msg: Msg) -> None:
        self.msg = msg


class DueConsumer:
    """Pulls due messages for this worker and turns them into deliveries.

    :param on_idle: awaited when the consumer is stopped and its last delivery settles.
    """

    def __init__(
        self,
        *,
        nc: Client,
        api_prefix: str,
        stream: str,
        consumer: str,
        claims: ClaimBatches,
        dispatch: Dispatch,
        ack_wait: float,
        max_in_flight: int,
        on_idle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._nc = nc
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._claims = claims
        self._dispatch = dispatch
        self._ack_wait = ack_wait
        self._max_in_flight = max_in_flight
        self._on_idle = on_idle
        self._outstanding: dict[int, NATSDelivery] = {}
        self._intake: set[asyncio.Task[None]] = set()
        #: Messages being claimed, by stream sequence: each is taken once at a time, so
        #: this worker never claims (and runs) one message twice.
        self._taking: dict[int, _Taking] = {}
        self._sub: Subscription | None = None
        self._inbox = ""
        self._pull: _Pull | None = None
        self._slot_freed = asyncio.Event()
        self._outstanding_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._idle_notified = False

    def __repr__(self) -> str:
        return f"DueConsumer({self._next_subject!r}, in_flight={self.in_flight})"

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping

    @property
    def in_flight(self) -> int:
        """Messages received and not yet settled."""
        return len(self._outstanding) + len(self._intake)

    @property
    def outstanding(self) -> list[NATSDelivery]:
        """Deliveries the scheduler holds."""
        return list(self._outstanding.values())

    async def start(self) -> None:
        """Subscribe to this worker's inbox and issue the first pull."""
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_message)
        self._tasks = [
            asyncio.create_task(self._pull_loop(), name="tickwork-nats-pull"),
            asyncio.create_task(self._keep_alive_loop(), name="tickwork-nats-keepalive"),
        ]

    async def stop(self) -> None:
        """Stop pulling. Deliveries the scheduler holds stay alive until settled."""
        self._stopping = True
        self._stop_requested.set()
        self._slot_freed.set()
        pull_task = self._tasks[0] if self._tasks else None
        if pull_task is not None:
            pull_task.cancel()
            with contextlib.suppress(BaseException):
                await pull_task
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        # Messages still being claimed see _stopping and give their message back.
        if self._intake:
            await asyncio.wait(set(self._intake), timeout=5.0)
        await self._maybe_idle()

    # -- pulling ------------------------------------------------------------------------

    async def _pull_loop(self) -> None:
        while not self._stopping:
            free = self._max_in_flight - self.in_flight
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            pull = self._pull = _Pull(min(free, PULL_BATCH))
            request = {
                "batch": pull.remaining,
                "expires": int(PULL_EXPIRES * 1e9),
                "idle_heartbeat": int(PULL_HEARTBEAT * 1e9),
            }
            reconnects = self._nc.stats["reconnects"]
            try:
                await self._nc.publish(
                    self._next_subject, json.dumps(request).encode(), reply=self._inbox
                )
            except Exception as exc:
                logger.warning("could not request due runs: %s; retrying", describe(exc))
                await asyncio.sleep(1.0)
                continue
            while not self._stopping:
                try:
                    async with asyncio.timeout(PULL_HEARTBEAT):
                        await pull.done.wait()
                    break
                except TimeoutError:
                    pass
                if self._nc.stats["reconnects"] != reconnects:
                    logger.debug("reconnected: issuing a new pull request")
                    break
                if time.monotonic() - pull.last_activity > 2 * PULL_HEARTBEAT + 0.5:
                    logger.debug("the pull request went silent: issuing a new one")
                    break
            if pull.backoff:
                await asyncio.sleep(pull.backoff)

    async def _on_message(self, msg: Msg) -> None:
        pull = self._pull
        now = time.monotonic()
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None and not msg.reply:
            if pull is not None:
                pull.last_activity = now
                self._on_status(
                    pull, status, msg.headers.get("Description", "") if msg.headers else ""
                )
            return
        if pull is not None:
            pull.last_activity = now
            pull.remaining -= 1
            if pull.remaining <= 0:
                pull.done.set()
        task = asyncio.create_task(self._take_guarded(msg))
        self._intake.add(task)

    def _on_status(self, pull: _Pull, status: str, description: str) -> None:
        if status == "100":
            return  # idle heartbeat
        pull.done.set()
        if status in ("404", "408"):
            return  # the pull expired (or found nothing): issue the next one
        if status == "409" and any(
            s in description for s in ("Leadership Change", "Server Shutdown", "Batch Completed")
        ):
            logger.debug("pull ended: %s %s", status, description)
            return
        logger.warning("pulling due runs failed: %s %s; retrying", status, description)
        pull.backoff = 1.0

    # -- one message ------------------------------------------------------------------------

    async def _take_guarded(self, msg: Msg) -> None:
        try:
            await self._take(msg)
        except Exception:
            logger.exception("handling a due message on %s failed", msg.subject)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._intake.discard(task)
            self._slot_freed.set()
        await self._maybe_idle()

    async def _take(self, msg: Msg) -> None:
        try:
            meta = msg.metadata
        except Exception:
            logger.warning("ignoring a message without JetStream metadata on %s", msg.subject)
            return
        seq = meta.sequence.stream
        mine = self._outstanding.get(seq)
        if mine is not None:
            # Redelivered to us while we still run it (the in-progress acks were late).
            mine.replace_message(msg)
            return
        taking = self._taking.get(seq)
        if taking is not None:
            # Redelivered while its claim is still being written: one take per message.
            taking.msg = msg
            return
        taking = self._taking[seq] = _Taking(msg)
        try:
            await self._claim_and_dispatch(taking, seq, meta.num_delivered)
        finally:
            if self._taking.get(seq) is taking:
                del self._taking[seq]

    async def _claim_and_dispatch(self, taking: _Taking, seq: int, delivered: int) -> None:
        """Claim the run of message ``seq``, hold it until its time, hand it over."""
        try:
            job_id, scheduled_at, written = decode_due(taking.msg.data)
        except ValueError as exc:
            logger.error("dropping message %d on %s for good: %s", seq, taking.msg.subject, exc)
            await _quietly(taking.msg.term())
            return
        if self._stopping:
            await _quietly(taking.msg.nak())
            return
        try:
            decision, claim = await self._claims.acquire(job_id, written, seq)
        except Exception as exc:
            logger.warning(
                "job %r: could not claim its run at %s: %s", job_id, written, describe(exc)
            )
            await _quietly(taking.msg.nak(delay=1.0))
            return
        if claim is None:
            await self._not_ours(taking.msg, job_id, written, decision, delivered)
            return
        delivery = NATSDelivery(
            msg=taking.msg,
            job_id=job_id,
            scheduled_at=scheduled_at,
            seq=seq,
            claim=claim,
            claims=self._claims,
            on_settled=self._settled,
            nak_delay=1.0,
        )
        # From here on, redeliveries of this message go to the delivery (no await before).
        self._outstanding[seq] = delivery
        self._outstanding_changed.set()
        early = scheduled_at.timestamp() - time.time()
        if 0 < early <= MAX_HOLD and not self.stopping:
            # Fired ahead on purpose: never before its time (a stop ends the wait).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(early):
                    await self._stop_requested.wait()
        if self.stopping:  # stop() came while we were claiming (or waiting)
            await _quietly(delivery.hand_back())
            return
        if not await delivery.still_ours(self._ack_wait):
            await _quietly(delivery.nak())
            return
        try:
            self._dispatch(delivery)
        except Exception:
            logger.exception("job %r: dispatching its run failed", job_id)
            await _quietly(delivery.nak())

    async def _not_ours(
        self, msg: Msg, job_id: str, written: str, decision: ClaimDecision, delivered: int
    ) -> None:
        """Answer a message whose run this worker did not claim."""
        if decision is ClaimDecision.DUPLICATE:
            logger.debug("job %r: dropping a duplicate of its run at %s", job_id, written)
            await _quietly(msg.ack())
            return
        if decision is ClaimDecision.HELD:
            # Its holder was alive less than an ack wait ago: ask again soon (the
            # holder's in-progress acks push the redelivery further while it lives).
            delay = min(self._ack_wait / 3, 0.25 * 2 ** min(max(delivered - 2, 0), 6))
            logger.debug(
                "job %r: its run at %s is held elsewhere; waits %.2f s", job_id, written, delay
            )
        else:
            delay = min(self._ack_wait, 0.5 * 2 ** min(delivered, 6))
            logger.debug(
                "job %r runs elsewhere; its run at %s waits %.1f s", job_id, written, delay
            )
        await _quietly(msg.nak(delay=delay))

    async def _settled(self, delivery: NATSDelivery) -> None:
        if self._outstanding.get(delivery.seq) is delivery:
            del self._outstanding[delivery.seq]
        self._slot_freed.set()
        self._outstanding_changed.set()
        await self._maybe_idle()

    async def _maybe_idle(self) -> None:
        if not self._stopping or self._outstanding or self._intake or self._idle_notified:
            return
        self._idle_notified = True
        await self.close()
        if self._on_idle is not None:
            await self._on_idle()

    async def close(self) -> None:
        """Cancel the background tasks (once stopped and idle, or to give up on the
        deliveries still held: the server redelivers them after the ack wait)."""
        tasks, self._tasks = self._tasks, []
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(BaseException):
                    await task

    # -- keeping held runs alive ---------------------------------------------------------

    async def _keep_alive_loop(self) -> None:
        period = self._ack_wait / 3
        while True:
            if not self._outstanding:
                self._outstanding_changed.clear()
                await self._outstanding_changed.wait()
                continue
            deliveries = list(self._outstanding.values())
            due = [d for d in deliveries if d.idle_for >= period * 0.9]
            if due:
                results = await asyncio.gather(
                    *(d.keep_alive() for d in due), return_exceptions=True
                )
                for delivery, result in zip(due, results, strict=True):
                    if isinstance(result, Exception):
                        logger.warning(
                            "job %r: keep-alive failed: %s", delivery.job_id, describe(result)
                        )
                continue
            wait = max(0.05, period * 0.9 - max(d.idle_for for d in deliveries))
            self._outstanding_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._outstanding_changed.wait()


async def _quietly(step: Awaitable[None]) -> None:
    try:
        await step
    except Exception as exc:
        logger.debug("answering a message failed: %s", describe(exc))
