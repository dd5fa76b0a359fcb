"""Every page loads in a real browser: no console error, its CSS and script in force,
and the seeded data on it; and the pages stay within a phone's width."""

from __future__ import annotations

from typing import Any

import pytest
from browser_apps import Served
from browser_checks import (
    by_id,
    css,
    has_id,
    horizontal_overflow,
    job_path,
    open_page,
    overflowing,
    stylesheet_rules,
    wait_for,
)
from browser_chromium import console_errors, set_viewport


def _pages(served: Served) -> dict[str, str]:
    seeded = served.seeded
    return {
        "overview": "/",
        "jobs": "/jobs",
        "job": job_path(seeded.cron),
        "quarantined job": job_path(seeded.quarantined),
        "runs": "/runs",
        "plugins": "/plugins",
        "login": "/login",
    }


def test_each_page_loads_without_console_errors(browser: Any, live_sqlite: Served) -> None:
    for name, path in _pages(live_sqlite).items():
        open_page(browser, live_sqlite.url + path)
        assert stylesheet_rules(browser) > 0, f"{name}: the stylesheet did not load"
        assert not has_id(browser, "error"), f"{name}: {browser.page_source[:1500]}"
        errors = console_errors(browser, favicon=False)
        assert not errors, f"{name} ({path}): {errors}"


def test_pages_name_their_icon(browser: Any, live_memory: Served) -> None:
    """A page without an icon makes the browser ask for /favicon.ico, a 404 in the
    console of every page; the layout should name one (a data: URL, or a static file)."""
    open_page(browser, live_memory.url + "/")
    wait_for(lambda: True)
    assert not console_errors(browser), "the browser's own /favicon.ico request failed"


def test_the_pages_show_the_seeded_jobs(browser: Any, live_sqlite: Served) -> None:
    seeded = live_sqlite.seeded
    base = live_sqlite.url

    open_page(browser, base + "/")
    tiles = {t.get_attribute("data-status"): t.text for t in css(browser, "#jobs-by-status .tile")}
    assert "disabled" in tiles, tiles
    assert [q.text for q in css(browser, ".quarantined-job .id")] == [seeded.quarantined]
    assert css(browser, "#failures-table .record-row"), "no failure listed on the overview"

    open_page(browser, base + "/jobs")
    rows = [r.get_attribute("data-job-id") for r in css(browser, "#jobs-table .job-row")]
    assert sorted(rows) == sorted(seeded.all_ids)
    assert css(browser, "#jobs-table svg.chart"), "no lateness chart drawn"

    open_page(browser, base + job_path(seeded.cron))
    assert by_id(browser, "job-id").text == seeded.cron
    assert len(css(browser, "#next-runs tbody tr")) == 10
    words = by_id(browser, "schedule-words").text
    assert "09:00" in words, words
    assert "Europe/Paris" in words, words
    assert len(css(browser, "#timeline rect.tick")) == 12
    assert len(css(browser, "#history-table .record-row")) == 12

    open_page(browser, base + job_path(seeded.quarantined))
    assert "no_such_type" in by_id(browser, "quarantine-reason").text

    open_page(browser, base + "/runs")
    assert len(css(browser, "#runs-table .record-row")) == min(50, seeded.records)
    assert by_id(browser, "runs-count").text.startswith(f"{seeded.records} in all")

    open_page(browser, base + "/plugins")
    kinds = {r.get_attribute("data-kind") for r in css(browser, "#plugins-table .plugin-row")}
    assert {"store", "trigger", "codec"} <= kinds, kinds


def test_the_jobs_page_filters_and_pages_through_its_form(
    browser: Any, live_sqlite: Served
) -> None:
    from selenium.webdriver.support.ui import Select

    seeded = live_sqlite.seeded
    open_page(browser, live_sqlite.url + "/jobs")
    by_id(browser, "filter-search").send_keys("sync")
    by_id(browser, "filter-apply").click()
    wait_for(lambda: "search=sync" in browser.current_url, what="the filtered page")
    rows = [r.get_attribute("data-job-id") for r in css(browser, "#jobs-table .job-row")]
    assert rows == [seeded.interval]

    open_page(browser, live_sqlite.url + "/jobs?limit=25")
    Select(by_id(browser, "filter-status")).select_by_value("disabled")
    by_id(browser, "filter-apply").click()
    wait_for(lambda: "status=disabled" in browser.current_url, what="the status filter")
    rows = [r.get_attribute("data-job-id") for r in css(browser, "#jobs-table .job-row")]
    assert rows == [seeded.paused]


@pytest.mark.parametrize(("width", "height"), [(390, 844), (360, 740)])
def test_pages_fit_a_phone_without_horizontal_overflow(
    browser: Any, live_memory: Served, width: int, height: int
) -> None:
    set_viewport(browser, width, height, mobile=True)
    for name, path in _pages(live_memory).items():
        open_page(browser, live_memory.url + path)
        overflow = horizontal_overflow(browser, width)
        assert overflow == 0, (
            f"{name} ({path}) is {overflow} px wider than a {width} px phone: "
            f"{overflowing(browser, width)} reach past its edge"
        )
        assert not console_errors(browser, favicon=False), name
