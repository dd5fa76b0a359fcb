"""Live updates: a page open beside a running scheduler follows its events.

The app subscribes to the scheduler's events and streams them to the page
(``/api/events``); the page's script fetches itself again and swaps in the part that
changed. Here a job due every second runs while its page stays open, never reloaded
by the test: its new runs must appear in the history by themselves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from browser_apps import Served
from browser_checks import by_id, css, job_path, open_page, wait_for
from browser_chromium import console_errors

import tickwork


def _rows(driver: Any) -> int:
    return len(css(driver, "#history-table tr.record-row"))


def test_an_open_job_page_shows_new_runs_without_a_reload(
    browser: Any, live_memory: Served
) -> None:
    job_id = "every-second"
    live_memory.live.call(
        live_memory.scheduler.add_job(job_id, tickwork.IntervalSchedule(timedelta(seconds=1)))
    )
    open_page(browser, live_memory.url + job_path(job_id))
    assert by_id(browser, "live-status").text == "live"
    page = browser.find_element("tag name", "html")
    shown = _rows(browser)
    wait_for(lambda: _rows(browser) >= shown + 2, timeout=15, what="two more runs on the page")
    page.tag_name  # noqa: B018 - the same document: it was updated in place, not reloaded
    assert browser.execute_script("return document.body.dataset.refreshed") is not None
    assert live_memory.ran.job_ids.count(job_id) >= 2
    assert not console_errors(browser, favicon=False)
