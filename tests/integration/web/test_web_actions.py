"""The actions on a store alone, from the pages (logged in) and from the API, on every
store: each is checked in the store afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from support.web_app import HOSTILE_IDS, WEB_TOKEN, SeededJobs
from web_helpers import api_path, job_path, log_in, post_form

from tickwork import JobData, JobDataNotFoundError, JobStatus, Store
from tickwork_web import create_app

Client = Callable[..., httpx.AsyncClient]
BEARER = {"Authorization": f"Bearer {WEB_TOKEN}"}


async def test_page_actions_change_the_store(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN))
    await log_in(web, WEB_TOKEN)
    job_id = HOSTILE_IDS[0]  # an id that needs escaping everywhere
    page = job_path(job_id)

    paused = await post_form(web, job_path(job_id, "/pause"), page)
    assert paused.status_code == 303
    assert paused.headers["location"] == page + "?done=paused"
    assert (await store.get_job(job_id)).status is JobStatus.DISABLED
    shown = await web.get(paused.headers["location"])
    assert 'id="flash"' in shown.text
    assert 'id="action-resume"' in shown.text

    await post_form(web, job_path(job_id, "/resume"), page)
    assert (await store.get_job(job_id)).status is JobStatus.PENDING

    before = datetime.now(UTC)
    due = await post_form(web, job_path(job_id, "/run"), page)
    assert due.headers["location"].endswith("?done=due")
    next_run = (await store.get_job(job_id)).next_run
    assert next_run is not None
    assert before - timedelta(seconds=1) <= next_run <= datetime.now(UTC)

    changed = await post_form(
        web, job_path(job_id, "/schedule"), page, schedule="30 6 * * *", timezone="Asia/Tokyo"
    )
    assert changed.status_code == 303
    stored = await store.get_job(job_id)
    assert (stored.schedule_type, stored.schedule_config) == (
        "cron",
        "CRON_TZ=Asia/Tokyo 30 6 * * *",
    )
    assert "at 06:30 every day (Asia/Tokyo)" in (await web.get(page)).text

    await post_form(
        web,
        job_path(job_id, "/options"),
        page,
        timeout="30",
        retry="4",
        overlap="allow",
        max_instances="2",
        misfire_grace_time="",
        jitter="",
        catch_up="all",
        max_catch_up="4",
    )
    options = json.loads((await store.get_job(job_id)).metadata["tickwork.options"])
    assert options == {
        "timeout": 30.0,
        "retry": {"max_attempts": 4},
        "overlap": "allow",
        "max_instances": 2,
        "catch_up": "all",
        "max_catch_up": 4,
    }
    assert (await store.get_job(job_id)).metadata["owner"]  # user metadata kept

    ask = await post_form(web, job_path(job_id, "/remove"), page)
    assert ask.headers["location"] == page + "?confirm=remove"
    confirm = await web.get(ask.headers["location"])
    assert 'id="confirm-remove"' in confirm.text
    await store.get_job(job_id)  # still there until confirmed
    removed = await post_form(web, job_path(job_id, "/remove"), page, confirm="yes")
    assert removed.headers["location"] == "/jobs?done=removed"
    try:
        await store.get_job(job_id)
        raise AssertionError("the job is still stored")
    except JobDataNotFoundError:
        pass
    # Its history stays.
    history = await web.get("/api/executions", params={"job_id": job_id})
    assert history.json()["total"] == 12


async def test_api_actions_change_the_store(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN), **BEARER)
    job_id = seeded.interval
    paused = await web.post(api_path(job_id, "/pause"))
    assert paused.json() == {"job_id": job_id, "status": "disabled", "changed": True}
    resumed = await web.post(api_path(job_id, "/resume"))
    assert resumed.json()["status"] == "pending"
    again = await web.post(api_path(job_id, "/resume"))
    assert again.json()["changed"] is False
    run = (await web.post(api_path(job_id, "/run"))).json()
    assert run["started"] is False
    assert run["due"] is not None

    put = await web.put(api_path(job_id, "/schedule"), json={"schedule": "interval:1h30m"})
    assert put.status_code == 200, put.text
    assert (await store.get_job(job_id)).schedule_config == "1h30m0s"
    detail = (await web.get(api_path(job_id))).json()
    assert detail["schedule"] == "every 1h30m after each run"
    assert len(detail["next_runs"]) == 10

    patch = await web.patch(api_path(job_id, "/options"), json={"timeout": 12, "retry": 2})
    assert patch.status_code == 200, patch.text
    assert (await web.get(api_path(job_id))).json()["options"]["timeout"] == 12.0

    for body, message in (
        ({"schedule": "61 * * * *"}, "61"),
        ({"schedule": "no_type:x"}, "no_type"),
        ({"nothing": 1}, "schedule"),
    ):
        bad = await web.put(api_path(job_id, "/schedule"), json=body)
        assert bad.status_code == 400
        assert message in bad.json()["error"]
    bad = await web.patch(api_path(job_id, "/options"), json={"colour": "red"})
    assert bad.status_code == 400
    assert "colour" in bad.json()["error"]
    bad = await web.patch(api_path(job_id, "/options"), json={"timeout": -1})
    assert bad.status_code == 400
    missing = await web.post(api_path("no-such-job", "/pause"))
    assert missing.status_code == 404
    assert "no-such-job" in missing.json()["error"]

    deleted = await web.delete(api_path(job_id))
    assert deleted.json() == {"job_id": job_id, "removed": True}
    assert (await web.get(api_path(job_id))).status_code == 404


async def test_a_paused_job_is_not_made_due(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN), **BEARER)
    refused = await web.post(api_path(seeded.paused, "/run"))
    assert refused.status_code == 400
    assert "resume it" in refused.json()["error"]
    assert (await store.get_job(seeded.paused)).status is JobStatus.DISABLED


async def test_a_quarantined_job_gets_a_new_schedule(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN), **BEARER)
    fixed = await web.put(
        api_path(seeded.quarantined, "/schedule"), json={"schedule": "*/5 * * * *"}
    )
    assert fixed.status_code == 200, fixed.text
    detail = (await web.get(api_path(seeded.quarantined))).json()
    assert detail["quarantined"] is None
    assert len(detail["next_runs"]) == 10


async def test_openapi_describes_every_api_route(store: Store, client: Client) -> None:
    app = create_app(store)
    document = (await client(app).get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    described = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    served = set()
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith("/api/"):
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD":
                    served.add((path.replace("{job_id:path}", "{job_id}"), method))
    assert served
    assert served == described


async def test_ids_with_slashes_and_url_characters(client: Client) -> None:
    from tickwork import IntervalSchedule, MemoryStore, default_codec

    store = MemoryStore()
    await store.initialize()
    odd = ["team/nightly report", "a?b=1#frag", "ends/with/pause", "100% sure", "é/ü"]
    schedule_type, config = default_codec().encode(IntervalSchedule(timedelta(minutes=5)))
    for job_id in odd:
        await store.save_job(
            JobData(id=job_id, schedule_type=schedule_type, schedule_config=config)
        )
    web = client(create_app(store, token=WEB_TOKEN), **BEARER)
    await log_in(web, WEB_TOKEN)
    for job_id in odd:
        page = await web.get(job_path(job_id))
        assert page.status_code == 200, job_id
        assert (await web.get(api_path(job_id))).json()["id"] == job_id
        paused = await post_form(web, job_path(job_id, "/pause"), job_path(job_id))
        assert paused.headers["location"] == job_path(job_id) + "?done=paused"
        assert (await store.get_job(job_id)).status is JobStatus.DISABLED
        assert (await web.post(api_path(job_id, "/resume"))).json()["job_id"] == job_id
    # Each row of the jobs page links to its own job.
    listing = (await web.get("/jobs")).text
    for job_id in odd:
        assert f'href="{job_path(job_id)}"' in listing
