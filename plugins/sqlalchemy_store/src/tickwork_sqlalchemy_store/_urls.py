"""Database URLs: which async driver a plain URL gets, and how to name a database in
messages without leaking its password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from tickwork import StoreURLError

__all__ = [
    "ASYNC_DRIVERS",
    "SUPPORTED_FORMS",
    "URL_SCHEMES",
    "describe",
    "driver_connect_args",
    "is_memory_sqlite",
    "schema_from_url",
    "sqlite_file",
    "to_async_url",
]

# The driver a URL without ``+driver`` gets. SQLite's ships with this distribution, so
# ``sqlite:///jobs.db`` works out of the box; the servers' come with its extras
# (``[postgresql]``, ``[mysql]``: see ``_drivers``).
ASYNC_DRIVERS: dict[str, str] = {
    "sqlite": "aiosqlite",
    "postgresql": "asyncpg",
    "mysql": "aiomysql",
    "mariadb": "aiomysql",
}

# ``postgres://`` is what Heroku-style environments hand out; SQLAlchemy dropped it.
_BACKEND_ALIASES: dict[str, str] = {"postgres": "postgresql"}

#: The URL schemes this store answers to in ``tickwork.create_store``; the registry also
#: matches them with any ``+driver`` suffix.
URL_SCHEMES: tuple[str, ...] = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")

#: What SQLAlchemy's SQLite dialects take from a URL's query (anything else they would
#: drop with a warning, unless ``uri=true`` makes the rest SQLite URI parameters).
SQLITE_QUERY_KEYS = frozenset(
    {"timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements"}
    | {"uri"}
)

_DEFAULT_PORTS: dict[str, int] = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}

#: The URLs this store takes, for messages about one it cannot use.
SUPPORTED_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:// (in memory), "
    "postgresql://USER:PASSWORD@HOST:5432/DATABASE, mysql://USER:PASSWORD@HOST:3306/DATABASE "
    "(or mariadb://); a +DRIVER may name an asyncio driver: sqlite+aiosqlite, "
    "postgresql+asyncpg, postgresql+psycopg, mysql+aiomysql, mysql+asyncmy"
)


def to_async_url(url: str | URL) -> URL:
    """Parse ``url`` and make sure it names an asyncio driver.

    A URL without a driver gets the one this distribution installs; a URL that names a
    blocking driver is refused here, at construction, rather than at the first query.

    :raises StoreURLError: (a ``ValueError``) the URL is malformed, names an unknown
        backend or a driver that cannot run under asyncio, a host for SQLite, or has an
        ``@`` left unencoded in its password; the message lists the forms that work.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreURLError(f"not a database URL: {exc}; use one of: {SUPPORTED_FORMS}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    backend = _BACKEND_ALIASES.get(backend, backend)
    _check_host(parsed, backend)
    if not driver:
        default = ASYNC_DRIVERS.get(backend)
        if default is None:
            raise StoreURLError(
                f"no default async driver for {backend!r} URLs; name one explicitly "
                f"({backend}+<driver>://...) or use one of: {SUPPORTED_FORMS}"
            )
        driver = default
    parsed = parsed.set(drivername=f"{backend}+{driver}")
    if backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        # Without utf8mb4 on the connection, emoji in ids and metadata are rejected.
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    try:
        # Some drivers (psycopg 3) have one dialect class per mode; ask for the async one.
        dialect = parsed.get_dialect().get_async_dialect_cls(parsed)
    except NoSuchModuleError as exc:
        raise StoreURLError(
            f"SQLAlchemy has no dialect for {parsed.drivername!r} ({exc}); use one of: "
            f"{SUPPORTED_FORMS}"
        ) from exc
    if not dialect.is_async:
        suggestion = ASYNC_DRIVERS.get(backend)
        hint = f"; use {backend}://... (it gets {suggestion})" if suggestion else ""
        raise StoreURLError(
            f"{parsed.drivername!r} is a blocking driver and tickwork stores are async"
            f"{hint}. The forms that work: {SUPPORTED_FORMS}"
        )
    if backend == "sqlite":
        _check_sqlite_query(parsed)
    return parsed


def _check_host(url: URL, backend: str) -> None:
    """Refuse the two URL slips that still parse: ``sqlite://jobs.db`` (a host, which
    SQLite ignores: the store would be an empty in-memory database), and a password
    holding a raw ``@`` (the rest of it is taken for the host name)."""
    host = url.host or ""
    if backend == "sqlite" and host:
        raise StoreURLError(
            f"SQLite URL {url.render_as_string(hide_password=True)!r} has a host part "
            f"({host!r}) and no file: a SQLite file takes three slashes, "
            f"sqlite:///{host} (relative) or sqlite:////absolute/{host}"
        )
    if "@" in host:
        # The password's tail is in ``host``: name only what follows the last "@".
        raise StoreURLError(
            f"the {backend} URL for host {host.rpartition('@')[2]!r} has an '@' in its "
            "user name or password: write it URL-encoded as %40 (in Python, "
            "urllib.parse.quote(password, safe=''))"
        )


def _check_sqlite_query(url: URL) -> None:
    """Refuse a query key the SQLite driver would ignore (SQLAlchemy only warns)."""
    if str(url.query.get("uri", "")).lower() in ("true", "1"):
        return  # the rest are SQLite URI parameters (mode=ro, cache=shared, ...)
    for key in url.query:
        if key == "schema":
            raise StoreURLError(
                "?schema= names a PostgreSQL schema or a MySQL database; with SQLite, "
                "give each service its own database file instead"
            )
        if key not in SQLITE_QUERY_KEYS:
            raise StoreURLError(
                f"SQLite URL query key {key!r} is not one the driver takes "
                f"(it takes: {', '.join(sorted(SQLITE_QUERY_KEYS))}; with uri=true, "
                "SQLite URI parameters); remove it or fix its name"
            )


def schema_from_url(url: URL, schema: str | None) -> tuple[URL, str | None]:
    """Move ``?schema=NAME`` from a server URL's query into the store's ``schema``.

    The drivers would take it as a connection keyword and fail at the first connect
    (``connect() got an unexpected keyword argument 'schema'``), so it is taken out
    here; given both ways, the two must agree.

    :raises StoreURLError: (a ``ValueError``) the query gives the key more than once
        or empty, or a ``schema=`` option that differs.
    """
    if "schema" not in url.query:
        return url, schema
    value = url.query["schema"]
    if not isinstance(value, str) or not value:
        raise StoreURLError(f"?schema= in the URL must be given once, with a name; got {value!r}")
    if schema is not None and schema != value:
        raise StoreURLError(
            f"the URL says ?schema={value} and the schema option says {schema!r}; give one"
        )
    return url.difference_update_query(["schema"]), value


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` is an in-memory SQLite database (one connection holds it all)."""
    if url.get_backend_name() != "sqlite":
        return False
    database = url.database or ""
    # URI form: ``file::memory:`` or ``file:name?mode=memory`` (the query may come
    # parsed into url.query or be left in the database part).
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or "mode=memory" in database
        or url.query.get("mode") == "memory"
    )


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL (``None`` for memory and ``file:`` URI databases)."""
    if url.get_backend_name() != "sqlite" or is_memory_sqlite(url):
        return None
    database = url.database or ""
    if database.startswith("file:"):
        return None
    return Path(database)


def describe(url: URL) -> str:
    """Name a database for error messages: where it is, never the password."""
    backend = url.get_backend_name()
    rendered = url.render_as_string(hide_password=True)
    if backend == "sqlite":
        where = "in memory" if is_memory_sqlite(url) else f"file {url.database}"
        return f"SQLite database {where} ({rendered})"
    port = url.port or _DEFAULT_PORTS.get(backend)
    endpoint = f"{url.host or 'localhost'}:{port}" if port else (url.host or "localhost")
    return f"{backend} at {endpoint} ({rendered})"


def driver_connect_args(url: URL, connect_timeout: float) -> dict[str, Any]:
    """Driver options that bound how long connecting may take.

    A URL query parameter of the same name wins, so users keep full control.
    """
    driver = url.get_driver_name()
    if driver == "asyncpg":
        key = "timeout"
    elif driver in ("aiomysql", "asyncmy"):
        key = "connect_timeout"
    elif driver == "aiosqlite":
        # SQLite has nothing to connect to; the same budget bounds how long a write
        # waits for another process's lock (sqlite3's busy timeout).
        key = "timeout"
    else:
        return {}
    if key in url.query:
        return {}
    return {key: connect_timeout}
