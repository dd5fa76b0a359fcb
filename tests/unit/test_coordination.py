"""Several schedulers sharing one store: each due run once, changes spread, failover.

The schedulers share one ``MemoryStore(shared=True)`` in this process, which
coordinates exactly as processes do through a shared database (the real-database,
multi-process versions of these tests are in tests/integration/sqlalchemy/).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from support.rows import save_row
from support.waiting import until

from tickwork import (
    AsyncScheduler,
    BatchClaimingStore,
    ClaimingStore,
    Delivery,
    IntervalSchedule,
    JobData,
    JobEvent,
    JobStatus,
    LocalTrigger,
    MemoryStore,
    OnceSchedule,
    StartAtIntervalSchedule,
)
from tickwork.abc import Dispatch

INTERVAL = timedelta(milliseconds=50)


class Log:
    def __init__(self) -> None:
        self.runs: list[tuple[str, str, datetime]] = []

    def handler(self, worker: str, delay: float = 0.0):  # type: ignore[no-untyped-def]
        async def handle(event: JobEvent) -> None:
            self.runs.append((worker, event.id, event.scheduled_at))
            if delay:
                await asyncio.sleep(delay)

        return handle


def schedulers(store: MemoryStore, log: Log, n: int = 3, **kw: object) -> list[AsyncScheduler]:
    return [
        AsyncScheduler(store, log.handler(f"w{i}"), worker_id=f"w{i}", sync_interval=0.05, **kw)  # type: ignore[arg-type]
        for i in range(n)
    ]


async def test_coordination_turns_on_for_shared_claiming_stores() -> None:
    assert not AsyncScheduler(MemoryStore()).coordinated
    assert AsyncScheduler(MemoryStore(shared=True)).coordinated
    assert not AsyncScheduler(MemoryStore(shared=True), coordinate=False).coordinated

    class NoClaims:
        """A store with the Store methods only (it cannot claim runs)."""

    for name in [
        "initialize",
        "close",
        "save_job",
        "update_job",
        "delete_job",
        "get_job",
        "list_jobs",
        "list_jobs_by_status",
        "save_execution",
        "get_execution",
        "list_executions",
        "delete_executions",
        "health_check",
    ]:
        setattr(NoClaims, name, getattr(MemoryStore, name))
    with pytest.raises(TypeError, match="ClaimingStore"):
        AsyncScheduler(NoClaims(), coordinate=True)  # type: ignore[arg-type]


async def test_a_shared_trigger_is_not_doubled_by_claims() -> None:
    """A shared trigger hands each due run to one worker already: no claims by default."""

    class SharedTrigger(LocalTrigger):
        shared = True

    store = MemoryStore(shared=True)
    assert not AsyncScheduler(store, trigger=SharedTrigger()).coordinated
    assert AsyncScheduler(store, trigger=SharedTrigger(), coordinate=True).coordinated


class SingleClaimStore(MemoryStore):
    """A shared store without the batch capability: one claim per call."""

    claim_jobs = release_claims = get_jobs = None  # type: ignore[assignment]


def test_the_single_claim_store_has_no_batch_capability() -> None:
    assert isinstance(MemoryStore(shared=True), BatchClaimingStore)
    assert not isinstance(SingleClaimStore(shared=True), BatchClaimingStore)
    assert isinstance(SingleClaimStore(shared=True), ClaimingStore)


@pytest.mark.parametrize("store_type", [MemoryStore, SingleClaimStore], ids=["batch", "single"])
async def test_each_due_run_executes_once_across_schedulers(store_type: type[MemoryStore]) -> None:
    store, log = store_type(shared=True), Log()
    group = schedulers(store, log)
    first = group[0]
    for s in group:
        await s.start()
    for j in range(10):
        await first.add_job(f"job-{j}", IntervalSchedule(INTERVAL))
    await asyncio.sleep(1.5)
    for s in group:
        await s.stop()
    counts = Counter((job, when) for _, job, when in log.runs)
    assert counts, "nothing ran"
    duplicates = {k: v for k, v in counts.items() if v > 1}
    assert duplicates == {}
    workers = Counter(worker for worker, _, _ in log.runs)
    assert len(workers) >= 2, f"one scheduler did all the work: {workers}"
    await store.initialize()
    for j in range(10):
        history = sorted(await store.list_executions(f"job-{j}"), key=lambda r: r.start_time)
        assert len(history) >= 10
        # No gaps: every run is due exactly one interval after the previous run ended.
        for before, after in itertools.pairwise(history):
            assert (
                datetime.fromisoformat(after.metadata["scheduled_at"]) == before.end_time + INTERVAL
            )


class GatedTrigger(LocalTrigger):
    """A local trigger that drops its due deliveries while ``held`` is set.

    It stands for a process that is busy elsewhere when a run comes due, so the other
    scheduler is the only one asking for the claim. Without it, which of two
    schedulers wins a run is a race whose winner tends to keep winning: the winner
    re-arms at once, while the loser learns the next run from its next poll.
    """

    def __init__(self) -> None:
        super().__init__()
        self.held = False

    async def start(self, dispatch: Dispatch) -> None:
        def gated(delivery: Delivery) -> None:
            if not self.held:
                dispatch(delivery)

        await super().start(gated)


async def test_jobs_added_elsewhere_run_and_removal_spreads() -> None:
    store, log = MemoryStore(shared=True), Log()
    gate = GatedTrigger()
    gate.held = True
    a = AsyncScheduler(store, log.handler("w0"), worker_id="w0", sync_interval=0.05, trigger=gate)
    b = AsyncScheduler(store, log.handler("w1"), worker_id="w1", sync_interval=0.05)
    await a.start()
    await b.start()
    try:
        await a.add_job("shared", IntervalSchedule(INTERVAL))
        await until(lambda: "shared" in {j.id for j in b._entries.values()}, what="b knows it")
        await until(lambda: any(w == "w1" for w, _, _ in log.runs), what="b runs a's job")
        assert {w for w, _, _ in log.runs} == {"w1"}
        gate.held = False
        assert [j.id for j in await b.list_jobs()] == ["shared"]
        await b.pause_job("shared")
        assert (await a.get_job("shared")).status is JobStatus.DISABLED
        await asyncio.sleep(0.2)
        count = len(log.runs)
        await asyncio.sleep(0.3)
        assert len(log.runs) == count, "a paused job ran"
        await a.resume_job("shared")
        await until(lambda: len(log.runs) > count + 2, what="runs after the resume")
        await b.remove_job("shared")
        await asyncio.sleep(0.2)
        count = len(log.runs)
        await asyncio.sleep(0.3)
        assert len(log.runs) == count, "a removed job ran"
        assert await a.list_jobs() == []
    finally:
        await a.stop()
        await b.stop()


async def test_once_job_runs_once_across_schedulers() -> None:
    store, log = MemoryStore(shared=True), Log()
    group = schedulers(store, log)
    for s in group:
        await s.start()
    await group[1].add_job("once", OnceSchedule(datetime.now(UTC)))
    await until(lambda: log.runs)
    await asyncio.sleep(0.3)
    for s in group:
        await s.stop()
    assert [job for _, job, _ in log.runs] == ["once"]


async def test_run_of_a_dead_scheduler_is_taken_over_after_the_lease() -> None:
    store = MemoryStore(shared=True)
    ran: list[tuple[str, datetime]] = []
    stuck = asyncio.Event()

    async def dying(event: JobEvent) -> None:
        ran.append(("dead", event.scheduled_at))
        stuck.set()
        await asyncio.sleep(3600)  # never finishes, like a process that froze

    async def healthy(event: JobEvent) -> None:
        ran.append(("alive", event.scheduled_at))

    lease = timedelta(milliseconds=300)
    dead = AsyncScheduler(store, dying, worker_id="dead", claim_lease=lease, sync_interval=0.05)
    alive = AsyncScheduler(store, healthy, worker_id="alive", claim_lease=lease, sync_interval=0.05)
    await dead.start()
    await dead.add_job("job", OnceSchedule(datetime.now(UTC)))
    await asyncio.wait_for(stuck.wait(), 5)
    # The frozen process stops renewing its claim.
    assert dead._coordinator is not None
    dead._coordinator.lease = timedelta(hours=1)  # renewals would now be hourly
    for task in asyncio.all_tasks():
        if task.get_name().startswith("tickwork-lease-"):
            task.cancel()
    await alive.start()
    await until(lambda: any(w == "alive" for w, _ in ran), timeout=5, what="takeover")
    assert ran[0][1] == ran[1][1], "the taken-over run is the same due run"
    await alive.stop()
    await dead.stop(timeout=0.1)


class SlowReads(MemoryStore):
    """A shared store whose reads take a while, as a database's round trips do."""

    async def get_job(self, job_id: str):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.02)
        return await super().get_job(job_id)


