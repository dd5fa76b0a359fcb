"""Steering a job through the pages, as a user would: log in, pause, resume, run now;
and the read-only app, which shows no action and refuses them all.

The app serves a scheduler running on a SQLite store in the same process
(``conftest.served_scheduler``); every action is checked in the store afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from browser_apps import Served
from browser_checks import (
    attributes,
    by_id,
    click,
    css,
    has_id,
    job_path,
    log_in,
    open_page,
    wait_for,
)
from browser_chromium import console_errors
from support.web_app import WEB_TOKEN

import tickwork
from tickwork import JobStatus

#: The history rows' execution ids and statuses, read in one script: the live updates
#: replace the rows, and between finding a row and reading it the row may be gone.
_HISTORY_ROWS = (
    "return Array.from(document.querySelectorAll('#history-table tr.record-row'),"
    " row => [row.getAttribute('data-execution-id'), row.getAttribute('data-status')]);"
)


def _history(driver: Any) -> dict[str, str]:
    """The history table's records: status by execution id."""
    return dict(driver.execute_script(_HISTORY_ROWS))


def _history_ids(driver: Any) -> set[str]:
    return set(_history(driver))


def test_without_logging_in_the_job_page_offers_a_login_not_actions(
    browser: Any, live_sqlite: Served
) -> None:
    open_page(browser, live_sqlite.url + job_path(live_sqlite.seeded.interval))
    assert has_id(browser, "actions-login")
    assert not has_id(browser, "action-pause")
    assert not has_id(browser, "action-run")


def test_a_wrong_token_does_not_log_in(browser: Any, live_sqlite: Served) -> None:
    open_page(browser, live_sqlite.url + "/login")
    by_id(browser, "token").send_keys(WEB_TOKEN + "x")
    click(browser, "login-submit")
    assert "wrong token" in by_id(browser, "login-error").text
    assert not has_id(browser, "logout-form")


def test_pause_and_resume_through_the_page(browser: Any, served: Served) -> None:
    job_id = served.seeded.interval
    log_in(browser, served.url, then=job_path(job_id))
    assert by_id(browser, "job-id").text == job_id

    click(browser, "action-pause")
    assert by_id(browser, "flash").text.startswith("Paused")
    assert attributes(browser, "#job-status .badge", "data-status")[:1] == ["disabled"]
    assert served.job(job_id).status is JobStatus.DISABLED

    click(browser, "action-resume")
    assert by_id(browser, "flash").text.startswith("Resumed")
    stored = served.job(job_id)
    assert stored.status is not JobStatus.DISABLED
    assert stored.next_run is not None
    assert has_id(browser, "action-pause")
    assert not console_errors(browser, favicon=False)


def test_run_now_shows_the_new_record_in_the_history(browser: Any, served: Served) -> None:
    job_id = served.seeded.interval
    log_in(browser, served.url, then=job_path(job_id))
    before = _history_ids(browser)
    stored_before = {r.execution_id for r in served.live.call(served.store.list_executions(job_id))}

    click(browser, "action-run")
    assert by_id(browser, "flash").text.startswith("Started a run now")
    new = _new_records(browser, before)
    (execution_id,) = new
    wait_for(
        lambda: row_status(browser, execution_id) == "completed",
        what="the new run to show as completed",
    )
    assert job_id in served.ran.job_ids
    stored = {r.execution_id for r in served.live.call(served.store.list_executions(job_id))}
    assert stored - stored_before == {execution_id}
    assert not console_errors(browser, favicon=False)


def _new_records(driver: Any, before: set[str]) -> set[str]:
    """The records on the page that were not in ``before``, waiting for them: the
    record is on the page the action led to, or the live updates bring it (a run that
    ended before the page's event stream opened is caught by the refresh the page makes
    when its stream opens)."""
    return wait_for(lambda: _history_ids(driver) - before, 10, "the new run in the history")


def row_status(driver: Any, execution_id: str) -> str | None:
    return _history(driver).get(execution_id)


def _post(driver: Any, path: str, body: str, headers: dict[str, str]) -> int:
    """POST from the page's own origin with fetch; the status."""
    script = (
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST', body: arguments[1], headers: arguments[2],"
        " credentials: 'same-origin', redirect: 'manual'})"
        ".then(r => done(r.status), e => done(String(e)));"
    )
    return int(driver.execute_async_script(script, path, body, headers))


def test_read_only_hides_every_action_and_refuses_posts(
    browser: Any, read_only_app: Served
) -> None:
    job_id = read_only_app.seeded.interval
    open_page(browser, read_only_app.url + job_path(job_id))
    assert has_id(browser, "readonly-notice")
    assert has_id(browser, "actions-readonly")
    for action in ("action-pause", "action-resume", "action-run", "action-remove", "login-link"):
        assert not has_id(browser, action), action
    assert not css(browser, "form[method=post]")

    form = {"content-type": "application/x-www-form-urlencoded"}
    assert _post(browser, job_path(job_id) + "/pause", "csrf=x", form) == 403
    bearer = {"authorization": f"Bearer {WEB_TOKEN}", "content-type": "application/json"}
    api = "/api" + job_path(job_id) + "/pause"
    assert _post(browser, api, json.dumps({}), bearer) == 403
    open_page(browser, read_only_app.url + "/login")
    assert not has_id(browser, "login-form")
    assert read_only_app.job(job_id).status is JobStatus.PENDING


def test_remove_asks_first_and_cancel_keeps_the_job(browser: Any, live_sqlite: Served) -> None:
    job_id = live_sqlite.seeded.cron
    log_in(browser, live_sqlite.url, then=job_path(job_id))
    click(browser, "action-remove")
    assert has_id(browser, "confirm-remove")
    click(browser, "confirm-remove-no")
    assert not has_id(browser, "confirm-remove")
    assert live_sqlite.job(job_id).id == job_id

    click(browser, "action-remove")
    click(browser, "confirm-remove-yes")
    assert by_id(browser, "flash").text.startswith("The job was removed")
    shown = set(attributes(browser, "#jobs-table .job-row", "data-job-id"))
    assert job_id not in shown
    with pytest.raises(tickwork.JobNotFoundError):
        live_sqlite.live.call(live_sqlite.scheduler.get_job(job_id))


def test_change_the_schedule_through_the_form(browser: Any, live_sqlite: Served) -> None:
    job_id = live_sqlite.seeded.interval
    log_in(browser, live_sqlite.url, then=job_path(job_id))
    by_id(browser, "change-schedule").find_element("tag name", "summary").click()
    by_id(browser, "schedule-input").send_keys("*/10 * * * *")
    by_id(browser, "timezone-input").send_keys("Europe/Paris")
    click(browser, "schedule-submit")
    assert by_id(browser, "flash").text.startswith("The schedule was changed")
    assert "Europe/Paris" in by_id(browser, "schedule-words").text
    stored = live_sqlite.job(job_id)
    assert stored.schedule_type == "cron"
    assert "*/10 * * * *" in stored.schedule_config
    assert stored.next_run is not None
    assert stored.next_run.minute % 10 == 0
