"""NATS trigger pieces without a server: claims, options, retries, message bodies."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.errors
import nats.js.errors
import pytest

from tickwork_nats_trigger import NATSTrigger
from tickwork_nats_trigger._claims import ClaimDecision, Claims
from tickwork_nats_trigger._delivery import decode_due, encode_due
from tickwork_nats_trigger._publisher import RetryPolicy, _retry


class FakeEntry:
    def __init__(self, value: bytes, revision: int) -> None:
        self.value = value
        self.revision = revision


class FakeKV:
    """Enough of nats-py's KeyValue for claims: get, create, update with revisions."""

    def __init__(self) -> None:
        self.data: dict[str, FakeEntry] = {}
        self.revision = 0

    async def get(self, key: str) -> FakeEntry:
        if key not in self.data:
            raise nats.js.errors.KeyNotFoundError
        return self.data[key]

    async def create(self, key: str, value: bytes) -> int:
        if key in self.data:
            raise nats.js.errors.KeyWrongLastSequenceError
        return self._put(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if key not in self.data or self.data[key].revision != last:
            raise nats.js.errors.KeyWrongLastSequenceError
        return self._put(key, value)

    def _put(self, key: str, value: bytes) -> int:
        self.revision += 1
        self.data[key] = FakeEntry(value, self.revision)
        return self.revision


def claims(kv: FakeKV, owner: str, stale_after: float = 60.0, lease: float = 0.0) -> Claims:
    return Claims(kv, owner, stale_after, lease)  # type: ignore[arg-type]


T1, T2 = "2025-01-01T00:00:01.000000Z", "2025-01-01T00:00:02.000000Z"


async def test_a_run_is_claimed_once() -> None:
    kv = FakeKV()
    a, b = claims(kv, "a"), claims(kv, "b")
    decision, claim = await a.acquire("job", T1, seq=10)
    assert decision is ClaimDecision.RUN
    assert claim is not None
    # Another message for the same run while it runs: a duplicate.
    assert (await b.acquire("job", T1, seq=11))[0] is ClaimDecision.DUPLICATE
    # Another run of the same job while it runs on another worker: wait.
    assert (await b.acquire("job", T2, seq=12))[0] is ClaimDecision.BUSY
    # ...but on the same worker its scheduler decides (overlap policy).
    assert (await a.acquire("job", T2, seq=12))[0] is ClaimDecision.RUN
    assert await a.finish(claim)
    # Other jobs are independent.
    assert (await b.acquire("other", T1, seq=13))[0] is ClaimDecision.RUN


async def test_the_same_message_redelivered_takes_the_run_over() -> None:
    kv = FakeKV()
    a, b = claims(kv, "a"), claims(kv, "b")
    _, claim_a = await a.acquire("job", T1, seq=10)
    decision, claim_b = await b.acquire("job", T1, seq=10)  # the server gave up on a
    assert decision is ClaimDecision.RUN
    assert claim_a is not None
    assert claim_b is not None
    assert not await a.heartbeat(claim_a), "a must learn it lost the run"
    assert not await a.finish(claim_a)
    assert await b.heartbeat(claim_b)
    assert await b.finish(claim_b)


async def test_a_redelivered_message_waits_while_its_holder_is_alive() -> None:
    kv = FakeKV()
    a, b = claims(kv, "a", lease=0.2), claims(kv, "b", lease=0.2)
    _, claim_a = await a.acquire("job", T1, seq=10)
    assert claim_a is not None
    assert claim_a.fresh(0.2)
    # The server redelivered a's message (a's claim was slow to write): a is not silent.
    assert (await b.acquire("job", T1, seq=10))[0] is ClaimDecision.HELD
    await asyncio.sleep(0.1)
    assert not claim_a.fresh(0.2), "a must not start a run its claim may lose"
    assert await a.heartbeat(claim_a)
    assert (await b.acquire("job", T1, seq=10))[0] is ClaimDecision.HELD
    await asyncio.sleep(0.25)  # a silent for a whole lease: taken over
    decision, claim_b = await b.acquire("job", T1, seq=10)
    assert decision is ClaimDecision.RUN
    assert claim_b is not None
    assert not await a.heartbeat(claim_a)


async def test_a_worker_takes_its_own_message_again_at_once() -> None:
    kv = FakeKV()
    a = claims(kv, "a", lease=60.0)
    await a.acquire("job", T1, seq=10)  # say its answer was lost: the message came back
    assert (await a.acquire("job", T1, seq=10))[0] is ClaimDecision.RUN


async def test_a_finished_run_frees_the_job() -> None:
    kv = FakeKV()
    a, b = claims(kv, "a"), claims(kv, "b")
    _, claim = await a.acquire("job", T1, seq=10)
    assert claim is not None
    assert await a.finish(claim)
    assert (await b.acquire("job", T2, seq=11))[0] is ClaimDecision.RUN


async def test_a_silent_holder_is_forgotten_after_stale_after() -> None:
    kv = FakeKV()
    a, b = claims(kv, "a", stale_after=0.05), claims(kv, "b", stale_after=0.05)
    await a.acquire("job", T1, seq=10)
    assert (await b.acquire("job", T2, seq=11))[0] is ClaimDecision.BUSY
    await asyncio.sleep(0.1)
    assert (await b.acquire("job", T2, seq=11))[0] is ClaimDecision.RUN
    assert (await b.acquire("job", T1, seq=12))[0] is ClaimDecision.RUN  # T1's holder is gone


async def test_a_corrupt_claim_document_is_treated_as_free() -> None:
    kv = FakeKV()
    kv._put("job", b"not json")
    assert (await claims(kv, "a").acquire("job", T1, seq=1))[0] is ClaimDecision.RUN


async def test_concurrent_claims_of_one_run_let_exactly_one_through() -> None:
    kv = FakeKV()
    workers = [claims(kv, f"w{i}") for i in range(8)]
    results = await asyncio.gather(
        *(w.acquire("job", T1, seq=100 + i) for i, w in enumerate(workers))
    )
    assert [d for d, _ in results].count(ClaimDecision.RUN) == 1


# -- options ---------------------------------------------------------------------------------


def test_defaults_follow_the_reference() -> None:
    trigger = NATSTrigger()
    assert trigger.stream_name == "SCHEDULER"
    assert trigger.subjects.prefix == "scheduler"
    assert trigger.consumer_name == "scheduler-worker"
    assert trigger.ack_wait == 30.0
    assert trigger.reconciler_grace_period == 30.0
    assert trigger.add_job_retry_budget == 5.0
    assert trigger.jetstream_ready_timeout == 30.0
    assert trigger.load_jobs_concurrency == 32
    assert trigger.once_key == "scheduler.init"
    assert trigger.once_lock_bucket == "SCHEDULER_LOCKS"
    assert trigger.shared is True


def test_durations_take_timedeltas() -> None:
    trigger = NATSTrigger(ack_wait=timedelta(seconds=7), publish_retry=(3, timedelta(seconds=1)))
    assert trigger.ack_wait == 7.0
    assert trigger.publish_retry == (3, 1.0)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"servers": "nats://x", "js": object()}, ValueError),
        ({"stream_name": "A.B"}, ValueError),
        ({"consumer_name": ""}, ValueError),
        ({"subject_prefix": "a.*"}, ValueError),
        ({"subject_prefix": "a..b"}, ValueError),
        ({"replicas": 0}, ValueError),
        ({"ack_wait": 0.5}, ValueError),
        ({"ack_wait": "30"}, TypeError),
        ({"max_in_flight": 0}, ValueError),
        ({"publish_retry": 3}, TypeError),
        ({"reconciler_interval": -1}, ValueError),
        ({"on_rescheduling_failed": "nope"}, TypeError),
        ({"servers": []}, ValueError),
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        NATSTrigger(**options)


