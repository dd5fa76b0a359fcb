"""The dashboard mounted under a path of another ASGI application works as well as
served alone: its stylesheet and script load, its links and forms stay under the
mount, and its actions work from there."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_apps import pages_left
from browser_checks import by_id, click, css, has_id, job_path, open_page, stylesheet_rules
from browser_chromium import console_errors
from browser_served import LiveApp, serve_live
from support.web_app import WEB_TOKEN, SeededJobs, seed_store

import tickwork

PREFIX = "/ops/tickwork"


@pytest.fixture
def mounted(chromium_session: Any) -> Iterator[tuple[LiveApp, SeededJobs, tickwork.Store]]:
    """A host application with a page of its own and the dashboard at :data:`PREFIX`."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    from tickwork_web import create_app

    made: dict[str, Any] = {}

    async def home(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("the host application")

    async def build(stack: contextlib.AsyncExitStack) -> Any:
        store = tickwork.MemoryStore()
        await store.initialize()
        stack.push_async_callback(store.close)
        made["seeded"], made["store"] = await seed_store(store), store
        dashboard = create_app(store, token=WEB_TOKEN)
        return Starlette(routes=[Route("/", home), Mount(PREFIX, app=dashboard)])

    with serve_live(build) as live, pages_left(chromium_session):
        yield live, made["seeded"], made["store"]


def test_pages_under_a_mount_load_their_assets_and_link_under_it(
    browser: Any, mounted: tuple[LiveApp, SeededJobs, tickwork.Store]
) -> None:
    live, seeded, _store = mounted
    for path in ("/", "/jobs", job_path(seeded.cron), "/plugins"):
        open_page(browser, live.url + PREFIX + path)
        assert stylesheet_rules(browser) > 0, f"{PREFIX}{path}: the stylesheet did not load"
        assert not console_errors(browser, favicon=False), path
        outside = [
            href
            for a in css(browser, "a[href]")
            if (href := urlsplit(a.get_attribute("href")).path) and not href.startswith(PREFIX)
        ]
        assert not outside, f"{PREFIX}{path} links out of the mount: {outside}"
        forms = [urlsplit(f.get_attribute("action")).path for f in css(browser, "form")]
        assert all(f.startswith(PREFIX) for f in forms), forms


def test_log_in_and_pause_under_a_mount(
    browser: Any, mounted: tuple[LiveApp, SeededJobs, tickwork.Store]
) -> None:
    live, seeded, store = mounted
    open_page(browser, live.url + PREFIX + job_path(seeded.interval))
    click(browser, "login-link")
    by_id(browser, "token").send_keys(WEB_TOKEN)
    click(browser, "login-submit")
    assert urlsplit(browser.current_url).path == PREFIX + job_path(seeded.interval)
    click(browser, "action-pause")
    assert has_id(browser, "action-resume")
    assert live.call(store.get_job(seeded.interval)).status is tickwork.JobStatus.DISABLED
