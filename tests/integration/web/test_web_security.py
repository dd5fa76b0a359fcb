"""Safe by default: read-only without a token, every change authenticated, form posts
protected against other sites, errors without details, security headers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from support.web_app import WEB_TOKEN, SeededJobs
from web_helpers import api_path, csrf_of, job_path, log_in

from tickwork import JobData, JobStatus, MemoryStore, Store
from tickwork_web import TOKEN_ENV, create_app

Client = Callable[..., httpx.AsyncClient]


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The security rules do not depend on the store: two stores are enough here."""
    return str(request.param)


ACTIONS = ["pause", "resume", "run", "remove"]


async def _snapshot(store: Store) -> list[JobData]:
    return sorted(await store.list_jobs(), key=lambda j: j.id)


async def _all_page_actions(web: httpx.AsyncClient, job_id: str, **extra: str) -> list[int]:
    codes = []
    for name in ACTIONS:
        data = {"confirm": "yes", **extra}
        codes.append((await web.post(job_path(job_id, "/" + name), data=data)).status_code)
    for name, data in (("schedule", {"schedule": "* * * * *"}), ("options", {"timeout": "5"})):
        codes.append(
            (await web.post(job_path(job_id, "/" + name), data={**data, **extra})).status_code
        )
    return codes


async def test_without_a_token_everything_is_read_only(
    store: Store, seeded: SeededJobs, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    web = client(create_app(store))
    before = await _snapshot(store)
    page = await web.get(job_path(seeded.interval))
    assert 'id="readonly-notice"' in page.text
    assert 'id="actions-readonly"' in page.text
    assert 'id="action-pause"' not in page.text
    assert 'id="action-remove"' not in page.text
    codes = await _all_page_actions(web, seeded.interval, csrf=csrf_of(page.text))
    assert codes == [403] * 6
    refused = await web.post(job_path(seeded.interval, "/pause"), data={"csrf": csrf_of(page.text)})
    assert "read-only" in refused.text
    api = await web.post(api_path(seeded.interval, "/pause"), headers={"Authorization": "Bearer x"})
    assert api.status_code == 403
    assert "read-only" in api.json()["error"]
    login = await log_in(web, "anything")
    assert login.status_code == 403
    assert await _snapshot(store) == before


async def test_read_only_flag_wins_over_a_token(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN, read_only=True))
    before = await _snapshot(store)
    api = await web.post(
        api_path(seeded.interval, "/pause"), headers={"Authorization": f"Bearer {WEB_TOKEN}"}
    )
    assert api.status_code == 403
    assert await _snapshot(store) == before


async def test_the_token_comes_from_the_environment(
    store: Store, seeded: SeededJobs, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-the-env")
    web = client(create_app(store))
    ok = await web.post(
        api_path(seeded.interval, "/pause"), headers={"Authorization": "Bearer from-the-env"}
    )
    assert ok.status_code == 200
    assert (await store.get_job(seeded.interval)).status is JobStatus.DISABLED


async def test_api_writes_need_the_bearer_token(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN))
    before = await _snapshot(store)
    writes = (
        ("POST", "/pause", None),
        ("POST", "/run", None),
        ("PUT", "/schedule", {"schedule": "* * * * *"}),
        ("PATCH", "/options", {"timeout": 5}),
        ("DELETE", "", None),
    )
    # Each write without a token, and the first two with a wrong one (wrong tokens
    # count towards the limit of failed attempts, tested on its own below).
    for headers, tried in (
        ({}, writes),
        ({"Authorization": "Bearer wrong"}, writes[:2]),
        ({"Authorization": WEB_TOKEN}, writes[3:]),
    ):
        for method, suffix, body in tried:
            response = await web.request(
                method, api_path(seeded.interval, suffix), json=body, headers=headers
            )
            assert response.status_code == 401, (method, suffix, headers)
            assert "Bearer" in response.json()["error"]
            assert response.headers["www-authenticate"] == "Bearer"
    # A logged-in session's cookie is no key to the API.
    await log_in(web, WEB_TOKEN)
    assert (await web.post(api_path(seeded.interval, "/pause"))).status_code == 401
    assert await _snapshot(store) == before


async def test_page_writes_need_a_login(store: Store, seeded: SeededJobs, client: Client) -> None:
    web = client(create_app(store, token=WEB_TOKEN))
    before = await _snapshot(store)
    page = await web.get(job_path(seeded.interval))
    assert 'id="actions-login"' in page.text
    assert 'id="action-pause"' not in page.text
    codes = await _all_page_actions(web, seeded.interval, csrf=csrf_of(page.text))
    assert codes == [403] * 6
    wrong = await log_in(web, "not-the-token")
    assert wrong.status_code == 403
    assert "wrong token" in wrong.text
    assert await _snapshot(store) == before


