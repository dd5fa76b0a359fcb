"""A due run as a message: its body, and the delivery handed to the scheduler.

A schedule message's body is copied by the server into the due message it produces,
so the body written at arm time is what the worker reads: the job id (subjects only
carry an escaped, possibly hashed, form of it) and the exact fire time, in RFC 3339
with microseconds, so that ``delivery.scheduled_at`` equals the job's stored
``next_run`` to the microsecond::

    {"v": 1, "job_id": "report", "scheduled_at": "2025-10-02T15:04:05.123456Z"}
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from nats.aio.msg import Msg

from ._claim_batches import ClaimBatches
from ._claims import Claim
from ._connection import describe
from ._subjects import format_time

__all__ = ["NATSDelivery", "decode_due", "encode_due"]

logger = logging.getLogger("tickwork.nats.trigger")

BODY_VERSION = 1


def encode_due(job_id: str, run_at: datetime) -> bytes:
    """The body of the schedule (and so of the due message) for one run."""
    return json.dumps(
        {"v": BODY_VERSION, "job_id": job_id, "scheduled_at": format_time(run_at)},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8", "surrogatepass")


def decode_due(data: bytes) -> tuple[str, datetime, str]:
    """``(job_id, scheduled_at, scheduled_at as written)`` from a due message body.

    :raises ValueError: not a body :func:`encode_due` wrote.
    """
    try:
        doc = json.loads(data.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a tickwork due message: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("v") != BODY_VERSION:
        raise ValueError(f"not a tickwork due message (version {BODY_VERSION}): {data[:200]!r}")
    job_id, text = doc.get("job_id"), doc.get("scheduled_at")
    if not isinstance(job_id, str) or not job_id or not isinstance(text, str):
        raise ValueError(f"due message without job_id/scheduled_at: {data[:200]!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"bad scheduled_at {text!r} in a due message") from exc
    if moment.tzinfo is None:
        raise ValueError(f"scheduled_at {text!r} has no time zone")
    return job_id, moment.astimezone(UTC), text


class NATSDelivery:
    """One due run this worker holds the claim and the message of.

    The scheduler calls :meth:`ack` or :meth:`nak` once. Until then the trigger keeps
    the message and the claim alive (:meth:`keep_alive`, every ``ack_wait / 3``).
    """

    __slots__ = (
        "_claim",
        "_claimed_at",
        "_claims",
        "_last_beat",
        "_lock",
        "_lost",
        "_msg",
        "_nak_delay",
        "_on_settled",
        "_settled",
        "job_id",
        "scheduled_at",
        "seq",
    )

    def __init__(
        self,
        *,
        msg: Msg,
        job_id: str,
        scheduled_at: datetime,
        seq: int,
        claim: Claim,
        claims: ClaimBatches,
        on_settled: Callable[[NATSDelivery], Awaitable[None]],
        nak_delay: float,
    ) -> None:
        self._msg = msg
        self.job_id = job_id
        self.scheduled_at = scheduled_at
        self.seq = seq
        self._claim: Claim | None = claim
        self._claims = claims
        self._on_settled = on_settled
        self._nak_delay = nak_delay
        self._settled = False
        self._lost = False
        #: When the claim was last proved alive (wall clock, as its beat): the claim's
        #: own beat, then the start of each heartbeat that kept it.
        self._claimed_at = claim.beat
        self._last_beat = time.monotonic() - max(0.0, time.time() - claim.beat)
        # keep_alive() and ack()/nak() both move the claim's revision on: one at a time.
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"NATSDelivery({self.job_id!r}, {self.scheduled_at.isoformat()}, seq={self.seq})"

    @property
    def settled(self) -> bool:
        """Whether ack or nak was called."""
        return self._settled

    @property
    def idle_for(self) -> float:
        """Seconds since the message and claim were last kept alive."""
        return time.monotonic() - self._last_beat

    def replace_message(self, msg: Msg) -> None:
        """The server redelivered our message to us: answer on the newest delivery."""
        self._msg = msg

    async def still_ours(self, lease: float) -> bool:
        """Whether this worker may start the run now: its claim was proved alive less
        than half a ``lease`` ago, if need be by a heartbeat now (another worker takes
        a run over only a whole lease after its last beat, see :mod:`._claims`)."""
        claim = self._claim
        if claim is None or self._lost:
            return False
        if claim.fresh(lease, self._claimed_at):
            return True
        try:
            await self.keep_alive()
        except Exception as exc:
            logger.warning("job %r: could not refresh its claim: %s", self.job_id, describe(exc))
            return False
        return not self._lost and claim.fresh(lease, self._claimed_at)

    async def ack(self) -> None:
        if self._settled:
            return
        self._settled = True
        try:
            async with self._lock:
                await self._ack()
        finally:
            await self._on_settled(self)

    async def _ack(self) -> None:
        claim, self._claim = self._claim, None
        kept = not self._lost
        if claim is not None:
            try:
                kept = await self._claims.finish(claim)
            except Exception as exc:
                # The message ack below still ends the run; a duplicate delivery of it
                # would find the job's next run moved on and be dropped.
                logger.warning(
                    "job %r: could not mark its claim done: %s", self.job_id, describe(exc)
                )
        if kept:
            await self._msg.ack()
        else:
            logger.warning(
                "job %r run %s: another worker took the run over while this one ran it (it "
                "was silent for longer than the ack wait); leaving the message to it",
                self.job_id,
                self.scheduled_at.isoformat(),
            )

    async def nak(self) -> None:
        await self._release(self._nak_delay)

    async def hand_back(self) -> None:
        """Give the run back before it was handed to the scheduler (this worker is
        stopping): released at once, for another worker to take it in time."""
        await self._release(0.0)

    async def _release(self, delay: float) -> None:
        if self._settled:
            return
        self._settled = True
        try:
            async with self._lock:
                claim, self._claim = self._claim, None
                if claim is not None:
                    try:
                        await self._claims.finish(claim)
                    except Exception as exc:
                        logger.warning(
                            "job %r: could not release its claim: %s", self.job_id, describe(exc)
                        )
                if not self._lost:
                    await self._msg.nak(delay=delay) if delay else await self._msg.nak()
        finally:
            await self._on_settled(self)

    async def keep_alive(self) -> None:
        """Tell the server the run goes on (in-progress ack) and refresh the claim."""
        async with self._lock:
            if self._settled or self._lost:
                return
            self._last_beat = time.monotonic()
            await self._msg.in_progress()
            claim = self._claim
            if claim is None:
                return
            began = time.time()  # the beat written is no earlier
            kept = await self._claims.heartbeat(claim)
            if kept:
                self._claimed_at = began
            elif kept is False:
                self._lost = True
                self._claim = None
                logger.warning(
                    "job %r run %s: another worker took its claim over while it ran",
                    self.job_id,
                    self.scheduled_at.isoformat(),
                )
