"""The app over a scheduler: actions through its public methods, run now, and live
events streamed to the pages (Server-Sent Events, over a real server)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from support.web_app import WEB_TOKEN, serve_app
from web_helpers import api_path, job_path, log_in, post_form

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    JobPaused,
    JobStatus,
    RunCompleted,
    Scheduler,
)
from tickwork_web import create_app

Client = Callable[..., httpx.AsyncClient]
BEARER = {"Authorization": f"Bearer {WEB_TOKEN}"}
HOUR = IntervalSchedule(timedelta(hours=1))


async def _wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_actions_go_through_the_scheduler(tmp_path: Path, client: Client) -> None:
    ran: list[str] = []
    scheduler = AsyncScheduler(
        store=f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}",
        handler=lambda event: ran.append(event.id),
    )
    async with scheduler:
        await scheduler.add_job("hourly", HOUR)
        events: list[Any] = []
        scheduler.subscribe(events.append, JobPaused, RunCompleted)
        web = client(create_app(scheduler, token=WEB_TOKEN), **BEARER)

        paused = await web.post(api_path("hourly", "/pause"))
        assert paused.json()["status"] == "disabled"
        assert (await scheduler.get_job("hourly")).status is JobStatus.DISABLED
        await _wait_for(lambda: _async(any(isinstance(e, JobPaused) for e in events)))
        await web.post(api_path("hourly", "/resume"))
        assert (await scheduler.get_job("hourly")).status is JobStatus.PENDING

        run = (await web.post(api_path("hourly", "/run"))).json()
        assert run["started"] is True
        assert run["execution_id"]

        async def recorded() -> Any:
            page = (await web.get("/api/executions", params={"job_id": "hourly"})).json()
            return [r for r in page["records"] if r["execution_id"] == run["execution_id"]]

        record = (await _wait_for(recorded))[0]
        assert record["manual"] is True
        assert ran == ["hourly"]

        await web.put(api_path("hourly", "/schedule"), json={"schedule": "interval:2h"})
        job = await scheduler.get_job("hourly")
        assert job.schedule == IntervalSchedule(timedelta(hours=2))
        await web.patch(api_path("hourly", "/options"), json={"timeout": 9})
        assert (await scheduler.get_job("hourly")).options.timeout == timedelta(seconds=9)

        # The pages say run now starts a run (not "due at the next poll").
        pages = client(create_app(scheduler, token=WEB_TOKEN))
        await log_in(pages, WEB_TOKEN)
        started = await post_form(pages, job_path("hourly", "/run"), job_path("hourly"))
        assert started.headers["location"].endswith("?done=started")
        assert (await pages.get(job_path("hourly"))).text.count('data-live="1"') == 1

        await web.delete(api_path("hourly"))
        assert await scheduler.list_jobs() == []


async def _async(value: Any) -> Any:
    return value


async def test_run_now_needs_a_running_scheduler(client: Client) -> None:
    scheduler = AsyncScheduler()
    await scheduler.add_job("later", HOUR)  # kept for the next start
    web = client(create_app(scheduler, token=WEB_TOKEN), **BEARER)
    response = await web.post(api_path("later", "/run"))
    assert response.status_code == 409
    assert "not running" in response.json()["error"]


def test_live_events_reach_the_page_stream_from_a_blocking_scheduler() -> None:
    """A blocking scheduler keeps its store on its own loop; the app, served by uvicorn
    on another, reads it there and streams the scheduler's events."""
    with Scheduler(handler=lambda event: None) as scheduler:
        scheduler.add_job("streamed", HOUR)
        app = create_app(scheduler, token=WEB_TOKEN)
        with serve_app(app) as served:
            lines: list[dict[str, Any]] = []
            opened = threading.Event()

            def listen() -> None:
                with httpx.stream("GET", served.url + "/api/events", timeout=10) as response:
                    assert response.headers["content-type"].startswith("text/event-stream")
                    opened.set()
                    for line in response.iter_lines():
                        if line.startswith("data: "):
                            lines.append(json.loads(line[6:]))
                            if lines[-1]["type"] == "JobPaused":
                                return

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            assert opened.wait(10)
            time.sleep(0.2)  # the subscription is made before the first byte is sent
            with httpx.Client(base_url=served.url, headers=BEARER) as web:
                assert web.get("/jobs").status_code == 200
                assert web.get(job_path("streamed")).status_code == 200
                assert web.post(api_path("streamed", "/pause")).status_code == 200
            listener.join(10)
            assert {"type": "JobPaused", "job_id": "streamed"}.items() <= lines[-1].items()
        assert scheduler.get_job("streamed").status is JobStatus.DISABLED


async def test_without_a_scheduler_there_is_no_stream(client: Client) -> None:
    from tickwork import MemoryStore

    store = MemoryStore()
    await store.initialize()
    web = client(create_app(store))
    assert (await web.get("/api/events")).status_code == 204
    page = (await web.get("/jobs")).text
    assert 'data-live="0"' in page
    assert 'id="refresh"' in page
