"""The ASGI application: routes, security headers, and what the app was given.

``create_app`` takes a scheduler (its actions then go through the scheduler, and the
pages follow its events live), a store, or a store URL (opened by the app on first use
and closed when it stops). Pages are server-rendered HTML; the same data and actions
are a JSON API under ``/api/``, described at ``/api/openapi.json``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickwork import AsyncScheduler, Scheduler, Store

from . import _api, _live, _pages
from ._errors import WebError
from ._render import make_environment
from ._security import Guard
from ._source import JobSource
from ._state import WebState

__all__ = ["TOKEN_ENV", "WebState", "create_app"]

TOKEN_ENV = "TICKWORK_WEB_TOKEN"

#: Scripts only from our own files (no inline script, so injected markup cannot run
#: any), no framing, forms and fetches only to this origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def create_app(
    source: AsyncScheduler | Scheduler | Store | str,
    *,
    token: str | None = None,
    read_only: bool | None = None,
    title: str = "tickwork",
    secret_key: bytes | None = None,
    store_options: dict[str, Any] | None = None,
) -> Starlette:
    """The dashboard and API over ``source``.

    :param source: an :class:`~tickwork.AsyncScheduler` running on the server's event
        loop (mounted in the same application), a blocking :class:`~tickwork.Scheduler`
        (its store is read on its own loop), an opened store, or a store name/URL
        (opened on first use with ``create=False``, so a mistyped URL is an error,
        never a new store, and closed when the app stops).
    :param token: what a client must show to change anything; default
        ``$TICKWORK_WEB_TOKEN``. Without a token the app is read-only.
    :param read_only: True refuses every change even with a token.
    :param secret_key: signs session cookies (default: random per process, so a
        restart logs everyone out).
    """
    chosen = token if token is not None else os.environ.get(TOKEN_ENV)
    guard = Guard(chosen, bool(read_only), secret_key)
    web = WebState(JobSource(source, **(store_options or {})), guard, make_environment(), title)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await web.source.close()

    app = Starlette(
        routes=_routes(),
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.web = web
    app.add_middleware(SecurityHeaders)
    return app


def _routes() -> list[BaseRoute]:
    static = Path(__file__).parent / "static"
    return [
        *_pages.routes(),
        *_api.routes(),
        Route("/api/events", _live.events, methods=["GET"], name="events"),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]


async def _not_found(request: Request, exc: Exception) -> Response:
    """No such page or method: the error page (or a JSON error under ``/api/``)."""
    status = getattr(exc, "status_code", 404)
    message = "no such page" if status == 404 else "method not allowed"
    if request.url.path.startswith(str(request.scope.get("root_path", "")) + "/api/"):
        return JSONResponse({"error": message}, status)
    return _pages.error_page(request, WebError(status, message))


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response, and ``no-store`` to all
    but the static files (a page may show data a later visitor must not get from a
    cache)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
