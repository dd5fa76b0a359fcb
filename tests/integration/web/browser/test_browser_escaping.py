"""Markup in job ids, metadata and error texts stays text in the rendered page.

The seeded store (``support.web_app.seed_store``) has jobs whose ids are
``<script>alert(1)</script>`` and ``"><img src=x onerror=alert(1)>``, metadata
``"><svg onload=alert(2)>`` and an error text with a script tag. Each page that shows
them is checked in the DOM the browser built: no dialog was opened (a spy records every
``alert`` before the page's own scripts run), no element or handler attribute that
only the markup could have made exists, and the text reads exactly as stored.
"""

from __future__ import annotations

from typing import Any

from browser_apps import Served
from browser_checks import by_id, click, css, injected, job_path, log_in, open_page
from browser_chromium import console_errors, dialogs
from support.web_app import HOSTILE_ERROR, HOSTILE_IDS, HOSTILE_META


def _nothing_ran(driver: Any, where: str) -> None:
    assert dialogs(driver) == [], f"{where}: a dialog was opened"
    assert injected(driver) == [], f"{where}: injected markup became elements"
    assert not console_errors(driver, favicon=False), where


def test_hostile_ids_show_as_text_on_the_jobs_page(browser: Any, live_sqlite: Served) -> None:
    open_page(browser, live_sqlite.url + "/jobs")
    _nothing_ran(browser, "/jobs")
    shown = {link.text for link in css(browser, "#jobs-table .job-link")}
    assert set(HOSTILE_IDS) <= shown, shown
    rows = {row.get_attribute("data-job-id") for row in css(browser, "#jobs-table .job-row")}
    assert set(HOSTILE_IDS) <= rows  # attribute values intact, not cut at a quote


def test_hostile_ids_metadata_and_errors_show_as_text_on_the_job_page(
    browser: Any, live_sqlite: Served
) -> None:
    for job_id in HOSTILE_IDS:
        open_page(browser, live_sqlite.url + "/jobs")
        (link,) = [a for a in css(browser, "#jobs-table .job-link") if a.text == job_id]
        link.click()
        by_id(browser, "job-id")
        _nothing_ran(browser, job_id)
        assert by_id(browser, "job-id").text == job_id
        assert job_id in browser.title
        assert HOSTILE_META in [v.text for v in css(browser, "#job-facts .meta-value")]
        errors = [cell.text for cell in css(browser, "#history-table .error-text")]
        assert HOSTILE_ERROR in errors, errors


def test_hostile_text_stays_text_on_the_overview(browser: Any, live_sqlite: Served) -> None:
    open_page(browser, live_sqlite.url + "/")
    _nothing_ran(browser, "/")
    failures = css(browser, "#failures-table .record-row")
    assert failures
    assert {cell.text for cell in css(browser, "#failures-table .error-text")} == {HOSTILE_ERROR}
    linked = {a.text for a in css(browser, "#failures-table td.id a")}
    assert set(HOSTILE_IDS) <= linked, linked


def test_actions_on_a_hostile_job_keep_it_text(browser: Any, live_sqlite: Served) -> None:
    """Pausing the job redirects to its page with the id in the URL: still text."""
    job_id = HOSTILE_IDS[1]
    log_in(browser, live_sqlite.url, then=job_path(job_id))
    click(browser, "action-pause")
    _nothing_ran(browser, "after pausing")
    assert by_id(browser, "job-id").text == job_id
    assert live_sqlite.job(job_id).status == "disabled"


def test_hostile_text_stays_text_on_the_runs_page(browser: Any, live_sqlite: Served) -> None:
    open_page(browser, live_sqlite.url + "/runs?status=failed")
    _nothing_ran(browser, "/runs")
    assert {cell.text for cell in css(browser, "#runs-table .error-text")} == {HOSTILE_ERROR}
    linked = {a.text for a in css(browser, "#runs-table td.id a")}
    assert set(HOSTILE_IDS) <= linked, linked