# -- retries ---------------------------------------------------------------------------------


async def test_transient_failures_are_retried_then_raised() -> None:
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        raise nats.errors.TimeoutError

    with pytest.raises(nats.errors.TimeoutError):
        await _retry(flaky, RetryPolicy(3, 0.001), "test")
    assert calls == 3


async def test_other_failures_are_not_retried() -> None:
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise nats.js.errors.BadRequestError

    with pytest.raises(nats.js.errors.BadRequestError):
        await _retry(refused, RetryPolicy(5, 0.001), "test")
    assert calls == 1


async def test_a_retry_budget_bounds_the_time() -> None:
    async def down() -> None:
        raise nats.errors.NoServersError

    began = time.monotonic()
    with pytest.raises(nats.errors.NoServersError):
        await _retry(down, RetryPolicy(1_000_000, 0.01, budget=0.3), "test")
    assert time.monotonic() - began < 1.5


# -- bodies ----------------------------------------------------------------------------------


def test_a_due_body_carries_the_exact_time() -> None:
    at = datetime(2025, 10, 2, 15, 4, 5, 123456, tzinfo=UTC)
    body = encode_due("a.b *", at)
    assert b'"scheduled_at":"2025-10-02T15:04:05.123456Z"' in body
    assert decode_due(body)[:2] == ("a.b *", at)


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b'{"v": 2, "job_id": "a", "scheduled_at": "2025-01-01T00:00:00Z"}',
     b'{"v": 1, "job_id": "", "scheduled_at": "2025-01-01T00:00:00Z"}',
     b'{"v": 1, "job_id": "a", "scheduled_at": "yesterday"}',
     b'{"v": 1, "job_id": "a", "scheduled_at": "2025-01-01T00:00:00"}', b"\xff\xfe"],
)  # fmt: skip
def test_foreign_bodies_are_rejected(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_due(body)


async def test_the_reconciler_stops_when_its_cancel_comes_back_as_another_error() -> None:
    """nats-py can turn a cancel that lands inside a request into a timeout, which the
    store reports as StorageConnectionError; stop() must end the loop all the same."""
    import tickwork
    from tickwork_nats_trigger._reconciler import Reconciler

    scanning = asyncio.Event()
    swallowed: list[bool] = []

    class CancelSwallowingStore:
        async def list_jobs(self) -> list[Any]:
            scanning.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                if swallowed:  # only the first one, so a failing test cannot hang
                    raise
                swallowed.append(True)
                raise tickwork.StorageConnectionError("nats: timeout") from None
            return []

    async def arm(job_id: str, run_at: datetime) -> None:
        raise AssertionError("nothing to arm")

    reconciler = Reconciler(
        CancelSwallowingStore(),  # type: ignore[arg-type]
        arm,
        interval=0.01,
        grace_period=60,
    )
    reconciler.start()
    await asyncio.wait_for(scanning.wait(), 5)
    stopping = asyncio.ensure_future(reconciler.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2)
    assert done, "stop() is still waiting for the reconciler loop"
    assert swallowed == [True]
