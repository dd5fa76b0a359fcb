"""Several processes share one JetStream: first-time provisioning is serialized by the
distributed once, ``save_job`` is create-only, and updates/deletes are compare-and-set
on the KV revision, so no write is lost and no deleted job comes back."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import attrs
import nats.errors
import nats.js.errors
import pytest
from nats.js import JetStreamContext
from support.nats_server import NatsServer
from support.rows import T0, job_row

from tickwork import (
    FinishOutcome,
    JobData,
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    RunFinish,
    StorageOperationError,
)
from tickwork.testing import make_job, make_record
from tickwork_nats_store import JetStreamOnce, NATSStore
from tickwork_nats_store import _keys as keys
from tickwork_nats_store import _store as store_module

pytestmark = pytest.mark.nats

ROOT = Path(__file__).resolve().parents[3]


def job(job_id: str = "shared", **metadata: str) -> JobData:
    return job_row(job_id, **metadata)


@pytest.fixture
async def stores(nats_server: NatsServer) -> AsyncIterator[list[NATSStore]]:
    """Four initialized stores, each with its own connection (like four processes)."""
    made = [NATSStore(nats_server.url) for _ in range(4)]
    await asyncio.gather(*(s.initialize() for s in made))
    try:
        yield made
    finally:
        await asyncio.gather(*(s.close() for s in made))


# -- first-time provisioning ---------------------------------------------------------------


async def test_concurrent_first_initialize_creates_each_bucket_once(
    nats_server: NatsServer, jetstream: JetStreamContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork.nats")
    stores = [NATSStore(nats_server.url) for _ in range(8)]
    await asyncio.gather(*(s.initialize() for s in stores))
    try:
        created = [r.getMessage() for r in caplog.records if "created JetStream KV" in r.message]
        assert sum("SCHEDULER_JOBS" in m for m in created) == 1
        assert sum("SCHEDULER_EXECUTIONS" in m for m in created) == 1
        await stores[0].save_job(job("from-0"))
        assert [j.id for j in await stores[7].list_jobs()] == ["from-0"]
        names = sorted(str(s.config.name) for s in await jetstream.streams_info())
        assert names == ["KV_SCHEDULER_EXECUTIONS", "KV_SCHEDULER_JOBS", "KV_SCHEDULER_LOCKS"]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


WORKER = textwrap.dedent(
    """
    import asyncio, logging, sys, time
    from tickwork_nats_store import NATSStore
    from tickwork import JobData

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    url, name, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])

    async def main():
        time.sleep(max(0.0, start_at - time.time()))  # line up with the other processes
        store = NATSStore(url)
        await store.initialize()
        await store.save_job(JobData(id=name, schedule_type="interval", schedule_config="1s"))
        await store.close()
        print("ok")

    asyncio.run(main())
    """
)


async def test_separate_processes_initialize_at_once(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    start_at = time.time() + 1.5  # after every interpreter has started
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            nats_server.url,
            f"proc-{i}",
            str(start_at),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        for i in range(4)
    ]
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
            outputs.append((proc.returncode, stdout.decode(), stderr.decode()))
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    for code, out, err in outputs:
        assert code == 0, err
        assert out.strip() == "ok"
    logs = "".join(err for _, _, err in outputs)
    assert logs.count("created JetStream KV bucket SCHEDULER_JOBS") == 1, logs

    store = NATSStore(nats_server.url)
    await store.initialize()
    try:
        assert [j.id for j in await store.list_jobs()] == [f"proc-{i}" for i in range(4)]
    finally:
        await store.close()


async def test_a_custom_once_is_used(nats_server: NatsServer) -> None:
    calls: list[str] = []

    async def once(key: str, fn: Callable[[], Awaitable[None]]) -> None:
        calls.append(key)
        await fn()

    store = NATSStore(nats_server.url, once=once, once_key="my-app.scheduler-storage")
    await store.initialize()
    await store.close()
    assert calls == ["my-app.scheduler-storage"]
    await store.initialize()  # the buckets exist now: no provisioning, no once
    await store.close()
    assert calls == ["my-app.scheduler-storage"]


# -- writers on one job ------------------------------------------------------------------


async def test_only_one_of_concurrent_saves_wins(stores: list[NATSStore]) -> None:
    results = await asyncio.gather(
        *(s.save_job(job(writer=str(i))) for i, s in enumerate(stores)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, JobDataAlreadyExistsError) for r in results if r is not None)
    winner = results.index(None)
    assert (await stores[0].get_job("shared")).metadata == {"writer": str(winner)}


async def test_concurrent_updates_all_apply(stores: list[NATSStore]) -> None:
    await stores[0].save_job(job())

    async def writer(store: NATSStore, name: str) -> None:
        for i in range(25):
            await store.update_job(job(writer=name, n=str(i)))

    await asyncio.gather(*(writer(s, str(w)) for w, s in enumerate(stores)))
    final = await stores[0].get_job("shared")
    assert final.metadata["n"] == "24"  # the last write applied is some writer's last


async def test_a_deleted_job_never_comes_back(stores: list[NATSStore]) -> None:
    deleter, *updaters = stores
    for round_ in range(15):
        job_id = f"victim-{round_}"
        await deleter.save_job(job(job_id))

        async def update(store: NATSStore, job_id: str = job_id) -> None:
            for _ in range(3):
                try:
                    await store.update_job(job(job_id, by="updater"))
                except JobDataNotFoundError:
                    return

        await asyncio.gather(deleter.delete_job(job_id), *(update(s) for s in updaters))
        with pytest.raises(JobDataNotFoundError):
            await deleter.get_job(job_id)


async def test_update_retries_after_losing_a_race(
    stores: list[NATSStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = stores[0], stores[1]
    await mine.save_job(job(v="0"))
    bucket = mine._jobs
    assert bucket is not None
    real_update = bucket.update
    raced = False

    async def racing_update(key: str, value: bytes, revision: int) -> int:
        nonlocal raced
        if not raced:  # another process writes between our read and our write
            raced = True
            await other.update_job(job(v="other"))
        return await real_update(key, value, revision)

    monkeypatch.setattr(bucket, "update", racing_update)
    await mine.update_job(job(v="mine"))
    assert raced
    assert (await other.get_job("shared")).metadata == {"v": "mine"}


async def test_update_gives_up_on_a_key_that_never_settles(
    stores: list[NATSStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = stores[0]
    await store.save_job(job())
    bucket = store._jobs
    assert bucket is not None

    async def always_conflicts(key: str, value: bytes, revision: int) -> int:
        raise nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence")

    monkeypatch.setattr(bucket, "update", always_conflicts)
    monkeypatch.setattr(store_module, "_CAS_ATTEMPTS", 3)
    with pytest.raises(StorageOperationError, match="concurrent writers"):
        await store.update_job(job(v="x"))


# -- finish_runs ---------------------------------------------------------------------------


async def test_of_four_workers_finishing_the_same_runs_one_wins_each(
    stores: list[NATSStore],
) -> None:
    ids = [f"run-{i}" for i in range(20)]
    for job_id in ids:
        await stores[0].save_job(job(job_id))
    later = T0 + timedelta(seconds=1)
    results = await asyncio.gather(
        *(
            store.finish_runs(
                [
                    RunFinish(
                        records=(make_record(job_id, f"{job_id}-by-{w}"),),
                        job=attrs.evolve(job(job_id, by=str(w)), updated_at=later),
                        seen=T0,
                        release_owner=f"worker-{w}",  # no claims here: nothing to drop
                    )
                    for job_id in ids
                ]
            )
            for w, store in enumerate(stores)
        )
    )
    for i, job_id in enumerate(ids):
        won = [w for w, outcomes in enumerate(results) if outcomes[i] is FinishOutcome.STORED]
        assert len(won) == 1, (job_id, [outcomes[i] for outcomes in results])
        assert {outcomes[i] for outcomes in results} == {
            FinishOutcome.STORED,
            FinishOutcome.CHANGED,
        }
        stored = await stores[0].get_job(job_id)
        assert stored.metadata == {"by": str(won[0])}
        assert len(await stores[0].list_executions(job_id)) == 4  # every record


async def test_a_finish_that_loses_its_revision_compares_again(
    stores: list[NATSStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write made between the read and the compare-and-set that keeps the job's
    version (``updated_at``) does not make the finish CHANGED; one that moves it does."""
    mine, other = stores[0], stores[1]
    monkeypatch.setattr(mine, "_batched", None)  # the key-by-key path (batches: their own test)
    await mine.save_job(job("same"))
    await mine.save_job(job("moved"))
    bucket = mine._jobs
    assert bucket is not None
    real_update = bucket.update
    raced: set[str] = set()

    async def racing_update(key: str, value: bytes, revision: int) -> int:
        job_id = keys.decode_id(key)
        if job_id not in raced:  # another process writes between our read and our write
            raced.add(job_id)
            at = T0 if job_id == "same" else T0 + timedelta(seconds=5)
            await other.update_job(attrs.evolve(job(job_id, v="other"), updated_at=at))
        return await real_update(key, value, revision)

    monkeypatch.setattr(bucket, "update", racing_update)
    later = T0 + timedelta(seconds=1)
    outcomes = await mine.finish_runs(
        [
            RunFinish(job=attrs.evolve(job("same", v="mine"), updated_at=later), seen=T0),
            RunFinish(job=attrs.evolve(job("moved", v="mine"), updated_at=later), seen=T0),
        ]
    )
    assert raced == {"same", "moved"}
    assert outcomes == [FinishOutcome.STORED, FinishOutcome.CHANGED]
    assert (await other.get_job("same")).metadata == {"v": "mine"}
    assert (await other.get_job("moved")).metadata == {"v": "other"}


