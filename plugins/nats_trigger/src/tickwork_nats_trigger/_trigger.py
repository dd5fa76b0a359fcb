"""``NATSTrigger``: due runs from JetStream message scheduling, shared by many workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext

from tickwork import (
    JobDataNotFoundError,
    JobStatus,
    StorageConnectionError,
    StorageOperationError,
)
from tickwork.abc import Dispatch, ScheduleCodec, Store
from tickwork_nats_store import JetStreamOnce, NATSStore, OnceFunc

from ._claim_batches import ClaimBatches
from ._claims import Claims
from ._connection import (
    client_of,
    connect,
    describe,
    is_transient,
    parse_servers,
    phase,
    wait_for_jetstream,
)
from ._consumer import DueConsumer
from ._publisher import RetryPolicy, SchedulePublisher
from ._reconciler import Reconciler
from ._stream import (
    Provisioning,
    check_server_version,
    claims_take_batches,
    ensure_claims_bucket,
    ensure_consumer,
    ensure_stream,
    is_provisioned,
    wait_for_stream_leader,
)
from ._subjects import Subjects, validate_name

__all__ = ["NATSTrigger", "RescheduleFailureFunc"]

RescheduleFailureFunc = Callable[[str, datetime, BaseException], object]
"""``on_rescheduling_failed(job_id, next_run, exc)``: the next run of ``job_id`` could not
be armed after a run, even after retries (called before ``arm`` raises)."""

DEFAULT_LOGGER = logging.getLogger("tickwork.nats.trigger")

Seconds = float | int | timedelta


def _seconds(name: str, value: Seconds, *, allow_zero: bool = True) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be seconds (a number or a timedelta), got {value!r}")
    if value < 0 or (not allow_zero and value == 0):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


class NATSTrigger:
    """Fires due runs with JetStream message scheduling (NATS Server 2.12+).

    Every worker process that uses the same stream shares the same jobs: each due run
    is handed to exactly one of them, and a run whose worker dies is handed to another
    one ``ack_wait`` later. See ``docs/triggers/nats.md``.

    Connection: give ``js`` (a nats-py JetStream context; its connection stays yours),
    or ``servers`` (the trigger connects in :meth:`start` and disconnects after
    :meth:`stop`). With neither, a :class:`tickwork_nats_store.NATSStore` used by the
    same scheduler lends its connection; otherwise ``nats://127.0.0.1:4222`` is used.

    Durations are seconds (numbers) or :class:`~datetime.timedelta`.

    :param servers: NATS URL(s): one, comma-separated, or a list.
    :param js: a JetStream context to use instead of connecting.
    :param stream_name: the stream holding schedules and due runs.
    :param subject_prefix: first token(s) of the stream's subjects.
    :param consumer_name: the durable consumer all workers share.
    :param claim_bucket: KV bucket of run claims (exactly-once across workers).
    :param replicas: replicas of the stream and buckets the trigger creates (3 or 5 in
        a cluster).
    :param ack_wait: how long a run may go without an in-progress ack before the
        server hands it to another worker, which takes the run's claim over only once
        its holder has been silent that long; in-progress acks (and claim refreshes)
        go out every third of it.
    :param max_in_flight: most due runs this worker holds at once.
    :param logger: where the trigger logs (default ``tickwork.nats.trigger``).
    :param reconciler_interval: seconds between reconciler scans; ``0`` disables it.
    :param reconciler_grace_period: how late a next run must be before the
        reconciler re-arms it.
    :param publish_retry: ``(attempts, initial_backoff)`` for arming the next run
        after a run (the backoff doubles each time).
    :param add_job_retry_budget: seconds that arming from ``add_job``,
        ``update_job_schedule`` or ``resume_job`` (and disarming) keeps retrying
        through a transient outage; ``0`` tries once.
    :param jetstream_ready_timeout: seconds :meth:`start` waits for JetStream to answer
        (a new cluster first elects its meta leader); ``0`` tries once.
    :param start_phase_timeout: bound of each start-up phase (connect, provision, …);
        ``0`` leaves them unbounded.
    :param startup_stream_ready_timeout: seconds :meth:`start` waits for the stream and
        the claims bucket to have a leader (clusters); ``0`` skips the wait.
    :param load_jobs_concurrency: schedules published in parallel by ``arm_many``.
    :param on_rescheduling_failed: ``fn(job_id, next_run, exc)``, called when the next
        run cannot be armed after a run (the job is then marked
        ``rescheduling_failed`` and the reconciler repairs it).
    :param stream_duplicates_window: how long the stream remembers ``Nats-Msg-Id``\\ s.
    :param once: a :data:`tickwork_nats_store.OnceFunc` that serializes first-time
        provisioning across processes (default: a KV lock in ``once_lock_bucket``).
    :param once_key: the key handed to ``once``.
    :param once_lock_bucket: the KV bucket of the built-in ``once``.
    :param connect_timeout: seconds to reach a server (``servers`` only).
    :param request_timeout: seconds each JetStream request waits for its answer.
    :param connect_options: more keyword arguments for nats-py's ``connect`` (TLS,
        credentials, …) (``servers`` only).
    """

    shared = True

    def __init__(
        self,
        servers: str | Sequence[str] | None = None,
        *,
        js: JetStreamContext | None = None,
        stream_name: str = "SCHEDULER",
        subject_prefix: str = "scheduler",
        consumer_name: str = "scheduler-worker",
        claim_bucket: str = "SCHEDULER_CLAIMS",
        replicas: int = 1,
        ack_wait: Seconds = 30.0,
        max_in_flight: int = 512,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        reconciler_interval: Seconds = 30.0,
        reconciler_grace_period: Seconds = 30.0,
        publish_retry: tuple[int, Seconds] = (5, 0.25),
        add_job_retry_budget: Seconds = 5.0,
        jetstream_ready_timeout: Seconds = 30.0,
        start_phase_timeout: Seconds = 30.0,
        startup_stream_ready_timeout: Seconds = 30.0,
        load_jobs_concurrency: int = 32,
        on_rescheduling_failed: RescheduleFailureFunc | None = None,
        stream_duplicates_window: Seconds = 120.0,
        once: OnceFunc | None = None,
        once_key: str = "scheduler.init",
        once_lock_bucket: str = "SCHEDULER_LOCKS",
        connect_timeout: Seconds = 10.0,
        request_timeout: Seconds = 5.0,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        if js is not None and servers is not None:
            raise ValueError("pass either servers=... or js=..., not both")
        self._servers: tuple[str, ...] | None = None if servers is None else parse_servers(servers)
        self._given_js = js
        for label, name in (
            ("stream_name", stream_name),
            ("consumer_name", consumer_name),
            ("claim_bucket", claim_bucket),
            ("once_lock_bucket", once_lock_bucket),
        ):
            validate_name(label, name)
        if not isinstance(replicas, int) or not 1 <= replicas <= 5:
            raise ValueError(f"replicas must be an int from 1 to 5, got {replicas!r}")
        for label, count in (
            ("max_in_flight", max_in_flight),
            ("load_jobs_concurrency", load_jobs_concurrency),
        ):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"{label} must be a positive int, got {count!r}")
        if not isinstance(once_key, str) or not once_key:
            raise ValueError("once_key must be a non-empty string")
        if on_rescheduling_failed is not None and not callable(on_rescheduling_failed):
            raise TypeError("on_rescheduling_failed must be callable")
        attempts, backoff = _retry_pair(publish_retry)

        self.stream_name = stream_name
        self.subjects = Subjects(subject_prefix)
        self.consumer_name = consumer_name
        self.claim_bucket = claim_bucket
        self.ack_wait = _seconds("ack_wait", ack_wait, allow_zero=False)
        if self.ack_wait < 1.0:
            raise ValueError(f"ack_wait must be at least 1 second, got {self.ack_wait!r}")
        self.max_in_flight = max_in_flight
        self.logger = logger or DEFAULT_LOGGER
        self.reconciler_interval = _seconds("reconciler_interval", reconciler_interval)
        self.reconciler_grace_period = _seconds("reconciler_grace_period", reconciler_grace_period)
        self.publish_retry = (attempts, backoff)
        self.add_job_retry_budget = _seconds("add_job_retry_budget", add_job_retry_budget)
        self.jetstream_ready_timeout = _seconds("jetstream_ready_timeout", jetstream_ready_timeout)
        self.start_phase_timeout = _seconds("start_phase_timeout", start_phase_timeout)
        self.startup_stream_ready_timeout = _seconds(
            "startup_stream_ready_timeout", startup_stream_ready_timeout
        )
        self.load_jobs_concurrency = load_jobs_concurrency
        self.on_rescheduling_failed = on_rescheduling_failed
        self.stream_duplicates_window = _seconds(
            "stream_duplicates_window", stream_duplicates_window, allow_zero=False
        )
        self.once_key = once_key
        self.once_lock_bucket = once_lock_bucket
        self._once = once
        self._connect_timeout = _seconds("connect_timeout", connect_timeout, allow_zero=False)
        self._request_timeout = _seconds("request_timeout", request_timeout, allow_zero=False)
        self._connect_options = dict(connect_options or {})
        self.replicas = replicas
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

        self._store: Store | None = None
        self._lender: NATSStore | None = None
        self._js: JetStreamContext | None = None
        self._nc: Client | None = None
        self._owns_nc = False
        self._publisher: SchedulePublisher | None = None
        self._consumer: DueConsumer | None = None
        self._reconciler: Reconciler | None = None
        self._started = False

    def __repr__(self) -> str:
        if self._given_js is not None:
            where = "js=<given>"
        elif self._servers is not None:
            where = f"servers={list(self._servers)!r}"
        else:
            where = "servers=<store's or default>"
        return f"NATSTrigger({where}, stream={self.stream_name!r}, consumer={self.consumer_name!r})"

    @property
    def provisioning(self) -> Provisioning:
        """What the trigger creates on the server (stream, consumer, claims bucket)."""
        return Provisioning(
            stream_name=self.stream_name,
            subjects=self.subjects,
            consumer_name=self.consumer_name,
            claim_bucket=self.claim_bucket,
            replicas=self.replicas,
            ack_wait=self.ack_wait,
            duplicates_window=self.stream_duplicates_window,
            claim_ttl=max(600.0, 10 * self.ack_wait),
            max_ack_pending=10_000,
        )

    @property
    def is_started(self) -> bool:
        return self._started

    @property
    def in_flight(self) -> int:
        """Due runs this worker holds right now."""
        return 0 if self._consumer is None else self._consumer.in_flight

    # -- Trigger protocol ------------------------------------------------------------------

    def attach(self, store: Store, codec: ScheduleCodec) -> None:
        """Called by the scheduler before :meth:`start`: the store feeds the reconciler
        (and, when it is a NATS store and no connection was given, lends its own)."""
        self._store = store
        if self._given_js is None and self._servers is None and isinstance(store, NATSStore):
            self._lender = store
        else:
            self._lender = None

    async def start(self, dispatch: Dispatch) -> None:
        if self._started:
            raise RuntimeError("the NATS trigger is already started")
        log = self.logger
        timeout = self.start_phase_timeout
        try:
            async with phase("connect", timeout, log):
                js, nc = await self._connection()
            version = check_server_version(nc)
            async with phase(
                "wait for JetStream", max(timeout, self.jetstream_ready_timeout + 5), log
            ):
                await wait_for_jetstream(js, self.jetstream_ready_timeout)
            want = self.provisioning
            async with phase("provision stream and consumer", timeout, log):
                await self._provision(js, want, version)
            async with phase(
                "wait for stream leaders", max(timeout, self.startup_stream_ready_timeout + 5), log
            ):
                await wait_for_stream_leader(
                    js,
                    [want.stream_name, f"KV_{want.claim_bucket}"],
                    self.startup_stream_ready_timeout,
                )
            async with phase("subscribe", timeout, log):
                kv = await js.key_value(want.claim_bucket)
                # A new owner at each start: a delivery the previous start still holds
                # is not this consumer's to take again.
                owner = f"{self.worker}.{uuid.uuid4().hex[:4]}"
                claims = ClaimBatches(
                    Claims(kv, owner, stale_after=2 * self.ack_wait + 10.0, lease=self.ack_wait),
                    nc=nc,
                    stream=f"KV_{want.claim_bucket}",
                    multi_get=await claims_take_batches(js, want),
                    timeout=self._request_timeout,
                )
                consumer = DueConsumer(
                    nc=nc,
                    api_prefix=_api_prefix(js),
                    stream=self.stream_name,
                    consumer=self.consumer_name,
                    claims=claims,
                    dispatch=dispatch,
                    ack_wait=self.ack_wait,
                    max_in_flight=self.max_in_flight,
                    on_idle=self._closer(nc) if self._owns_nc else None,
                )
                await consumer.start()
        except BaseException:
            if self._owns_nc and self._nc is not None:
                with contextlib.suppress(Exception):
                    await self._nc.close()
            self._nc = self._js = None
            raise
        self._publisher = SchedulePublisher(
            js,
            stream=self.stream_name,
            subjects=self.subjects,
            request_timeout=self._request_timeout,
            resolve=self._stored_next_run if self._store is not None else None,
        )
        self._consumer = consumer
        if self._store is not None:
            self._reconciler = Reconciler(
                self._store,
                self._arm_from_reconciler,
                interval=self.reconciler_interval,
                grace_period=self.reconciler_grace_period,
            )
            self._reconciler.start()
        self._started = True
        log.info(
            "NATS trigger started (server %s, stream %s, consumer %s, ack wait %g s, worker %s)",
            version, self.stream_name, self.consumer_name, self.ack_wait, self.worker,
        )  # fmt: skip

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        reconciler, self._reconciler = self._reconciler, None
        if reconciler is not None:
            await reconciler.stop()
        consumer = self._consumer
        if consumer is not None:
            # Runs still held stay alive (and their connection open) until settled.
            await consumer.stop()
        self._consumer = None
        if not self._owns_nc:
            self._nc = self._js = None
        self.logger.info("NATS trigger stopped (armed schedules stay armed in the stream)")

    async def arm(self, job_id: str, run_at: datetime) -> None:
        await self._arm(job_id, run_at, after_run=False)

    async def arm_after_run(self, job_id: str, run_at: datetime) -> None:
        """The arm that follows a run (:class:`tickwork.abc.RunChainTrigger`): it is
        the only thing that keeps the job going, so it is published with the
        ``publish_retry`` policy, and a failure is reported to
        ``on_rescheduling_failed``."""
        await self._arm(job_id, run_at, after_run=True)

    async def _arm(self, job_id: str, run_at: datetime, *, after_run: bool) -> None:
        if after_run:
            attempts, backoff = self.publish_retry
            policy = RetryPolicy(attempts, backoff)
        else:
            policy = self._user_policy()
        publisher = self._require_publisher()
        try:
            if after_run:
                await publisher.arm_after_run(job_id, run_at, policy)
            else:
                await publisher.arm(job_id, run_at, policy)
        except Exception as exc:
            if after_run:
                self._report_rescheduling_failure(job_id, run_at, exc)
            error = _as_tickwork_error(f"arm job {job_id!r} for {run_at.isoformat()}", exc)
            if error is exc:
                raise
            raise error from exc

    async def arm_many(self, items: Iterable[tuple[str, datetime]]) -> None:
        attempts, backoff = self.publish_retry
        publisher = self._require_publisher()
        batch = list(items)
        if not batch:
            return
        loop = asyncio.get_running_loop()
        began = loop.time()
        failures = await publisher.arm_many(
            batch,
            RetryPolicy(attempts, backoff),
            self.load_jobs_concurrency,
            timeout=self.start_phase_timeout,
        )
        self.logger.info(
            "armed %d job(s) in %.3f s%s",
            len(batch) - len(failures),
            loop.time() - began,
            f"; {len(failures)} failed (the reconciler retries them)" if failures else "",
        )
        for job_id, exc in failures[:10]:
            self.logger.warning("job %r could not be armed: %s", job_id, describe(exc))

    async def disarm(self, job_id: str) -> None:
        try:
            await self._require_publisher().disarm(job_id, self._user_policy())
        except Exception as exc:
            error = _as_tickwork_error(f"disarm job {job_id!r}", exc)
            if error is exc:
                raise
            raise error from exc

    # -- internals -------------------------------------------------------------------------

    async def _connection(self) -> tuple[JetStreamContext, Client]:
        if self._given_js is not None:
            js = self._given_js
            self._owns_nc = False
        elif self._lender is not None:
            js = self._lender.jetstream
            self._owns_nc = False
        else:
            nc = await connect(
                self._servers or parse_servers(None),
                timeout=self._connect_timeout,
                options=self._connect_options,
                logger=self.logger,
            )
            js = nc.jetstream(timeout=self._request_timeout)
            self._owns_nc = True
        self._js, self._nc = js, client_of(js)
        return js, self._nc

    async def _provision(self, js: JetStreamContext, want: Provisioning, version: str) -> None:
        if await is_provisioned(js, want):
            return

        async def provision() -> None:
            await ensure_stream(js, want, version=version)
            await ensure_consumer(js, want)
            await ensure_claims_bucket(js, want)

        once = self._once or JetStreamOnce(js, bucket=self.once_lock_bucket, replicas=self.replicas)
        await once(self.once_key, provision)
        # Whoever ran it, make sure (cheaply) that this worker's settings are in place:
        # the lock may remember a "done" from before the stream was deleted or changed.
        await provision()

    def _closer(self, nc: Client) -> Callable[[], Awaitable[None]]:
        async def close() -> None:
            if self._nc is nc and self._started:
                return  # restarted on the same connection meanwhile
            if self._nc is nc:
                self._nc = self._js = None
                self._publisher = None
            with contextlib.suppress(Exception):
                await nc.close()

        return close

    def _require_publisher(self) -> SchedulePublisher:
        publisher = self._publisher
        if publisher is None:
            raise StorageConnectionError("the NATS trigger is not started")
        return publisher

    def _user_policy(self) -> RetryPolicy:
        budget = self.add_job_retry_budget
        if budget <= 0:
            return RetryPolicy(1, 0.0)
        return RetryPolicy(1_000_000, min(0.1, budget / 10), budget=budget)

    async def _arm_from_reconciler(self, job_id: str, run_at: datetime) -> None:
        attempts, backoff = self.publish_retry
        await self._require_publisher().ensure(job_id, run_at, RetryPolicy(attempts, backoff))

    async def _stored_next_run(self, job_id: str) -> datetime | None:
        """The next run the store holds for ``job_id`` (None: it should not be armed)."""
        store = self._store
        assert store is not None
        try:
            job = await store.get_job(job_id)
        except JobDataNotFoundError:
            return None
        if job.status == JobStatus.DISABLED:
            return None
        return job.next_run

    def _report_rescheduling_failure(
        self, job_id: str, run_at: datetime, exc: BaseException
    ) -> None:
        self.logger.error(
            "job %r: its next run at %s could not be armed after %d attempt(s): %s; the "
            "reconciler will retry",
            job_id, run_at.isoformat(), self.publish_retry[0], describe(exc),
        )  # fmt: skip
        hook = self.on_rescheduling_failed
        if hook is None:
            return
        try:
            hook(job_id, run_at, exc)
        except Exception:
            self.logger.exception("on_rescheduling_failed raised for job %r", job_id)


def _api_prefix(js: JetStreamContext) -> str:
    prefix: str = getattr(js, "_prefix", "$JS.API")
    return prefix


def _retry_pair(value: tuple[int, Seconds]) -> tuple[int, float]:
    try:
        attempts, backoff = value
    except (TypeError, ValueError):
        raise TypeError(
            f"publish_retry must be (attempts, initial_backoff), got {value!r}"
        ) from None
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise TypeError(f"publish_retry attempts must be an int, got {attempts!r}")
    return max(1, attempts), _seconds("publish_retry backoff", backoff)


def _as_tickwork_error(action: str, exc: BaseException) -> Exception:
    if isinstance(exc, StorageConnectionError | StorageOperationError):
        return exc
    if is_transient(exc):
        return StorageConnectionError(
            f"NATS did not answer while trying to {action}: {describe(exc)}. Check that "
            "nats-server is running with JetStream; the reconciler re-arms the job once "
            "it is back."
        )
    return StorageOperationError(f"NATS refused to {action}: {describe(exc)}")