async def test_a_run_being_finished_is_not_claimed_again_by_its_own_process() -> None:
    """While a run saves its outcome, a poll re-arms the job at the same due time; the
    process must not claim (as the same owner, which succeeds) and run that tick again."""
    store, log = SlowReads(shared=True), Log()
    (scheduler,) = schedulers(store, log, 1)
    scheduler._coordinator.sync_interval = 0.005  # type: ignore[union-attr]
    await scheduler.start()
    await scheduler.add_job("job", IntervalSchedule(INTERVAL))
    await asyncio.sleep(1.0)
    await scheduler.stop()
    counts = Counter(when for _, _, when in log.runs)
    assert len(counts) >= 5, "it barely ran"
    assert {when: n for when, n in counts.items() if n > 1} == {}


async def test_takeover_is_not_pushed_back_by_polls_that_see_the_job_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Polls look back a little (``_OVERLAP``), so they list an unchanged job several
    times; that must not restart the wait for the dead owner's lease each time (which
    would delay the takeover by the look-back)."""
    monkeypatch.setattr("tickwork._coordination._OVERLAP", timedelta(milliseconds=500))
    store = MemoryStore(shared=True)
    ran: list[tuple[str, datetime, datetime]] = []
    stuck = asyncio.Event()

    async def dying(event: JobEvent) -> None:
        ran.append(("dead", event.scheduled_at, event.started_at))
        stuck.set()
        await asyncio.sleep(3600)

    async def healthy(event: JobEvent) -> None:
        ran.append(("alive", event.scheduled_at, event.started_at))

    lease = timedelta(milliseconds=800)  # longer than the look-back
    dead = AsyncScheduler(store, dying, worker_id="dead", claim_lease=lease, sync_interval=0.05)
    alive = AsyncScheduler(store, healthy, worker_id="alive", claim_lease=lease, sync_interval=0.05)
    await dead.start()
    await alive.start()
    await dead.add_job("job", OnceSchedule(datetime.now(UTC)))
    await asyncio.wait_for(stuck.wait(), 5)
    assert dead._coordinator is not None
    dead._coordinator.lease = timedelta(hours=1)
    for task in asyncio.all_tasks():
        if task.get_name().startswith("tickwork-lease-"):
            task.cancel()
    await until(lambda: len(ran) == 2, timeout=5, what="takeover")
    (_, due, _), (who, again, started) = ran
    assert (who, again) == ("alive", due)
    # The dead owner claimed at `due` and its lease ran out `lease` later; polls that
    # restarted the wait would have delayed the takeover to about look-back + lease.
    assert started - due < lease + timedelta(milliseconds=250), started - due
    await alive.stop()
    await dead.stop(timeout=0.1)


class SlowStore(MemoryStore):
    """A shared store whose claims, reads and writes each take up to 50 ms, as a busy
    database's do (seeded, so a failure repeats)."""

    def __init__(self) -> None:
        super().__init__(shared=True)
        self._random = random.Random(7)

    async def _pause(self) -> None:
        await asyncio.sleep(self._random.uniform(0, 0.05))

    async def claim_job(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().claim_job(*args, **kwargs)

    async def release_claim(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().release_claim(*args, **kwargs)

    async def get_job(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().get_job(*args, **kwargs)

    async def update_job(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().update_job(*args, **kwargs)

    # A batch is one round trip: one pause for all of it.

    async def claim_jobs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().claim_jobs(*args, **kwargs)

    async def release_claims(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().release_claims(*args, **kwargs)

    async def get_jobs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().get_jobs(*args, **kwargs)

    async def save_execution(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().save_execution(*args, **kwargs)

    async def list_jobs_changed_since(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await self._pause()
        return await super().list_jobs_changed_since(*args, **kwargs)


class SlowSingleClaimStore(SlowStore):
    claim_jobs = release_claims = get_jobs = None  # type: ignore[assignment]


@pytest.mark.parametrize("processes", [1, 3])
@pytest.mark.parametrize("store_type", [SlowStore, SlowSingleClaimStore], ids=["batch", "single"])
async def test_releasing_a_finished_run_keeps_the_claim_on_the_next_one(
    processes: int, store_type: type[SlowStore]
) -> None:
    """A job behind its fixed grid has its next run due at once: a process claims it
    while the previous run's claim is still being released. The store keeps one claim
    per job and releases by owner, so that release must neither drop the new claim nor
    reach the store after it; otherwise this process (its record of held runs cleared)
    or another one (the claim gone) runs the new tick a second time."""
    store, log = store_type(), Log()
    group = schedulers(store, log, processes)
    for scheduler in group:
        await scheduler.start()
    start = datetime.now(UTC) + timedelta(milliseconds=100)
    grid = StartAtIntervalSchedule(start, timedelta(milliseconds=100))
    await group[0].add_jobs([(f"job-{i}", grid) for i in range(30)])
    await asyncio.sleep(1.5)
    counts = Counter((job, when) for _, job, when in log.runs)
    for scheduler in group:
        await scheduler.stop()
    assert len(counts) > 100, "it barely ran"
    assert {key: n for key, n in counts.items() if n > 1} == {}


async def test_schedulers_adding_the_same_jobs_before_start_both_start() -> None:
    store, log = MemoryStore(shared=True), Log()
    a, b = schedulers(store, log, 2)
    when = datetime.now(UTC)
    for s in (a, b):
        await s.add_job("once", OnceSchedule(when))
        await s.add_job("tick", IntervalSchedule(INTERVAL))
    await asyncio.gather(a.start(), b.start())
    await until(lambda: any(job == "once" for _, job, _ in log.runs))
    await asyncio.sleep(0.3)
    await a.stop()
    await b.stop()
    assert [job for _, job, _ in log.runs].count("once") == 1
    counts = Counter((job, when) for _, job, when in log.runs)
    assert max(counts.values()) == 1


async def test_the_poll_does_not_hand_back_what_this_process_saved() -> None:
    """Each run saves its job; the change poll must not list those writes back as
    changes (re-applying and re-arming every job this process ran, every poll)."""
    store, log = MemoryStore(shared=True), Log()
    (s,) = schedulers(store, log, 1)
    applied: list[str] = []
    recording = False
    original = s._apply_changes

    async def apply_and_record(changed: list[JobData]) -> None:
        if recording:
            applied.extend(job.id for job in changed)
        await original(changed)

    s._apply_changes = apply_and_record  # type: ignore[method-assign]
    await s.start()
    try:
        for j in range(10):
            await s.add_job(f"job-{j}", IntervalSchedule(INTERVAL))
        await asyncio.sleep(0.3)  # the poll has seen the added jobs once
        recording = True
        runs_before = len(log.runs)
        await asyncio.sleep(0.6)
        assert len(log.runs) - runs_before >= 50, "the jobs should keep running"
        assert applied == []
        # A change made elsewhere still arrives.
        paused = await store.get_job("job-3")
        paused.status = JobStatus.DISABLED
        paused.updated_at = datetime.now(UTC)
        await store.update_job(paused)
        await until(
            lambda: s._entries["job-3"].status is JobStatus.DISABLED,
            what="the pause made elsewhere arrives",
        )
        count = len([r for r in log.runs if r[1] == "job-3"])
        await asyncio.sleep(0.3)
        assert len([r for r in log.runs if r[1] == "job-3"]) == count  # and holds
    finally:
        await s.stop()


# --- after a store outage: claims that ran out during it stay with their holders ---


def test_the_takeover_cutoff_is_now_without_an_outage() -> None:
    from tickwork._coordination import takeover_cutoff

    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert takeover_cutoff(now, None, clock=100.0) == now


def test_the_takeover_cutoff_goes_back_to_the_outage_for_the_grace() -> None:
    from tickwork._coordination import ClaimProtection, takeover_cutoff

    now = datetime(2026, 12, 6, 12, 0, 40, tzinfo=UTC)
    began = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    protection = ClaimProtection(since=began, until=105.0)
    assert takeover_cutoff(now, protection, clock=104.9) == began
    assert takeover_cutoff(now, protection, clock=105.0) == now


async def _job_due_now(store: MemoryStore, job_id: str) -> datetime:
    due = datetime.now(UTC).replace(microsecond=0)
    await save_row(store, job_id, schedule_config="1s", next_run=due)
    return due


@pytest.mark.parametrize("store_type", [MemoryStore, SingleClaimStore])
async def test_a_claim_that_ran_out_during_an_outage_is_not_taken_until_the_grace_ends(
    store_type: type[MemoryStore],
) -> None:
    from tickwork._coordination import Coordinator

    store = store_type(shared=True)
    due = await _job_due_now(store, "job")
    lease = timedelta(milliseconds=100)
    holder = Coordinator(store, "holder", lease=lease)
    other = Coordinator(store, "other", lease=lease)
    outage_began = datetime.now(UTC)
    assert await holder.claim("job", due) is not None
    await asyncio.sleep(0.2)  # the holder's lease runs out while the store is away
    other.protect_claims_since(outage_began, grace=0.4)
    assert await other.claim("job", due) is None, "taken from a holder that may be alive"
    await asyncio.sleep(0.45)
    assert await other.claim("job", due) is not None, "not taken over after the grace"


async def test_a_claim_that_ran_out_before_the_outage_is_taken_at_once() -> None:
    from tickwork._coordination import Coordinator

    store = MemoryStore(shared=True)
    due = await _job_due_now(store, "job")
    lease = timedelta(milliseconds=50)
    dead = Coordinator(store, "dead", lease=lease)
    other = Coordinator(store, "other", lease=lease)
    assert await dead.claim("job", due) is not None
    await asyncio.sleep(0.1)
    # The outage began long after the dead holder's lease had run out.
    other.protect_claims_since(datetime.now(UTC) + timedelta(seconds=10), grace=60)
    assert await other.claim("job", due) is not None
