"""Arming and disarming: the schedule messages the server turns into due runs.

Arming job ``j`` for time ``t`` publishes one message on ``<prefix>.schedule.<j>``::

    Nats-Schedule:        @at 2025-10-02T15:04:04.823456Z   (t - FIRE_LEAD)
    Nats-Schedule-Target: <prefix>.due.<j>
    Nats-Msg-Id:          tw.<hash of j>.<t>
    body:                 {"v": 1, "job_id": j, "scheduled_at": t}

A schedule replaces the previous one on the same subject (the server rolls the subject
up), so re-arming moves the job's time; an ``@at`` in the past fires at once. When it
fires, the server stores the body on the target subject, where the consumer reads it.

The server looks for due schedules on a timer (about every 250 ms: see
``tests/integration/nats_trigger/schedule_floor.py``), so a message fires up to that
much after its ``@at``. That is why the ``@at`` is :data:`FIRE_LEAD` before ``t``: the
message reaches a worker a little before the run is due, the worker claims it, and
holds it until ``t`` (:mod:`._consumer`). The run never starts before ``t``, the
time in the body; the server's timer no longer makes it late.
Disarming purges both of the job's subjects.

There are two ways to arm (and a batched form of the first):

- **replace** (:meth:`SchedulePublisher.arm`): the process that has just written the
  job's next run to the store (after a run, ``add_job``, ``update_job_schedule``,
  ``resume_job``) is right by definition; its schedule replaces whatever is there.
  The arms that follow runs (:meth:`SchedulePublisher.arm_after_run`) are many when
  many runs end together: those asked for while the previous batch is out go to the
  server in one round trip (:func:`tickwork_nats_store.write_many`: an atomic batch
  when they are many). An arm whose ``Nats-Msg-Id`` the stream has seen before is not
  stored (in an atomic batch, no arm of the batch is); those are made one by one as
  above, which handles the duplicate.
- **ensure** (:meth:`SchedulePublisher.ensure`, :meth:`SchedulePublisher.arm_many`):
  start-up and the reconciler arm what they *read* from the store a moment ago, which
  may already be out of date: another worker may have run the job and armed its next
  run since. These publish only into an empty subject
  (``Nats-Expected-Last-Subject-Sequence: 0``). If a schedule is there already and it
  is not the same run, the store decides: its current ``next_run`` is armed (with a
  compare-and-set on the schedule found) unless it is what is armed already.

The ``Nats-Msg-Id`` is deterministic, so every worker arming the same run publishes
one schedule between them (within the stream's duplicates window). The stream also
remembers the ids of schedules that already fired or were purged, though: a job paused
and resumed before its next run would be silently dropped. So a publish the stream
calls a duplicate is checked: if neither the job's schedule for ``t`` nor a due message
for ``t`` is in the stream, it is published again under a fresh id. Any extra due
message this produces is harmless: claims and the scheduler's own check drop it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from tickwork import Batcher
from tickwork_nats_store import MAX_BATCH_MESSAGES, Write, replies_of, write_many

from ._connection import client_of, describe, is_transient
from ._delivery import decode_due, encode_due
from ._subjects import Subjects, format_time, message_id

__all__ = ["FIRE_LEAD", "Resolver", "RetryPolicy", "SchedulePublisher"]

logger = logging.getLogger("tickwork.nats.trigger")

Resolver = Callable[[str], Awaitable[datetime | None]]
"""``await resolve(job_id)``: the job's next run as the store holds it now, or None when
the job should not be armed (removed, paused, finished)."""

FIRE_LEAD = timedelta(milliseconds=300)
"""How long before its run a schedule fires: the server's timer period (250 ms) and a
little more for the message to reach a worker."""

WRONG_LAST_SEQUENCE = 10071
_EXPECTED_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
_CONFLICT_ROUNDS = 4


class RetryPolicy:
    """How often a failed publish is retried: ``attempts`` tries, the first wait
    ``backoff`` seconds and each next one twice as long, never past ``budget`` seconds
    in total (``None``: no time limit). Only transient failures are retried."""

    __slots__ = ("attempts", "backoff", "budget")

    def __init__(self, attempts: int, backoff: float, budget: float | None = None) -> None:
        self.attempts = max(1, attempts)
        self.backoff = max(0.0, backoff)
        self.budget = budget

    def __repr__(self) -> str:
        return f"RetryPolicy({self.attempts}, {self.backoff}, budget={self.budget})"


def _conflict(exc: BaseException) -> bool:
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code == WRONG_LAST_SEQUENCE


class SchedulePublisher:
    """Publishes and cancels the schedules of one stream.

    :param resolve: reads a job's current next run from the store, to settle a
        conflict between what an *ensure* wants and what is armed; without it the
        ensuring side wins.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        subjects: Subjects,
        request_timeout: float,
        resolve: Resolver | None = None,
    ) -> None:
        self._js = js
        self._stream = stream
        self._subjects = subjects
        self._timeout = request_timeout
        self._resolve = resolve
        self._batches: Batcher[tuple[str, datetime], bool] = Batcher(
            self._publish_batch, max_batch=MAX_BATCH_MESSAGES
        )

    # -- public --------------------------------------------------------------------------

    async def arm(self, job_id: str, run_at: datetime, policy: RetryPolicy) -> None:
        """Make ``run_at`` the job's armed time, replacing any other (see module docs)."""
        await _retry(lambda: self._replace(job_id, run_at), policy, f"arm job {job_id!r}")

    async def arm_after_run(self, job_id: str, run_at: datetime, policy: RetryPolicy) -> None:
        """:meth:`arm`, in one batch with the other arms asked for meanwhile."""

        async def batched() -> None:
            if not await self._batches.submit((job_id, run_at)):
                await self._replace(job_id, run_at)

        await _retry(batched, policy, f"arm job {job_id!r}")

    async def ensure(self, job_id: str, run_at: datetime, policy: RetryPolicy) -> None:
        """Arm ``run_at`` unless the job's current next run is armed already."""
        await _retry(lambda: self._ensure(job_id, run_at), policy, f"arm job {job_id!r}")

    async def arm_many(
        self,
        items: Iterable[tuple[str, datetime]],
        policy: RetryPolicy,
        concurrency: int,
        timeout: float,
    ) -> list[tuple[str, BaseException]]:
        """*Ensure* many jobs; returns the failures.

        The publishes are pipelined (sent without waiting for each answer); the answers
        are awaited together for at most ``timeout`` seconds. Then, ``concurrency`` at a
        time, duplicates and conflicts are settled and failed publishes retried one by
        one per ``policy``.
        """
        batch = list(items)
        if not batch:
            return []
        answers = await self._publish_pipelined(batch, timeout)
        failures: list[tuple[str, BaseException]] = []
        semaphore = asyncio.Semaphore(max(1, concurrency))

        async def follow_up(job_id: str, run_at: datetime, answer: Any) -> None:
            msg_id = message_id(job_id, run_at)
            async with semaphore:
                try:
                    if isinstance(answer, api.PubAck):
                        await self._after_duplicate(job_id, run_at, msg_id)
                    elif isinstance(answer, BaseException) and _conflict(answer):
                        await self._settle_conflict(job_id, run_at, msg_id)
                    else:
                        await self.ensure(job_id, run_at, policy)
                except Exception as exc:
                    failures.append((job_id, exc))

        pending = [
            follow_up(job_id, run_at, answer)
            for (job_id, run_at), answer in zip(batch, answers, strict=True)
            if not (isinstance(answer, api.PubAck) and not answer.duplicate)
        ]
        await asyncio.gather(*pending)
        return failures

    async def disarm(self, job_id: str, policy: RetryPolicy) -> None:
        """Cancel the job's schedule and drop its due runs not yet handed out."""

        async def purge() -> None:
            for subject in (self._subjects.schedule(job_id), self._subjects.due(job_id)):
                await self._js.purge_stream(self._stream, subject=subject)

        await _retry(purge, policy, f"disarm job {job_id!r}")

    # -- the two ways to arm ---------------------------------------------------------------

    async def _publish_batch(self, items: list[tuple[str, datetime]]) -> list[bool]:
        """Publish the schedules of ``items`` in one round trip; whether each was
        published (False for one that was not stored, or a duplicate: armed again one
        by one)."""
        last = {job_id: index for index, (job_id, _) in enumerate(items)}
        writes = []
        for index, (job_id, run_at) in enumerate(items):
            if last[job_id] != index:
                continue  # armed again later in the same batch: that arm replaces it
            msg_id = message_id(job_id, run_at)
            writes.append(
                Write(
                    self._subjects.schedule(job_id),
                    encode_due(job_id, run_at),
                    headers=self._headers(job_id, run_at, msg_id),
                )
            )
        stored = await write_many(client_of(self._js), writes, self._timeout)
        # One write per job, in the order of each job's last arm in ``items``.
        done = dict(zip(sorted(last.values()), (s is not None for s in stored), strict=True))
        if not all(done.values()):
            logger.debug(
                "%d of %d arm(s) not stored at once; one by one",
                len(done) - sum(done.values()),
                len(done),
            )
        return [done[last[job_id]] for job_id, _ in items]

    async def _replace(self, job_id: str, run_at: datetime) -> None:
        msg_id = message_id(job_id, run_at)
        ack = await self._publish(job_id, run_at, msg_id)
        if ack.duplicate:
            await self._after_duplicate(job_id, run_at, msg_id)

    async def _ensure(self, job_id: str, run_at: datetime) -> None:
        msg_id = message_id(job_id, run_at)
        try:
            ack = await self._publish(job_id, run_at, msg_id, expected_seq=0)
        except nats.js.errors.APIError as exc:
            if not _conflict(exc):
                raise
            await self._settle_conflict(job_id, run_at, msg_id)
            return
        if ack.duplicate:
            await self._after_duplicate(job_id, run_at, msg_id)

    async def _after_duplicate(self, job_id: str, run_at: datetime, msg_id: str) -> None:
        """The stream has seen ``msg_id``: make sure the run is still on its way."""
        if await self._still_pending(job_id, run_at, msg_id):
            return
        fresh = f"{msg_id}.{uuid.uuid4().hex[:12]}"
        logger.debug("job %r: re-publishing its schedule for %s as %s", job_id, run_at, fresh)
        try:
            await self._publish(job_id, run_at, fresh, expected_seq=0)
        except nats.js.errors.APIError as exc:
            if not _conflict(exc):
                raise
            await self._settle_conflict(job_id, run_at, msg_id)

    async def _settle_conflict(self, job_id: str, run_at: datetime, msg_id: str) -> None:
        """A schedule is armed already; keep it, or arm what the store says."""
        subject = self._subjects.schedule(job_id)
        for _ in range(_CONFLICT_ROUNDS):
            present = await self._last(subject)
            if present is None:  # it fired or was purged meanwhile
                try:
                    ack = await self._publish(job_id, run_at, msg_id, expected_seq=0)
                except nats.js.errors.APIError as exc:
                    if _conflict(exc):
                        continue
                    raise
                if ack.duplicate and not await self._still_pending(job_id, run_at, msg_id):
                    fresh = f"{msg_id}.{uuid.uuid4().hex[:12]}"
                    try:
                        await self._publish(job_id, run_at, fresh, expected_seq=0)
                    except nats.js.errors.APIError as exc:
                        if _conflict(exc):
                            continue
                        raise
                return
            if (present.headers or {}).get("Nats-Msg-Id", "").startswith(msg_id):
                return  # the same run is armed
            armed = _armed_time(present)
            wanted = run_at if self._resolve is None else await self._resolve(job_id)
            if wanted is None or wanted == armed:
                return
            if wanted != run_at:
                logger.debug("job %r: the store moved on to %s; arming that", job_id, wanted)
            wanted_id = message_id(job_id, wanted)
            try:
                ack = await self._publish(job_id, wanted, wanted_id, expected_seq=present.seq or 0)
                if ack.duplicate:  # that run was armed before: the stream remembers its id
                    fresh = f"{wanted_id}.{uuid.uuid4().hex[:12]}"
                    await self._publish(job_id, wanted, fresh, expected_seq=present.seq or 0)
            except nats.js.errors.APIError as exc:
                if _conflict(exc):
                    continue
                raise
            return
        logger.warning("job %r: its schedule kept changing while arming it; leaving it", job_id)

    # -- messages ------------------------------------------------------------------------

    async def _publish(
        self, job_id: str, run_at: datetime, msg_id: str, *, expected_seq: int | None = None
    ) -> api.PubAck:
        ack: api.PubAck = await self._js.publish(
            self._subjects.schedule(job_id),
            encode_due(job_id, run_at),
            timeout=self._timeout,
            headers=self._headers(job_id, run_at, msg_id, expected_seq),
        )
        return ack

    def _headers(
        self, job_id: str, run_at: datetime, msg_id: str, expected_seq: int | None = None
    ) -> dict[str, str]:
        headers = {
            "Nats-Schedule": f"@at {format_time(run_at - FIRE_LEAD)}",
            "Nats-Schedule-Target": self._subjects.due(job_id),
            "Nats-Msg-Id": msg_id,
            "Nats-Expected-Stream": self._stream,
        }
        if expected_seq is not None:
            headers[_EXPECTED_SUBJECT_SEQ] = str(expected_seq)
        return headers

    async def _publish_pipelined(
        self, batch: list[tuple[str, datetime]], timeout: float
    ) -> list[api.PubAck | BaseException]:
        """Send every *ensure* publish, then collect the answers (ack or error) in order
        (``timeout`` <= 0: as long as they take).

        The answers come on the connection's inbox for them
        (:func:`tickwork_nats_store.replies_of`): nats-py's ``publish_async`` leaves a
        future hanging when the server answers with an error (a conflict, here).
        """
        outgoing = [
            (
                self._subjects.schedule(job_id),
                encode_due(job_id, run_at),
                self._headers(job_id, run_at, message_id(job_id, run_at), 0),
            )
            for job_id, run_at in batch
        ]
        replies = replies_of(client_of(self._js))
        try:
            answers = await replies.publish_each(outgoing, timeout if timeout > 0 else None)
        except Exception as exc:  # the connection is gone: each one is retried alone
            return [exc] * len(batch)
        return [
            nats.errors.TimeoutError() if answer is None else _parse_answer(answer)
            for answer in answers
        ]

    async def _still_pending(self, job_id: str, run_at: datetime, msg_id: str) -> bool:
        """Whether the stream still holds this run: its schedule, or its due message."""
        schedule = await self._last(self._subjects.schedule(job_id))
        if schedule is not None and (schedule.headers or {}).get("Nats-Msg-Id", "").startswith(
            msg_id
        ):
            return True
        due = await self._last(self._subjects.due(job_id))
        if due is not None and due.data:
            try:
                due_job, due_at, _ = decode_due(due.data)
            except ValueError:
                return False
            return due_job == job_id and due_at == run_at
        return False

    async def _last(self, subject: str) -> api.RawStreamMsg | None:
        try:
            msg: api.RawStreamMsg = await self._js.get_last_msg(self._stream, subject, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        return msg


def _armed_time(msg: api.RawStreamMsg) -> datetime | None:
    try:
        return decode_due(msg.data or b"")[1]
    except ValueError:
        return None


def _parse_answer(msg: Msg) -> api.PubAck | BaseException:
    """A publish answer: the ack, or the error the server sent instead."""
    if msg.headers and msg.headers.get("Status") == "503":
        return nats.js.errors.NoStreamResponseError()
    try:
        doc = json.loads(msg.data)
    except ValueError as exc:
        return exc
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        return _api_error(error)
    ack: api.PubAck = api.PubAck.from_response(doc)
    return ack


def _api_error(error: dict[str, Any]) -> nats.js.errors.APIError:
    """nats-py's error class for an API error (without raising it, unlike ``from_error``)."""
    kinds: dict[int, type[nats.js.errors.APIError]] = {
        503: nats.js.errors.ServiceUnavailableError,
        500: nats.js.errors.ServerError,
        404: nats.js.errors.NotFoundError,
        400: nats.js.errors.BadRequestError,
    }
    kind = kinds.get(int(error.get("code", 0)), nats.js.errors.APIError)
    return kind(
        code=error.get("code"),
        err_code=error.get("err_code"),
        description=error.get("description"),
    )


async def _retry(action: Callable[[], Awaitable[None]], policy: RetryPolicy, what: str) -> None:
    """Run ``action()`` with the retries ``policy`` allows."""
    loop = asyncio.get_running_loop()
    deadline = None if policy.budget is None else loop.time() + max(policy.budget, 0.0)
    delay = policy.backoff
    attempt = 1
    while True:
        try:
            await action()
            return
        except Exception as exc:
            if not is_transient(exc):
                raise
            out_of_time = deadline is not None and loop.time() + delay > deadline
            if attempt >= policy.attempts or out_of_time:
                raise
            logger.debug(
                "%s: attempt %d failed (%s); retrying in %.2f s",
                what,
                attempt,
                describe(exc),
                delay,
            )
        await asyncio.sleep(delay)
        attempt += 1
        delay = min(delay * 2, 5.0) if delay else 0.0
