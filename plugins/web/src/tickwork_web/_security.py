"""Who may change what, and proof that a form post came from our own pages.

The model (``docs/web.md`` says it for users):

- Reading needs nothing: the dashboard shows what the store holds to whoever reaches
  it, which is why it listens on 127.0.0.1 unless told otherwise.
- Every change needs the token (``TICKWORK_WEB_TOKEN`` or ``create_app(token=...)``).
  Without one the app is read-only: actions answer 403 and the pages hide them.
- The API takes the token as ``Authorization: Bearer``; it never reads cookies, so a
  page on another site cannot make a browser call it with the user's rights.
- The pages take it once in a login form and keep a signed session cookie
  (``HttpOnly``, ``SameSite=Strict``). Each form carries a token bound to the session
  (checked with :func:`hmac.compare_digest`), and a post whose ``Origin`` or
  ``Referer`` names another host is refused before anything else is looked at.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import attrs
from starlette.requests import Request

__all__ = ["COOKIE", "Guard", "Session"]

COOKIE = "tickwork_session"
#: How long a session lasts (seconds).
SESSION_TTL = 12 * 3600
#: At most this many failed logins per :data:`LOGIN_WINDOW` seconds, from anyone:
#: guessing the token through the form is then hopeless even for a short token.
LOGIN_FAILURES = 10
LOGIN_WINDOW = 60.0


@attrs.frozen
class Session:
    """A browser's session: an id (anonymous ones too, for their form tokens) and
    whether it logged in with the token."""

    sid: str
    authenticated: bool = False
    issued: int = 0


class Guard:
    """The token, the read-only switch and the key that signs sessions."""

    def __init__(self, token: str | None, read_only: bool, secret: bytes | None = None):
        self._token = token or None
        self.read_only = read_only or self._token is None
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._failures: deque[float] = deque()

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def token_matches(self, given: str | None) -> bool:
        if self._token is None or not given:
            return False
        return hmac.compare_digest(given.encode(), self._token.encode())

    def login_blocked(self) -> bool:
        """Whether too many logins failed lately (see :data:`LOGIN_FAILURES`)."""
        now = time.monotonic()
        while self._failures and now - self._failures[0] > LOGIN_WINDOW:
            self._failures.popleft()
        return len(self._failures) >= LOGIN_FAILURES

    def login_failed(self) -> None:
        self._failures.append(time.monotonic())

    def bearer_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    # -- sessions ---------------------------------------------------------------------

    def new_session(self, authenticated: bool = False) -> Session:
        return Session(secrets.token_urlsafe(18), authenticated, int(time.time()))

    def session_of(self, request: Request) -> Session | None:
        """The request's session when its cookie is ours, unaltered and not expired."""
        raw = request.cookies.get(COOKIE)
        if not raw or "." not in raw:
            return None
        body, _, signature = raw.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data: Any = json.loads(base64.urlsafe_b64decode(body.encode()))
            session = Session(str(data["sid"]), bool(data["auth"]), int(data["iat"]))
        except (ValueError, KeyError, TypeError):
            return None
        if time.time() - session.issued > SESSION_TTL:
            return None
        if session.authenticated and self.read_only:
            return attrs.evolve(session, authenticated=False)
        return session

    def cookie_value(self, session: Session) -> str:
        data = {"sid": session.sid, "auth": session.authenticated, "iat": session.issued}
        body = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
        return f"{body}.{self._sign(body)}"

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.sid}")

    def csrf_ok(self, session: Session | None, given: str | None) -> bool:
        if session is None or not given:
            return False
        return hmac.compare_digest(given, self.csrf_token(session))

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """False when ``Origin`` (or, without it, ``Referer``) names another host than
    the one the request was sent to; True when they match or neither is sent."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    if referer is not None:
        return urlsplit(referer).netloc == host
    return True
