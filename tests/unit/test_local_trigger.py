"""The local trigger: heap order, re-arming, and no cost while idle."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone

from support.waiting import until

from tickwork import AsyncScheduler, JobData, JobStatus, LocalTrigger, MemoryStore
from tickwork.abc import Delivery, Trigger


class Collector:
    def __init__(self) -> None:
        self.seen: list[tuple[str, datetime, float]] = []

    def __call__(self, delivery: Delivery) -> None:
        self.seen.append((delivery.job_id, delivery.scheduled_at, time.time()))


def soon(ms: float) -> datetime:
    return datetime.now(UTC) + timedelta(milliseconds=ms)


async def test_is_a_trigger() -> None:
    assert isinstance(LocalTrigger(), Trigger)
    assert LocalTrigger.shared is False


async def test_fires_in_time_order_with_exact_times() -> None:
    trigger, got = LocalTrigger(), Collector()
    await trigger.start(got)
    times = {"c": soon(60), "a": soon(20), "b": soon(40)}
    await trigger.arm_many(times.items())
    await until(lambda: len(got.seen) == 3)
    assert [job for job, _, _ in got.seen] == ["a", "b", "c"]
    for job, scheduled, fired in got.seen:
        assert scheduled == times[job]
        assert fired >= scheduled.timestamp() - 0.001
    await trigger.stop()


async def test_rearm_replaces_and_disarm_cancels() -> None:
    trigger, got = LocalTrigger(), Collector()
    await trigger.start(got)
    await trigger.arm("moved", soon(500))
    await trigger.arm("gone", soon(30))
    await trigger.arm("moved", soon(40))  # earlier than before: the timer moves up
    await trigger.disarm("gone")
    await trigger.disarm("never-armed")
    await until(lambda: got.seen)
    await asyncio.sleep(0.1)
    assert [job for job, _, _ in got.seen] == ["moved"]
    assert trigger.armed_count == 0
    await trigger.stop()


async def test_past_times_fire_at_once() -> None:
    trigger, got = LocalTrigger(), Collector()
    await trigger.start(got)
    await trigger.arm("late", datetime.now(UTC) - timedelta(days=365))
    await until(lambda: got.seen, timeout=1)
    await trigger.stop()


async def test_stop_forgets_armed_jobs() -> None:
    trigger, got = LocalTrigger(), Collector()
    await trigger.start(got)
    await trigger.arm("x", soon(30))
    await trigger.stop()
    await asyncio.sleep(0.08)
    assert got.seen == []


async def test_heap_stays_proportional_to_jobs() -> None:
    trigger, got = LocalTrigger(), Collector()
    await trigger.start(got)
    far = datetime.now(UTC) + timedelta(days=1)
    for i in range(5000):
        await trigger.arm("same", far + timedelta(seconds=i))
    assert trigger.armed_count == 1
    assert len(trigger._heap) < 200
    await trigger.stop()


async def test_idle_scheduler_with_100k_jobs_costs_no_cpu() -> None:
    store = MemoryStore()
    await store.initialize()
    next_year = datetime.now(UTC) + timedelta(days=365)
    await store.save_jobs(
        JobData(
            id=f"job-{i:06d}",
            schedule_type="interval",
            schedule_config="8760h0m0s",
            status=JobStatus.PENDING,
            next_run=next_year + timedelta(seconds=i),
        )
        for i in range(100_000)
    )
    fired: list[object] = []
    async with AsyncScheduler(store, fired.append) as s:
        assert len(await s.list_jobs()) == 100_000
        trigger = s.trigger
        assert isinstance(trigger, LocalTrigger)
        assert trigger.armed_count == 100_000
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(1.0)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
    # One sleeping timer: the loop does not wake up at all in that second. Allow a
    # little for the test harness itself; a polling tick over 100k jobs costs far more.
    assert cpu < 0.1 * wall, f"idle scheduler used {cpu:.3f}s CPU in {wall:.2f}s"
    assert fired == []


async def test_rearming_at_the_same_time_leaves_nothing_behind() -> None:
    """A change that keeps the next run re-arms it at the same time: the live entry
    stays, and the run is handed out once, with the caller's own datetime."""
    trigger, got = LocalTrigger(), Collector()
    await trigger.start(got)
    at = soon(30)
    for _ in range(1000):
        await trigger.arm("same", at)
    assert len(trigger._heap) == 1
    await until(lambda: got.seen)
    await asyncio.sleep(0.05)
    assert [(job, scheduled) for job, scheduled, _ in got.seen] == [("same", at)]
    assert got.seen[0][1] is at
    await trigger.stop()


async def test_times_of_any_zone_fire_in_order() -> None:
    """The heap orders the datetimes themselves: aware ones of other zones order by
    their instant, and a naive one is local time (as ``timestamp()`` takes it)."""
    trigger, got = LocalTrigger(), Collector()
    await trigger.start(got)
    plus2 = timezone(timedelta(hours=2))
    local = (datetime.now() + timedelta(milliseconds=60)).replace(tzinfo=None)
    await trigger.arm("naive-third", local)
    await trigger.arm("plus2-first", soon(20).astimezone(plus2))
    await trigger.arm("utc-second", soon(40))
    await until(lambda: len(got.seen) == 3)
    assert [job for job, _, _ in got.seen] == ["plus2-first", "utc-second", "naive-third"]
    for _job, scheduled, fired in got.seen:
        assert scheduled.tzinfo is UTC
        assert fired >= scheduled.timestamp() - 0.001
    await trigger.stop()


async def test_a_disarmed_then_rearmed_job_fires_once_at_its_new_time() -> None:
    trigger, got = LocalTrigger(), Collector()
    await trigger.start(got)
    first, second = soon(20), soon(50)
    await trigger.arm("j", first)
    await trigger.disarm("j")
    await trigger.arm("j", second)
    await trigger.arm("k", first)
    await until(lambda: len(got.seen) == 2)
    await asyncio.sleep(0.05)
    assert [(job, scheduled) for job, scheduled, _ in got.seen] == [("k", first), ("j", second)]
    await trigger.stop()