# -- the distributed once itself ---------------------------------------------------------------


async def test_once_runs_fn_in_exactly_one_caller(jetstream: JetStreamContext) -> None:
    runs = 0
    finished = asyncio.Event()

    async def fn() -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.3)
        finished.set()

    async def caller() -> bool:
        await JetStreamOnce(jetstream)("test.key", fn)
        return finished.is_set()

    returned_after_fn = await asyncio.gather(*(caller() for _ in range(6)))
    assert runs == 1
    assert all(returned_after_fn)
    await JetStreamOnce(jetstream)("test.key", fn)  # remembered as done
    assert runs == 1


async def test_once_hands_over_when_the_holder_fails(jetstream: JetStreamContext) -> None:
    attempts: list[str] = []

    def make(name: str, fail: bool) -> Callable[[], Awaitable[None]]:
        async def fn() -> None:
            attempts.append(name)
            await asyncio.sleep(0.1)
            if fail:
                raise RuntimeError("provisioning failed")

        return fn

    first = asyncio.create_task(JetStreamOnce(jetstream)("k", make("first", fail=True)))
    await asyncio.sleep(0.05)  # the first one holds the lock
    second = asyncio.create_task(JetStreamOnce(jetstream)("k", make("second", fail=False)))
    with pytest.raises(RuntimeError, match="provisioning failed"):
        await first
    await second
    assert attempts == ["first", "second"]


