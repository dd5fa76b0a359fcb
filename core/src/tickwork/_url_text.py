"""Store URLs in messages: shown without their secrets, and explained when malformed.

A URL goes into error messages, and so into logs and terminal scrollback: its password
(or a NATS token, which sits where a user name would) is shown as ``***``. A string
that starts like a registered URL scheme but lacks the ``//`` (``sqlite:/jobs.db``) is
answered with the forms that work, not with "no store named 'sqlite:/jobs.db'".
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from ._errors import StoreURLError

__all__ = ["malformed_store_url", "redacted"]

# Schemes whose user part alone is a token (nats://TOKEN@host), a secret.
_TOKEN_SCHEMES = frozenset({"nats", "tls", "ws", "wss"})

# Examples for the schemes whose slip is common; other schemes get SCHEME://...
_EXAMPLES = {
    "sqlite": "sqlite:///relative/path.db or sqlite:////absolute/path.db",
    "nats": "nats://HOST:4222",
}


def redacted(name_or_url: str) -> str:
    """``name_or_url`` with the password of its URL, if any, shown as ``***``."""
    try:
        parts = urlsplit(name_or_url)
        password = parts.password
    except ValueError:  # a malformed port: show the scheme only, never the rest
        return name_or_url.partition(":")[0] + "://..."
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return name_or_url
    if not password:
        if parts.scheme in _TOKEN_SCHEMES:
            return urlunsplit(parts._replace(netloc=f"***@{host}"))
        return name_or_url
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def malformed_store_url(name: str, schemes: Iterable[str]) -> StoreURLError | None:
    """The error for ``name`` when it begins with a registered URL scheme and a colon
    but is no URL (no ``//``); ``None`` when it does not look like one at all."""
    scheme, colon, _ = name.partition(":")
    base = scheme.lower().split("+", 1)[0]
    known = set(schemes)
    if not colon or (scheme.lower() not in known and base not in known):
        return None
    shown = name if "@" not in name else f"{scheme}:..."
    example = _EXAMPLES.get(base, f"{base}://...")
    return StoreURLError(
        f"store URL {shown!r} is malformed: a URL starts with SCHEME:// (two slashes), "
        f"e.g. {example}; schemes installed: {', '.join(sorted(known))}"
    )