async def test_cross_site_form_posts_change_nothing(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN))
    assert (await log_in(web, WEB_TOKEN)).status_code == 303
    page = await web.get(job_path(seeded.interval))
    assert 'id="action-pause"' in page.text
    token = csrf_of(page.text)
    before = await _snapshot(store)
    # No form token, a wrong one, and a right one sent from another site.
    assert await _all_page_actions(web, seeded.interval) == [403] * 6
    assert await _all_page_actions(web, seeded.interval, csrf="0" * 64) == [403] * 6
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page"},
        {"Origin": "http://testserver.evil.example"},
    ):
        response = await web.post(
            job_path(seeded.interval, "/pause"), data={"csrf": token}, headers=headers
        )
        assert response.status_code == 403, headers
        assert "cross-site" in response.text
    # Another session's form token does not work in this one.
    other = client(create_app(store, token=WEB_TOKEN))
    await log_in(other, WEB_TOKEN)
    foreign = await other.post(job_path(seeded.interval, "/pause"), data={"csrf": token})
    assert foreign.status_code == 403
    assert await _snapshot(store) == before
    # The same post from our own page works.
    same = await web.post(
        job_path(seeded.interval, "/pause"),
        data={"csrf": token},
        headers={"Origin": "http://testserver", "Referer": "http://testserver/jobs"},
    )
    assert same.status_code == 303
    assert (await store.get_job(seeded.interval)).status is JobStatus.DISABLED


async def test_session_cookie_is_strict_and_renewed_at_login(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    web = client(create_app(store, token=WEB_TOKEN))
    first = await web.get("/login")
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    anonymous = web.cookies["tickwork_session"]
    login = await web.post(
        "/login", data={"csrf": csrf_of(first.text), "token": WEB_TOKEN, "next": "//evil.example"}
    )
    assert login.status_code == 303
    assert login.headers["location"] == "/?done=login"
    assert web.cookies["tickwork_session"] != anonymous
    # A cookie altered by hand is not a session.
    web.cookies.set("tickwork_session", web.cookies["tickwork_session"][:-2] + "00")
    page = await web.get(job_path(seeded.interval))
    assert 'id="action-pause"' not in page.text


async def test_security_headers(store: Store, seeded: SeededJobs, client: Client) -> None:
    web = client(create_app(store, token=WEB_TOKEN))
    for path in ("/", "/jobs", "/api/jobs", "/static/app.js", "/jobs/none"):
        headers = (await web.get(path)).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
    page = (await web.get("/")).text
    assert "<script>" not in page
    assert '<script src="/static/app.js" defer></script>' in page
    assert "style=" not in page  # the CSP allows no inline style either


async def test_errors_show_no_details(
    client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store whose server is not there, with a password in its URL.
    url = "postgresql+asyncpg://admin:s3cret-pw@127.0.0.1:9/nothing"
    web = client(create_app(url, token=WEB_TOKEN))
    with caplog.at_level(logging.WARNING, logger="tickwork.web"):
        for path in ("/", "/jobs", "/api/jobs", "/api/overview"):
            response = await web.get(path)
            assert response.status_code == 503, path
            assert "store unavailable" in response.text
            assert "s3cret" not in response.text
            assert "Traceback" not in response.text
    assert any(r.name == "tickwork.web" for r in caplog.records)
    # An unexpected failure: a short message, the detail in the log only.
    from tickwork_web import _views

    def broken() -> None:
        raise RuntimeError("internal detail s3cret")

    monkeypatch.setattr(_views, "plugins_view", broken)
    store = MemoryStore()
    await store.initialize()
    web = client(create_app(store))
    for path in ("/plugins", "/api/plugins"):
        response = await web.get(path)
        assert response.status_code == 500
        assert "internal error" in response.text
        assert "s3cret" not in response.text
    assert "internal detail s3cret" in caplog.text


async def test_login_never_sends_the_browser_to_another_site(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    for target in (
        "//evil.example",
        "/\t/evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/%0a/evil.example",
    ):
        web = client(create_app(store, token=WEB_TOKEN))
        page = await web.get("/login")
        response = await web.post(
            "/login", data={"csrf": csrf_of(page.text), "token": WEB_TOKEN, "next": target}
        )
        location = response.headers["location"]
        assert location in ("/?done=login", target + "?done=login"), target
        parts = urlsplit(location)
        assert (parts.scheme, parts.netloc) == ("", ""), target
        assert location.startswith("/"), target
        assert not location.startswith("//"), target
    good = client(create_app(store, token=WEB_TOKEN))
    page = await good.get("/login")
    back = job_path(seeded.cron) + "?page=2"
    response = await good.post(
        "/login", data={"csrf": csrf_of(page.text), "token": WEB_TOKEN, "next": back}
    )
    assert response.headers["location"] == back + "&done=login"


async def test_guessing_the_token_is_cut_short(
    store: Store, seeded: SeededJobs, client: Client
) -> None:
    from tickwork_web._security import LOGIN_FAILURES

    web = client(create_app(store, token=WEB_TOKEN))
    page = await web.get("/login")
    for _ in range(LOGIN_FAILURES):
        wrong = await web.post("/login", data={"csrf": csrf_of(page.text), "token": "guess"})
        assert wrong.status_code == 403
    blocked = await web.post("/login", data={"csrf": csrf_of(page.text), "token": WEB_TOKEN})
    assert blocked.status_code == 429
    assert "too many failed logins" in blocked.text
    api = await web.post(
        api_path(seeded.interval, "/pause"), headers={"Authorization": f"Bearer {WEB_TOKEN}"}
    )
    assert api.status_code == 429
    assert (await store.get_job(seeded.interval)).status is JobStatus.PENDING
