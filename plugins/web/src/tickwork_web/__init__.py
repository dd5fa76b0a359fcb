"""tickwork-web: a dashboard and a JSON HTTP API over a tickwork scheduler or store.

``create_app(scheduler_or_store, token=...)`` is an ASGI application to serve with
uvicorn or mount in another one; ``tickwork web --store URL`` serves one from the
command line (this distribution registers the command). It listens on 127.0.0.1 unless
told otherwise, and nothing can be changed without the token. See ``docs/web.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import TOKEN_ENV, create_app

__all__ = ["TOKEN_ENV", "create_app"]


def __getattr__(name: str) -> Any:
    # Starlette and Jinja2 load when an app is made, not when tickwork's plugin
    # discovery imports this package in every program.
    if name in __all__:
        from . import _app

        return getattr(_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