async def test_once_takes_over_the_lock_of_a_dead_process(jetstream: JetStreamContext) -> None:
    once = JetStreamOnce(jetstream, bucket="LOCKS_SHORT", ttl=1.0)
    ran = []

    async def fn() -> None:
        ran.append(True)

    # A process took the lock and died: nobody refreshes or releases it.
    dead = JetStreamOnce(jetstream, bucket="LOCKS_SHORT", ttl=1.0)
    bucket = await dead._lock_bucket()
    await bucket.create("k", dead._document("running"))
    started = time.monotonic()
    await once("k", fn)
    assert ran == [True]
    assert time.monotonic() - started < 5  # the lock expired after about ttl


async def test_once_gives_up_waiting_for_a_stuck_holder(jetstream: JetStreamContext) -> None:
    stuck = JetStreamOnce(jetstream)
    bucket = await stuck._lock_bucket()
    await bucket.create("k", stuck._document("running"))

    async def fn() -> None:
        raise AssertionError("must not run while another process holds the lock")

    with pytest.raises(StorageOperationError, match="gave up"):
        await JetStreamOnce(jetstream, wait_timeout=0.3)("k", fn)


async def test_once_waits_for_a_lock_bucket_that_does_not_answer_yet(
    jetstream: JetStreamContext,
) -> None:
    """In a cluster a bucket just created answers once its stream has a leader; until
    then a write gets no response. Here the lock bucket's stream is gone when the once
    starts and comes back 0.3 s later: the once waits for it instead of failing."""
    once = JetStreamOnce(jetstream, bucket="LOCKS_LATE", wait_timeout=10)
    bucket = await once._lock_bucket()
    config = (await jetstream.stream_info(bucket.stream)).config
    await jetstream.delete_stream(bucket.stream)
    ran: list[bool] = []

    async def fn() -> None:
        ran.append(True)

    async def come_back() -> None:
        await asyncio.sleep(0.3)
        await jetstream.add_stream(config)

    await asyncio.gather(once("k", fn), come_back())
    assert ran == [True]
    # One that never answers: given up after the wait, with the error the write got.
    impatient = JetStreamOnce(jetstream, bucket="LOCKS_LATE", wait_timeout=0.3)
    await impatient._lock_bucket()
    await jetstream.delete_stream(bucket.stream)
    started = time.monotonic()
    with pytest.raises((nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError)):
        await impatient("k2", fn)
    assert time.monotonic() - started >= 0.3


async def test_listing_histories_in_a_loop_leaves_no_consumers(
    nats_server: NatsServer, jetstream: JetStreamContext
) -> None:
    """Each listing reads through an ephemeral consumer; it is deleted when the listing
    ends, not left for its inactive threshold (hundreds of listings a second would
    otherwise hit the server's consumer limit)."""
    store = NATSStore(nats_server.url)
    await store.initialize()
    try:
        await store.save_job(make_job("job-1"))
        await store.save_execution(make_record("job-1", "run-1"))
        for _ in range(50):
            assert len(await store.list_executions("job-1")) == 1
        info = await jetstream.stream_info("KV_SCHEDULER_EXECUTIONS")
        assert info.state.consumer_count == 0
    finally:
        await store.close()
