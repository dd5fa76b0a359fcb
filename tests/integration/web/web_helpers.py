"""Small helpers for the tickwork-web HTTP tests: form tokens, logging in, job URLs."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import httpx

__all__ = ["api_path", "csrf_of", "job_path", "log_in", "post_form"]

_CSRF = re.compile(r'name="csrf(?:-token)?" (?:value|content)="([^"]+)"')


def csrf_of(page: str) -> str:
    """The form token in a page (every form of a page carries the same one)."""
    match = _CSRF.search(page)
    assert match is not None, "the page has no form token"
    return html.unescape(match.group(1))


def job_path(job_id: str, suffix: str = "") -> str:
    return "/jobs/" + quote(job_id, safe="") + suffix


def api_path(job_id: str, suffix: str = "") -> str:
    return "/api/jobs/" + quote(job_id, safe="") + suffix


async def log_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post("/login", data={"csrf": csrf_of(page.text), "token": token})


async def post_form(
    client: httpx.AsyncClient, path: str, page: str, **fields: str
) -> httpx.Response:
    """Post a form of the page at ``page`` to ``path``, with that page's form token."""
    token = csrf_of((await client.get(page)).text)
    return await client.post(path, data={"csrf": token, **fields})
