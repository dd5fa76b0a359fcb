"""What the blocking ``Scheduler`` has that ``AsyncScheduler`` has not, and why.

``test_sync_scheduler.py`` checks that the facade mirrors every public member of
``AsyncScheduler``. This checks the other way: a member only the facade has must be
named here, with its reason, so that none slips in unexplained.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    JobQuery,
    MemoryStore,
    Scheduler,
    StoreQueries,
)

FACADE_ONLY = {
    # The AsyncScheduler it drives: the way to await it from a coroutine handler.
    "async_scheduler",
    # Runs a coroutine on the scheduler's loop, where its store lives (a database
    # connection must not move between loops); an AsyncScheduler's caller is on its
    # loop already and simply awaits.
    "run_on_loop",
}


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_only_the_listed_members_are_the_facades_own() -> None:
    on_instance = {name for name in vars(AsyncScheduler()) if not name.startswith("_")}
    assert _public(Scheduler) - _public(AsyncScheduler) - on_instance == FACADE_ONLY


def test_run_on_loop_runs_store_reads_on_the_schedulers_loop() -> None:
    store = MemoryStore()
    with Scheduler(store=store, handler=lambda event: None) as scheduler:
        scheduler.add_job("a", IntervalSchedule(timedelta(minutes=5)))

        async def read() -> tuple[list[str], threading.Thread]:
            page = await StoreQueries(scheduler.store).query_jobs(JobQuery())
            asyncio.get_running_loop()  # on a loop, and which thread runs it
            return [job.id for job in page.jobs], threading.current_thread()

        ids, thread = scheduler.run_on_loop(read())
        assert ids == ["a"]
        assert thread is not threading.current_thread()
        # The same loop thread as every other call of this scheduler.
        _, again = scheduler.run_on_loop(read())
        assert again is thread


def test_run_on_loop_raises_what_the_coroutine_raises() -> None:
    with Scheduler(store=MemoryStore(), handler=lambda event: None) as scheduler:

        async def fails() -> None:
            raise LookupError("no such thing")

        with pytest.raises(LookupError, match="no such thing"):
            scheduler.run_on_loop(fails())


def test_run_on_loop_from_its_own_loop_refuses_instead_of_waiting_forever() -> None:
    with Scheduler(store=MemoryStore(), handler=lambda event: None) as scheduler:

        async def inner() -> int:
            return 1

        async def nested() -> str:
            coro = inner()
            try:
                scheduler.run_on_loop(coro)
            except RuntimeError as exc:
                return str(exc)
            return "not refused"

        message = scheduler.run_on_loop(nested())
    assert "its own event loop" in message
