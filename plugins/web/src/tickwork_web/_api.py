"""The JSON API: what the pages show and do, under ``/api/``.

Reads need nothing; every change needs ``Authorization: Bearer <token>`` and an app
that is not read-only. The API never reads the session cookie, so another site cannot
make a logged-in browser call it. Errors are ``{"error": "one line"}`` with the status
:mod:`tickwork_web._errors` chooses. ``/api/openapi.json`` describes every route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tickwork import StoreQueries

from . import _views
from ._errors import Refused, classify
from ._openapi import openapi_document
from ._params import execution_query, job_query, options_from_json
from ._schedule_text import parse_schedule

__all__ = ["routes"]

if TYPE_CHECKING:
    from ._state import WebState

MAX_BODY = 64 * 1024

Handler = Callable[[Request], Awaitable[Response]]


def _web(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class ApiResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_json_default, ensure_ascii=False).encode()


def api(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            error = classify(exc, f"{request.method} {request.url.path}")
            headers = {"www-authenticate": "Bearer"} if error.status == 401 else None
            return ApiResponse({"error": error.message}, error.status, headers=headers)

    return endpoint


def write(handler: Handler) -> Handler:
    """A change: only with the bearer token, only when the app is not read-only.

    Wrong tokens count with failed logins: after too many the API refuses every
    change for a minute (429), so guessing the token is hopeless.
    """

    async def checked(request: Request) -> Response:
        guard = _web(request).guard
        if guard.read_only:
            raise Refused(403, "read-only: no token is set, so nothing can be changed")
        if guard.login_blocked():
            raise Refused(429, "too many wrong tokens lately: wait a minute and try again")
        if not guard.bearer_ok(request):
            if "authorization" in request.headers:
                guard.login_failed()
            raise Refused(401, "send the token as 'Authorization: Bearer <token>'")
        return await handler(request)

    return api(checked)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise Refused(413, "body too large")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise Refused(400, "body: not valid JSON") from None


@api
async def get_overview(request: Request) -> Response:
    now = datetime.now(UTC)
    return ApiResponse(await _web(request).source.query(lambda q: _views.overview(q, now)))


@api
async def list_jobs(request: Request) -> Response:
    query = job_query(dict(request.query_params))
    return ApiResponse(await _web(request).source.query(lambda q: _views.job_list(q, query)))


@api
async def get_job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    history = execution_query({"limit": "0"}, job_id)

    async def detail(store: Any) -> dict[str, Any]:
        data = await _views.job_detail(StoreQueries(store), await store.get_job(job_id), history)
        data.pop("history")
        return data

    return ApiResponse(await _web(request).source.call(detail))


@api
async def list_executions(request: Request) -> Response:
    query = execution_query(dict(request.query_params))
    return ApiResponse(await _web(request).source.query(lambda q: _views.record_list(q, query)))


@api
async def get_plugins(request: Request) -> Response:
    return ApiResponse(_views.plugins_view())


@api
async def get_openapi(request: Request) -> Response:
    return ApiResponse(openapi_document(_web(request).title))


def _simple(name: str) -> Handler:
    async def handler(request: Request) -> Response:
        outcome = await getattr(_web(request).source, name)(request.path_params["job_id"])
        return ApiResponse(outcome)

    return write(handler)


@write
async def put_schedule(request: Request) -> Response:
    body = await _body(request)
    if not isinstance(body, dict) or not isinstance(body.get("schedule"), str):
        raise Refused(400, 'body: give {"schedule": "cron expression or TYPE:CONFIG"}')
    timezone = body.get("timezone")
    if timezone is not None and not isinstance(timezone, str):
        raise Refused(400, "timezone: must be a string")
    schedule = parse_schedule(body["schedule"], timezone)
    outcome = await _web(request).source.change_schedule(request.path_params["job_id"], schedule)
    return ApiResponse(outcome)


@write
async def patch_options(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    body = await _body(request)
    source = _web(request).source
    stored = await source.call(lambda store: store.get_job(job_id))
    options = options_from_json(body, _views.stored_options(stored))
    return ApiResponse(await source.change_options(job_id, options))


def routes() -> list[BaseRoute]:
    job = "/api/jobs/{job_id:path}"
    return [
        Route("/api/openapi.json", get_openapi, methods=["GET"]),
        Route("/api/overview", get_overview, methods=["GET"]),
        Route("/api/jobs", list_jobs, methods=["GET"]),
        Route("/api/executions", list_executions, methods=["GET"]),
        Route("/api/plugins", get_plugins, methods=["GET"]),
        Route(job + "/pause", _simple("pause"), methods=["POST"]),
        Route(job + "/resume", _simple("resume"), methods=["POST"]),
        Route(job + "/run", _simple("run_now"), methods=["POST"]),
        Route(job + "/schedule", put_schedule, methods=["PUT"]),
        Route(job + "/options", patch_options, methods=["PATCH"]),
        Route(job, get_job, methods=["GET"]),
        Route(job, _simple("remove"), methods=["DELETE"]),
    ]
