"""The contract of :class:`~tickwork.abc.ChangeSignalingStore`: a signal sent through
one store object reaches every listener on the same backend, through other store
objects (as other processes would), with the ids it names (or as "everything" when it
names none or too many), and listening can stop and start again.

It does not repeat the store contract (a store that signals changes runs that one in
another class already): subclass it next to your store's other contract classes, with
the same ``make_store`` fixture. Losing the listening connection depends on the
backend, so each store tests that against its own server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from .._change_payload import MOST_IDS
from .._errors import StorageNotInitializedError
from ..abc import ChangedJobs, ChangeSignalingStore, Store

__all__ = ["ChangeSignalingStoreContract"]

#: How long a test waits for a signal that must arrive (it takes milliseconds).
ARRIVES_WITHIN = 5.0


#: Job ids a store must carry unchanged: characters that mean something in SQL, JSON,
#: NATS subjects or HTML, spaces and non-ASCII text.
AWKWARD_IDS = frozenset(
    {"plain", "it's; DROP TABLE x --", 'say "hi"\\n', "a.b.*.>", "<b>&amp;", "żółw 🐢"}
)


async def next_signal(
    signals: AsyncIterator[ChangedJobs], timeout: float = ARRIVES_WITHIN
) -> ChangedJobs:
    """Wait for the next item of a listener's iterator (TimeoutError if none comes)."""
    async with asyncio.timeout(timeout):
        return await anext(signals)


class ChangeSignalingStoreContract:
    """``signals_changes`` is true, and ``signal_changes`` reaches every listener."""

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        """Return a factory of new, uninitialized stores over one backend."""
        raise NotImplementedError("override the make_store fixture in your subclass")

    @pytest.fixture
    async def stores(
        self, make_store: Callable[[], Store]
    ) -> AsyncIterator[list[ChangeSignalingStore]]:
        """Three initialized store objects over the same backend."""
        opened: list[ChangeSignalingStore] = []
        try:
            for _ in range(3):
                store = make_store()
                assert isinstance(store, ChangeSignalingStore), type(store).__name__
                await store.initialize()
                opened.append(store)
            yield opened
        finally:
            for store in opened:
                await store.close()

    async def test_it_says_it_signals_changes(self, stores: list[ChangeSignalingStore]) -> None:
        assert all(store.signals_changes is True for store in stores)

    async def test_a_signal_reaches_every_listener(
        self, stores: list[ChangeSignalingStore]
    ) -> None:
        sender, first, second = stores
        async with first.listen_for_changes() as one, second.listen_for_changes() as two:
            await sender.signal_changes()
            await next_signal(one)
            await next_signal(two)
            await sender.signal_changes()  # and the next one too
            await next_signal(one)
            await next_signal(two)

    async def test_a_burst_of_signals_is_heard(self, stores: list[ChangeSignalingStore]) -> None:
        sender, listener, _ = stores
        async with listener.listen_for_changes() as signals:
            await asyncio.gather(*(sender.signal_changes() for _ in range(20)))
            await next_signal(signals)

    async def test_a_signal_names_its_jobs(self, stores: list[ChangeSignalingStore]) -> None:
        sender, listener, _ = stores
        async with listener.listen_for_changes() as signals:
            await sender.signal_changes(AWKWARD_IDS)
            assert await next_signal(signals) == AWKWARD_IDS
            await sender.signal_changes(["one"])
            assert await next_signal(signals) == frozenset({"one"})

    async def test_a_signal_without_ids_says_everything(
        self, stores: list[ChangeSignalingStore]
    ) -> None:
        sender, listener, _ = stores
        async with listener.listen_for_changes() as signals:
            await sender.signal_changes()
            assert await next_signal(signals) is None
            await sender.signal_changes(None)
            assert await next_signal(signals) is None

    async def test_too_many_ids_say_everything(self, stores: list[ChangeSignalingStore]) -> None:
        sender, listener, _ = stores
        async with listener.listen_for_changes() as signals:
            await sender.signal_changes([f"job-{n:06}" for n in range(MOST_IDS + 1)])
            assert await next_signal(signals) is None

    async def test_a_bursts_ids_all_arrive(self, stores: list[ChangeSignalingStore]) -> None:
        sender, listener, _ = stores
        sent = {f"burst-{n}" for n in range(20)}
        heard: set[str] = set()
        async with listener.listen_for_changes() as signals:
            await asyncio.gather(*(sender.signal_changes([job_id]) for job_id in sent))
            while not sent <= heard:
                job_ids = await next_signal(signals)
                if job_ids is None:  # allowed: "everything" covers them
                    break
                heard |= job_ids

    async def test_listening_again_after_leaving(self, stores: list[ChangeSignalingStore]) -> None:
        sender, listener, _ = stores
        async with listener.listen_for_changes() as signals:
            await sender.signal_changes()
            await next_signal(signals)
        await sender.signal_changes()  # nobody listens: not an error
        async with listener.listen_for_changes() as signals:
            await sender.signal_changes()
            await next_signal(signals)

    async def test_a_store_that_is_not_initialized_refuses(
        self, make_store: Callable[[], Store]
    ) -> None:
        store = make_store()
        assert isinstance(store, ChangeSignalingStore)
        with pytest.raises(StorageNotInitializedError):
            await store.signal_changes()
        with pytest.raises(StorageNotInitializedError):
            async with store.listen_for_changes():
                pass
