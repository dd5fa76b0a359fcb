"""The HTML pages: overview, jobs, one job (with its actions), plugins, login.

Every page is rendered on the server from the same data the API sends
(:mod:`tickwork_web._views`). A form post goes through :func:`_checked_form`: a post
naming another site in ``Origin``/``Referer``, without the session's form token, or
from a session that did not log in is refused with 403 before anything is read, and
the answer to an accepted one is a redirect (so a reload does not post again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tickwork import JobStatus, StoreQueries

from . import _views
from ._errors import Refused, WebError, classify
from ._params import PAGE_SIZES, execution_query, job_query, options_from_form
from ._render import job_url
from ._schedule_text import parse_schedule
from ._security import COOKIE, SESSION_TTL, Session, same_origin

__all__ = ["routes"]

if TYPE_CHECKING:
    from ._state import WebState

MAX_FORM = 64 * 1024
DONE = {
    "paused": "Paused: the job does not run until it is resumed.",
    "resumed": "Resumed: the job runs from its next fire time.",
    "started": "Started a run now; it appears in the history when it starts.",
    "due": "The job is due now: the schedulers sharing this store run it at their next poll.",
    "schedule": "The schedule was changed; the next runs below follow it.",
    "options": "The run policies were changed; they apply from the next run.",
    "removed": "The job was removed (its history stays in the store).",
    "unchanged": "Nothing to do: the job was not paused.",
    "login": "Logged in: you can change jobs.",
    "logout": "Logged out.",
}

Handler = Callable[[Request], Awaitable[Response]]
PostHandler = Callable[[Request, dict[str, str]], Awaitable[Response]]


def _web(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def _session(request: Request) -> tuple[Session, bool]:
    found = _web(request).guard.session_of(request)
    return (found, False) if found is not None else (_web(request).guard.new_session(), True)


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """``name`` rendered with the layout's context; a new session gets its cookie."""
    web = _web(request)
    session, fresh = _session(request)
    done = request.query_params.get("done", "")
    base = {
        "title": web.title,
        "root": _root(request),
        "path": _relative_path(request),
        # The path as sent (still percent-encoded), for links back to this page.
        "here": _raw_path(request),
        "read_only": web.guard.read_only,
        "logged_in": session.authenticated,
        "can_write": session.authenticated and not web.guard.read_only,
        "csrf": web.guard.csrf_token(session),
        "live": web.source.live,
        "now": datetime.now(UTC),
        "flash": DONE.get(done),
        "statuses": [s.value for s in JobStatus],
    }
    html = web.env.get_template(name).render({**base, **context})
    response = HTMLResponse(html, status)
    if fresh:
        _set_cookie(request, response, web.guard.cookie_value(session))
    return response


def _relative_path(request: Request) -> str:
    """The page's path inside the app (without the mount's path)."""
    path, root = request.url.path, _root(request)
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _set_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_TTL,
        path=_root(request) + "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def page(handler: Handler) -> Handler:
    """``handler``, its failures answered with the error page (status and one line)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return error_page(request, classify(exc, f"{request.method} {request.url.path}"))

    return endpoint


def error_page(request: Request, error: WebError) -> HTMLResponse:
    return render(request, "error.html", {"error": error}, error.status)


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(400, "forms must be sent as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise Refused(413, "form too large")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def _checked_form(request: Request) -> tuple[dict[str, str], Session | None]:
    """The form of a post that came from one of our pages in this session."""
    if not same_origin(request):
        raise Refused(403, "cross-site request refused")
    form = await _form(request)
    session = _web(request).guard.session_of(request)
    if not _web(request).guard.csrf_ok(session, form.get("csrf")):
        raise Refused(403, "this form expired or did not come from this site: reload the page")
    return form, session


def action(handler: PostHandler) -> Handler:
    """A job action: checked as :func:`_checked_form` says, and only for a logged-in
    session of an app that is not read-only."""

    async def endpoint(request: Request) -> Response:
        try:
            form, session = await _checked_form(request)
            guard = _web(request).guard
            if guard.read_only:
                raise Refused(
                    403,
                    "read-only: this dashboard has no token set, so nothing "
                    "can be changed (set TICKWORK_WEB_TOKEN)",
                )
            if session is None or not session.authenticated:
                raise Refused(403, "log in with the token to change jobs")
            return await handler(request, form)
        except Exception as exc:
            return error_page(request, classify(exc, f"{request.method} {request.url.path}"))

    return endpoint


def _root(request: Request) -> str:
    """The path the app is mounted at ('' when served alone)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _redirect(request: Request, url: str) -> RedirectResponse:
    """A 303 to ``url``, a path of this app (under its mount)."""
    return RedirectResponse(_root(request) + url, status_code=303)


