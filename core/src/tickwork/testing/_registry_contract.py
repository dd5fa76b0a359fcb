"""The contract of :class:`~tickwork.abc.WorkerRegistryStore`: the schedulers sharing a
store learn the same live set from their heartbeats.

The scheduler splits the claims by job over that set, so two stores that disagree on
it (an expired row still listed, a row lost by a concurrent beat) make schedulers
claim each other's runs, or nobody claim some at once. The suite checks what the
splitting relies on, with two store objects over one backend where it can (two
processes would see it that way).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from ..abc import Store, WorkerRegistryStore

__all__ = ["WorkerRegistryContract"]

T0 = datetime(2030, 1, 1, tzinfo=UTC)
LIFE = timedelta(seconds=10)


class WorkerRegistryContract:
    """Heartbeats, expiry and leaving, as the scheduler's membership expects them."""

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        """Return a factory of new, uninitialized stores over one empty backend."""
        raise NotImplementedError("override the make_store fixture in your subclass")

    @pytest.fixture
    async def pair(
        self, make_store: Callable[[], Store]
    ) -> AsyncIterator[tuple[WorkerRegistryStore, WorkerRegistryStore]]:
        first, second = make_store(), make_store()
        assert isinstance(first, WorkerRegistryStore), type(first).__name__
        assert isinstance(second, WorkerRegistryStore), type(second).__name__
        await first.initialize()
        await second.initialize()
        try:
            yield first, second
        finally:
            await second.close()
            await first.close()

    async def test_a_heartbeat_lists_every_live_scheduler_sorted(
        self, pair: tuple[WorkerRegistryStore, WorkerRegistryStore]
    ) -> None:
        a, b = pair
        assert await a.heartbeat("w-b", T0 + LIFE, T0) == ["w-b"]
        assert await b.heartbeat("w-a", T0 + LIFE, T0) == ["w-a", "w-b"]
        assert await a.heartbeat("w-b", T0 + LIFE, T0) == ["w-a", "w-b"]

    async def test_a_scheduler_whose_time_passed_is_forgotten(
        self, pair: tuple[WorkerRegistryStore, WorkerRegistryStore]
    ) -> None:
        a, b = pair
        await a.heartbeat("short", T0 + timedelta(seconds=1), T0)
        assert await b.heartbeat("long", T0 + LIFE, T0) == ["long", "short"]
        later = T0 + timedelta(seconds=2)
        assert await b.heartbeat("long", later + LIFE, later) == ["long"]
        # ...and comes back with its next beat.
        assert await a.heartbeat("short", later + LIFE, later) == ["long", "short"]

    async def test_a_beat_moves_the_time_on_instead_of_adding_a_row(
        self, pair: tuple[WorkerRegistryStore, WorkerRegistryStore]
    ) -> None:
        a, b = pair
        await a.heartbeat("w", T0 + timedelta(seconds=1), T0)
        await a.heartbeat("w", T0 + LIFE, T0)
        later = T0 + timedelta(seconds=5)  # past the first time, before the second
        assert await b.heartbeat("other", later + LIFE, later) == ["other", "w"]

    async def test_leaving_forgets_the_scheduler_at_once(
        self, pair: tuple[WorkerRegistryStore, WorkerRegistryStore]
    ) -> None:
        a, b = pair
        await a.heartbeat("leaving", T0 + LIFE, T0)
        await b.heartbeat("staying", T0 + LIFE, T0)
        await a.leave("leaving")
        await a.leave("never-there")  # no error
        assert await b.heartbeat("staying", T0 + LIFE, T0) == ["staying"]

    async def test_concurrent_beats_lose_nobody(
        self, pair: tuple[WorkerRegistryStore, WorkerRegistryStore]
    ) -> None:
        a, b = pair
        names = [f"w-{i}" for i in range(6)]
        await asyncio.gather(
            *((a if i % 2 else b).heartbeat(name, T0 + LIFE, T0) for i, name in enumerate(names))
        )
        assert await a.heartbeat("w-0", T0 + LIFE, T0) == names

    async def test_beats_touch_no_job(
        self, pair: tuple[WorkerRegistryStore, WorkerRegistryStore]
    ) -> None:
        a, _ = pair
        await a.heartbeat("w", T0 + LIFE, T0)
        await a.leave("w")
        assert await a.list_jobs() == []
