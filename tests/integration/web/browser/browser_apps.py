"""A scheduler and the web app over it, served for the browser tests.

:func:`served_scheduler` seeds a store (``support.web_app.seed_store``), starts an
``AsyncScheduler`` on it whose handler notes what it ran, and serves
``create_app(scheduler)`` on the same event loop (``browser_served.serve_live``), so a
test can drive the pages and then check the store and the scheduler from that loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import attrs
from browser_served import LiveApp, serve_live
from support.web_app import WEB_TOKEN, SeededJobs, seed_store

import tickwork

__all__ = ["Ran", "Served", "pages_left", "served_scheduler"]


class Ran:
    """What the live scheduler's handler saw: job ids, in order."""

    def __init__(self) -> None:
        self.job_ids: list[str] = []

    async def __call__(self, event: tickwork.JobEvent) -> None:
        self.job_ids.append(event.id)


@attrs.frozen
class Served:
    """An app over a running scheduler: where it is, what was seeded, the store (to
    check what an action did, with ``live.call``) and what the handler ran."""

    live: LiveApp
    seeded: SeededJobs
    store: tickwork.Store
    scheduler: tickwork.AsyncScheduler
    ran: Ran

    @property
    def url(self) -> str:
        return self.live.url

    def job(self, job_id: str) -> tickwork.JobData:
        """The job as the store holds it now."""
        return self.live.call(self.store.get_job(job_id))


@contextlib.contextmanager
def served_scheduler(store_url: str | None, *, token: str | None = WEB_TOKEN) -> Iterator[Served]:
    """A scheduler running on the seeded store (memory when ``store_url`` is None),
    and the app over it (read-only without ``token``), served on one loop."""
    from tickwork_web import create_app

    ran = Ran()
    made: dict[str, Any] = {}

    async def build(stack: contextlib.AsyncExitStack) -> Any:
        store = tickwork.MemoryStore() if store_url is None else tickwork.create_store(store_url)
        await store.initialize()
        stack.push_async_callback(store.close)
        made["seeded"], made["store"] = await seed_store(store), store
        scheduler = tickwork.AsyncScheduler(store, ran, worker_id="browser-tests")
        await scheduler.start()
        stack.push_async_callback(scheduler.stop)
        made["scheduler"] = scheduler
        return create_app(scheduler, token=token)

    with serve_live(build) as live:
        yield Served(live, made["seeded"], made["store"], made["scheduler"], ran)


@contextlib.contextmanager
def pages_left(driver: Any) -> Iterator[None]:
    """Leave the app's pages before it stops: a page following live events holds a
    stream open, which the server would otherwise have to cut."""
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            driver.get("about:blank")
