"""What every endpoint of the app needs: kept on ``app.state.web`` by ``create_app``, read
by the page and API routes (a module of its own, so the routes do not import the
module that imports them)."""

from __future__ import annotations

import attrs
import jinja2

from ._security import Guard
from ._source import JobSource

__all__ = ["WebState"]


@attrs.define
class WebState:
    """The job source, the security guard, the templates and the title of one app."""

    source: JobSource
    guard: Guard
    env: jinja2.Environment
    title: str