# -- pages ------------------------------------------------------------------------------


@page
async def overview(request: Request) -> Response:
    now = datetime.now(UTC)
    data = await _web(request).source.query(lambda q: _views.overview(q, now))
    return render(request, "overview.html", {"data": data})


@page
async def jobs(request: Request) -> Response:
    params = dict(request.query_params)
    params.setdefault("limit", "50")
    query = job_query(params)
    data = await _web(request).source.query(lambda q: _views.job_list(q, query))
    shown = {k: params.get(k, "") for k in ("search", "status", "task", "sort", "desc", "limit")}
    return render(
        request,
        "jobs.html",
        {"data": data, "params": shown, "query": query, "page_sizes": PAGE_SIZES},
    )


@page
async def runs(request: Request) -> Response:
    params = dict(request.query_params)
    query = execution_query(params)
    data = await _web(request).source.query(lambda q: _views.record_list(q, query))
    keys = ("job_id", "status", "since", "until", "sort", "desc", "limit")
    shown = {k: params.get(k, "") for k in keys}
    context = {"data": data, "params": shown, "query": query, "page_sizes": PAGE_SIZES}
    return render(request, "runs.html", context)


@page
async def job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    params = dict(request.query_params)
    history = execution_query(params, job_id)
    source = _web(request).source

    async def detail(store: Any) -> dict[str, Any]:
        found = await store.get_job(job_id)
        return await _views.job_detail(StoreQueries(store), found, history)

    data = await source.call(detail)
    shown = {k: params.get(k, "") for k in ("status", "since", "until", "sort", "desc", "limit")}
    context = {
        "job": data,
        "params": shown,
        "query": history,
        "confirm_remove": params.get("confirm") == "remove",
        "page_sizes": PAGE_SIZES,
        "has_scheduler": source.has_scheduler,
    }
    return render(request, "job.html", context)


@page
async def plugins(request: Request) -> Response:
    return render(request, "plugins.html", {"data": _views.plugins_view()})


@page
async def login_form(request: Request) -> Response:
    return render(
        request, "login.html", {"next": _local(request, request.query_params.get("next"))}
    )


async def login(request: Request) -> Response:
    try:
        form, _session_before = await _checked_form(request)
    except Exception as exc:
        return error_page(request, classify(exc, "POST /login"))
    guard = _web(request).guard
    target = _local(request, form.get("next"))
    if guard.read_only:
        message = "read-only: no token is set, so there is nothing to log in to"
        return render(request, "login.html", {"next": target, "error": message}, 403)
    if guard.login_blocked():
        message = "too many failed logins: wait a minute and try again"
        return render(request, "login.html", {"next": target, "error": message}, 429)
    if not guard.token_matches(form.get("token")):
        guard.login_failed()
        await asyncio.sleep(0.25)  # a little cost per guess
        return render(request, "login.html", {"next": target, "error": "wrong token"}, 403)
    # A new session id on login: an id planted before it is worth nothing after.
    session = guard.new_session(authenticated=True)
    response = RedirectResponse(_with_done(target, "login"), status_code=303)
    _set_cookie(request, response, guard.cookie_value(session))
    return response


