"""A delivery from a shared trigger that reaches a stopping scheduler (stopped, its
trigger not yet) is handed back with ``nak``, so the trigger gives it to another
worker at once instead of after its redelivery wait."""

from __future__ import annotations

from datetime import UTC, datetime

from tickwork import AsyncScheduler, JobEvent, MemoryStore
from tickwork._local_trigger import LocalTrigger
from tickwork.abc import Dispatch


class _Recorded:
    """A delivery that remembers which of ack and nak it got."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.scheduled_at = datetime.now(UTC)
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self) -> None:
        self.settled.append("nak")


class _LateTrigger(LocalTrigger):
    """Hands out one more delivery while it is being stopped, as a shared backend's
    consumer can until it is closed."""

    shared = True

    def __init__(self) -> None:
        super().__init__()
        self.dispatch: Dispatch | None = None
        self.late = _Recorded("late")

    async def start(self, dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        await super().start(dispatch)

    async def stop(self) -> None:
        assert self.dispatch is not None
        self.dispatch(self.late)
        await super().stop()


async def test_a_delivery_during_the_stop_is_handed_back() -> None:
    runs: list[JobEvent] = []

    async def handler(event: JobEvent) -> None:
        runs.append(event)

    trigger = _LateTrigger()
    scheduler = AsyncScheduler(MemoryStore(), handler, trigger=trigger)
    await scheduler.start()
    await scheduler.stop()
    assert trigger.late.settled == ["nak"]
    assert runs == []
