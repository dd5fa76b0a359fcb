"""Fixtures of the browser tests: one headless Chromium per run, apps served for it.

Without the system's Chromium and chromedriver (``python3 dev.py setup`` installs
them) every test here is skipped, or fails under ``CI=true``
(:func:`tickwork.testing.server_unavailable`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_apps import Served, pages_left, served_scheduler
from browser_chromium import HOW_TO, chromium, clear_viewport, console_errors, missing_browser

from tickwork.testing import server_unavailable


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[Any]:
    """The session's browser, started once (a second per start)."""
    why = missing_browser()
    if why is not None:
        server_unavailable("Chromium", why, how_to=HOW_TO)
    with chromium() as driver:
        yield driver


@pytest.fixture
def browser(chromium_session: Any) -> Iterator[Any]:
    """The browser with no cookies, the desktop viewport and an empty console log."""
    driver = chromium_session
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    clear_viewport(driver)
    driver.get("about:blank")
    console_errors(driver)  # drains what an earlier test left
    yield driver
    with contextlib.suppress(Exception):
        driver.switch_to.alert.dismiss()  # a dialog a failing test left open


@pytest.fixture
def live_sqlite(tmp_path: Path, chromium_session: Any) -> Iterator[Served]:
    """The seeded SQLite store, a scheduler on it, the app over the scheduler."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with served_scheduler(url) as served, pages_left(chromium_session):
        yield served


STORES = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("nats", id="nats", marks=pytest.mark.nats),
]


@pytest.fixture(params=STORES)
def served(
    request: pytest.FixtureRequest, tmp_path: Path, chromium_session: Any
) -> Iterator[Served]:
    """The same on each kind of store: memory, SQLite, PostgreSQL (a schema of its own,
    from ``tests/integration/web/conftest.py``) and NATS (a server of its own)."""
    url = {
        "memory": lambda: None,
        "sqlite": lambda: f"sqlite:///{tmp_path / 'jobs.db'}",
        "postgresql": lambda: str(request.getfixturevalue("postgres_schema_url")),
        "nats": lambda: str(request.getfixturevalue("nats_server").url),
    }[request.param]()
    with served_scheduler(url) as served, pages_left(chromium_session):
        yield served


@pytest.fixture
def live_memory(chromium_session: Any) -> Iterator[Served]:
    """The seeded memory store, a scheduler on it, the app over the scheduler."""
    with served_scheduler(None) as served, pages_left(chromium_session):
        yield served


@pytest.fixture
def read_only_app(monkeypatch: pytest.MonkeyPatch, chromium_session: Any) -> Iterator[Served]:
    """The same with no token anywhere (argument or environment): read-only."""
    monkeypatch.delenv("TICKWORK_WEB_TOKEN", raising=False)
    with served_scheduler(None, token=None) as served, pages_left(chromium_session):
        yield served
