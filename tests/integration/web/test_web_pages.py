"""The pages on every store: they render, they escape, they page in the store."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape
from support.web_app import (
    HOSTILE_ERROR,
    HOSTILE_IDS,
    HOSTILE_META,
    WEB_TOKEN,
    SeededJobs,
    seed_store,
)
from web_helpers import job_path

from tickwork import ExecutionRecord, JobData, MemoryStore, Store
from tickwork_web import create_app

Client = Callable[..., httpx.AsyncClient]
RAW_MARKUP = (
    *HOSTILE_IDS,
    HOSTILE_ERROR,
    HOSTILE_META,
    "<script>alert",
    "<img src=x",
    "<svg onload",
)


def assert_escaped(page: str) -> None:
    """No hostile markup reaches the page as markup (it may appear escaped)."""
    for raw in RAW_MARKUP:
        assert raw not in page, f"raw markup in the page: {raw!r}"


async def test_every_page_renders_and_escapes(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN))
    pages = ["/", "/jobs", "/runs", "/runs?status=failed", "/plugins", "/login"]
    pages += [job_path(j) for j in seeded.all_ids]
    for path in pages:
        response = await web.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        assert_escaped(response.text)
    jobs = (await web.get("/jobs")).text
    for job_id in HOSTILE_IDS:
        assert str(escape(job_id)) in jobs  # listed, escaped
    hostile = (await web.get(job_path(HOSTILE_IDS[1]))).text
    assert str(escape(HOSTILE_META)) in hostile
    assert str(escape(HOSTILE_ERROR)) in hostile


async def test_overview_counts_and_lists_quarantine(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store))
    data = (await web.get("/api/overview")).json()
    assert data["jobs_total"] == len(seeded.all_ids)
    assert data["jobs_by_status"]["disabled"] == 1
    assert data["jobs_by_status"]["pending"] == len(seeded.all_ids) - 1
    # Each readable job has one failed and one missed run among its 12, all within the hour.
    readable = len(seeded.all_ids) - 1
    assert data["runs_last_hour"]["failed"] == readable
    assert [q["id"] for q in data["quarantined"]] == [seeded.quarantined]
    # The soonest runs first; a paused job has none to show.
    upcoming = [j["id"] for j in data["next_runs"]]
    assert seeded.paused not in upcoming
    assert seeded.quarantined not in upcoming
    times = [j["next_run"] for j in data["next_runs"]]
    assert times == sorted(times)
    assert set(upcoming[:3]) == {seeded.interval, *HOSTILE_IDS}
    assert "no_such_type" in data["quarantined"][0]["reason"]
    page = (await web.get("/")).text
    assert 'id="quarantined"' in page
    assert seeded.quarantined in page
    assert "no_such_type" in page


async def test_quarantined_job_page_says_why(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store))
    page = (await web.get(job_path(seeded.quarantined))).text
    assert 'id="quarantine-reason"' in page
    assert "no_such_type" in page
    detail = (await web.get("/api/jobs/" + seeded.quarantined)).json()
    assert detail["quarantined"]
    assert detail["next_runs"] == []


async def test_jobs_are_searched_filtered_sorted_and_paged(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store))
    found = (await web.get("/api/jobs", params={"search": "SYNC"})).json()
    assert [j["id"] for j in found["jobs"]] == [seeded.interval]
    paused = (await web.get("/api/jobs", params={"status": "disabled"})).json()
    assert [j["id"] for j in paused["jobs"]] == [seeded.paused]
    task = (await web.get("/api/jobs", params={"task": "reports:build"})).json()
    assert [j["id"] for j in task["jobs"]] == [seeded.cron]
    ids = sorted(seeded.all_ids)
    first = (await web.get("/api/jobs", params={"limit": "2", "offset": "0"})).json()
    second = (await web.get("/api/jobs", params={"limit": "2", "offset": "2"})).json()
    assert first["total"] == second["total"] == len(ids)
    assert [j["id"] for j in first["jobs"] + second["jobs"]] == ids[:4]
    desc = (await web.get("/api/jobs", params={"sort": "id", "desc": "true", "limit": "1"})).json()
    assert desc["jobs"][0]["id"] == ids[-1]
    page = (await web.get("/jobs", params={"limit": "25", "page": "1", "status": "disabled"})).text
    assert page.count('class="job-row') == 1
    # A row carries its last outcome and a lateness chart of its recent runs.
    row = found["jobs"][0]
    assert row["last_outcome"] == "completed"
    assert len(row["lateness"]) == 12
    assert 'class="chart"' in (await web.get("/jobs")).text


async def test_job_history_is_filtered_sorted_and_paged(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store))
    failed = (
        await web.get("/api/executions", params={"job_id": seeded.cron, "status": "failed"})
    ).json()
    assert failed["total"] == 1
    assert failed["records"][0]["error"] == HOSTILE_ERROR
    page1 = (await web.get("/api/executions", params={"job_id": seeded.cron, "limit": "5"})).json()
    page3 = (
        await web.get(
            "/api/executions", params={"job_id": seeded.cron, "limit": "5", "offset": "10"}
        )
    ).json()
    assert page1["total"] == 12
    assert len(page1["records"]) == 5
    assert len(page3["records"]) == 2
    starts = [r["start_time"] for r in page1["records"]]
    assert starts == sorted(starts, reverse=True)
    oldest = (
        await web.get(
            "/api/executions",
            params={"job_id": seeded.cron, "desc": "false", "limit": "1", "sort": "start_time"},
        )
    ).json()
    assert oldest["records"][0]["execution_id"].endswith("e011")
    runs = await web.get("/runs", params={"status": "failed", "limit": "25"})
    readable = len(seeded.all_ids) - 1
    assert runs.text.count('class="record-row"') == readable
    one = await web.get("/runs", params={"job_id": seeded.cron, "limit": "25", "page": "1"})
    assert one.text.count('class="record-row"') == 12
    page = await web.get(job_path(seeded.cron), params={"status": "missed", "limit": "25"})
    assert page.text.count('class="record-row"') == 1
    assert 'id="timeline"' in page.text
    assert page.text.count('class="tick ') == 12
    assert 'id="next-runs"' in page.text
    assert "at 09:00 on Mon-Fri" in page.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/jobs?limit=nope", "limit: must be a whole number"),
        ("/jobs?sort=password", "sort_by"),
        ("/jobs?limit=5000", "limit"),
        ("/jobs?status=%3Cb%3E", "status"),
        ("/jobs/no-such-job", "no job with id"),
    ],
)
async def test_bad_requests_get_one_line(path: str, message: str, client: Client) -> None:
    from tickwork import MemoryStore

    store = MemoryStore()
    await store.initialize()
    response = await client(create_app(store)).get(path)
    assert response.status_code in (400, 404)
    assert message in html.unescape(response.text)
    assert "<b>" not in response.text
    assert "Traceback" not in response.text


async def test_an_unreadable_row_is_listed_with_its_reason(tmp_path: Path, client: Client) -> None:
    """A row another program damaged (SQLite): listed, quarantined with the reason,
    its page renders; only removing it works."""
    import sqlite3

    import tickwork

    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    store = tickwork.create_store(url)
    await store.initialize()
    try:
        seeded = await seed_store(store)
        with sqlite3.connect(tmp_path / "jobs.db") as db:
            db.execute(
                "UPDATE scheduler_jobs SET status = '<b>weird</b>' WHERE id = ?", (seeded.interval,)
            )
        web = client(create_app(store, token=WEB_TOKEN), Authorization=f"Bearer {WEB_TOKEN}")
        overview = (await web.get("/api/overview")).json()
        reasons = {q["id"]: q["reason"] for q in overview["quarantined"]}
        assert "is not a job status" in reasons[seeded.interval]
        page = await web.get(job_path(seeded.interval))
        assert page.status_code == 200
        assert 'id="quarantine-reason"' in page.text
        assert "<b>weird</b>" not in page.text
        assert "&lt;b&gt;weird&lt;/b&gt;" in page.text
        listed = (await web.get("/jobs")).text
        assert "&lt;b&gt;weird" in listed or "quarantined" in listed
        refused = await web.post("/api/jobs/" + seeded.interval + "/pause")
        assert refused.status_code == 400
        assert "can only be removed" in refused.json()["error"]
        assert (await web.delete("/api/jobs/" + seeded.interval)).status_code == 200
    finally:
        await store.close()


async def test_mounted_under_a_path_every_link_stays_under_it(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    import re

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from web_helpers import csrf_of

    host = Starlette(routes=[Mount("/ops/tw", app=create_app(store, token=WEB_TOKEN))])
    web = client(host)
    first = await web.get("/ops/tw/")
    assert "Path=/ops/tw/" in first.headers["set-cookie"]
    for path in ("/", "/jobs", job_path(seeded.cron), "/plugins", "/login"):
        page = await web.get("/ops/tw" + path)
        assert page.status_code == 200, path
        links = re.findall(r'(?:href|action|src)="([^"]*)"', page.text)
        outside = [u for u in links if u.startswith("/") and not u.startswith("/ops/tw/")]
        assert not outside, (path, outside)
        assert 'data-root="/ops/tw"' in page.text
    login_page = await web.get("/ops/tw/login", params={"next": "/ops/tw" + job_path(seeded.cron)})
    logged = await web.post(
        "/ops/tw/login",
        data={
            "csrf": csrf_of(login_page.text),
            "token": WEB_TOKEN,
            "next": "/ops/tw" + job_path(seeded.cron),
        },
    )
    assert logged.headers["location"] == "/ops/tw" + job_path(seeded.cron) + "?done=login"
    page = await web.get("/ops/tw" + job_path(seeded.interval))
    paused = await web.post(
        "/ops/tw" + job_path(seeded.interval, "/pause"), data={"csrf": csrf_of(page.text)}
    )
    assert paused.headers["location"] == "/ops/tw" + job_path(seeded.interval) + "?done=paused"
    assert (await store.get_job(seeded.interval)).status.value == "disabled"


class NoFullReads(MemoryStore):
    """A memory store (which answers the browsing queries itself) that refuses to be
    read whole: a page that lists every job or record to page in Python fails."""

    async def list_jobs(self) -> list[JobData]:
        raise AssertionError("a page read every job")

    async def list_executions(self, job_id: str, options: Any = None) -> list[ExecutionRecord]:
        raise AssertionError("a page read a whole history")


async def test_pages_never_read_a_store_whole(client: Client) -> None:
    store = NoFullReads()
    await store.initialize()
    seeded = await seed_store(store)
    web = client(create_app(store))
    for path in ("/", "/jobs", "/jobs?page=2&limit=25", job_path(seeded.cron), "/api/overview"):
        assert (await web.get(path)).status_code == 200, path
    assert (await web.get("/api/executions", params={"limit": "5"})).status_code == 200


async def test_unknown_pages_get_the_error_page(client: Client) -> None:
    store = MemoryStore()
    await store.initialize()
    web = client(create_app(store))
    page = await web.get("/no/such/page")
    assert page.status_code == 404
    assert 'id="error-message"' in page.text
    api = await web.get("/api/nothing")
    assert api.status_code == 404
    assert api.json() == {"error": "no such page"}
    wrong = await web.put("/jobs")
    assert wrong.status_code == 405
