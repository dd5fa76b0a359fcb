"""The store goes away and comes back: the pages answer 503 "store unavailable" in the
meantime, quickly, and recover by themselves (a real NATS server, stopped and started)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from support.nats_server import NatsServer
from support.web_app import seed_store

import tickwork
from tickwork_web import create_app

Client = Callable[..., httpx.AsyncClient]

pytestmark = pytest.mark.nats


async def test_pages_answer_503_while_the_store_is_down_and_recover(
    nats_server: NatsServer, client: Client
) -> None:
    store = tickwork.create_store(nats_server.url)
    await store.initialize()
    seeded = await seed_store(store)
    await store.close()
    app = create_app(nats_server.url)  # the app opens the store itself
    web = client(app)
    async with app.router.lifespan_context(app):
        assert (await web.get("/jobs")).status_code == 200

        nats_server.kill()
        first = await web.get("/")  # waits for the store's own timeout
        assert first.status_code == 503
        assert "store unavailable" in first.text
        # The next pages do not wait again: the store failed a moment ago.
        for path in ("/jobs", "/jobs/" + seeded.cron, "/api/jobs", "/api/overview"):
            started = time.monotonic()
            response = await web.get(path)
            assert response.status_code == 503, (path, response.text[:300])
            assert "store unavailable" in response.text
            assert time.monotonic() - started < 1.0, path
        assert "the store's log" not in first.text
        assert "nats://" not in first.text

        nats_server.restart()
        deadline = time.monotonic() + 30
        while True:
            response = await web.get("/jobs")
            if response.status_code == 200:
                break
            assert time.monotonic() < deadline, response.text[:300]
            await asyncio.sleep(0.2)
        assert seeded.cron in response.text
        assert (await web.get("/jobs/" + seeded.cron)).status_code == 200