async def logout(request: Request) -> Response:
    try:
        await _checked_form(request)
    except Exception as exc:
        return error_page(request, classify(exc, "POST /logout"))
    guard = _web(request).guard
    response = _redirect(request, "/?done=logout")
    _set_cookie(request, response, guard.cookie_value(guard.new_session()))
    return response


def _local(request: Request, target: str | None) -> str:
    """A path on this site to go back to after login; the app's overview otherwise.

    Never another site: not ``//host``, not a backslash (browsers read it as a slash),
    no control characters or spaces (browsers drop them, so slash-tab-slash-host
    would become ``//host``).
    """
    home = _root(request) + "/"
    if not target or not target.startswith("/") or len(target) > 2000:
        return home
    if any(ord(c) <= 0x20 or c == "\\" for c in target) or target.startswith("//"):
        return home
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else home


def _with_done(target: str, done: str) -> str:
    return f"{target}{'&' if '?' in target else '?'}done={done}"


# -- actions ----------------------------------------------------------------------------


def _job_action(name: str, done: Callable[[dict[str, Any]], str]) -> Handler:
    async def handler(request: Request, form: dict[str, str]) -> Response:
        job_id = request.path_params["job_id"]
        outcome = await getattr(_web(request).source, name)(job_id)
        return _redirect(request, job_url(job_id) + "?done=" + done(outcome))

    return action(handler)


@action
async def change_schedule(request: Request, form: dict[str, str]) -> Response:
    job_id = request.path_params["job_id"]
    schedule = parse_schedule(form.get("schedule", ""), form.get("timezone") or None)
    await _web(request).source.change_schedule(job_id, schedule)
    return _redirect(request, job_url(job_id) + "?done=schedule")


@action
async def change_options(request: Request, form: dict[str, str]) -> Response:
    job_id = request.path_params["job_id"]
    source = _web(request).source
    stored = await source.call(lambda store: store.get_job(job_id))
    options = options_from_form(form, _views.stored_options(stored))
    await source.change_options(job_id, options)
    return _redirect(request, job_url(job_id) + "?done=options")


@action
async def remove(request: Request, form: dict[str, str]) -> Response:
    job_id = request.path_params["job_id"]
    if form.get("confirm") != "yes":
        return _redirect(request, job_url(job_id) + "?confirm=remove")
    await _web(request).source.remove(job_id)
    return _redirect(request, "/jobs?done=removed")


def routes() -> list[BaseRoute]:
    changed = lambda o: "resumed" if o.get("changed", True) else "unchanged"  # noqa: E731
    return [
        Route("/", overview, methods=["GET"], name="overview"),
        Route("/jobs", jobs, methods=["GET"], name="jobs"),
        Route("/runs", runs, methods=["GET"], name="runs"),
        Route("/plugins", plugins, methods=["GET"], name="plugins"),
        Route("/login", login_form, methods=["GET"], name="login_form"),
        Route("/login", login, methods=["POST"], name="login"),
        Route("/logout", logout, methods=["POST"], name="logout"),
        Route(
            "/jobs/{job_id:path}/pause",
            _job_action("pause", lambda o: "paused"),
            methods=["POST"],
        ),
        Route("/jobs/{job_id:path}/resume", _job_action("resume", changed), methods=["POST"]),
        Route(
            "/jobs/{job_id:path}/run",
            _job_action("run_now", lambda o: "started" if o.get("started") else "due"),
            methods=["POST"],
        ),
        Route("/jobs/{job_id:path}/schedule", change_schedule, methods=["POST"]),
        Route("/jobs/{job_id:path}/options", change_options, methods=["POST"]),
        Route("/jobs/{job_id:path}/remove", remove, methods=["POST"]),
        Route("/jobs/{job_id:path}", job, methods=["GET"], name="job"),
    ]
