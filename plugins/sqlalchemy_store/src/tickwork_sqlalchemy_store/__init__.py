"""SQLAlchemy store for tickwork: jobs and execution history in SQLite, PostgreSQL or
MySQL/MariaDB, in the reference library's tables.

Installing this distribution registers the store as ``sqlalchemy`` and as the owner of
the ``sqlite``, ``postgresql``/``postgres`` and ``mysql``/``mariadb`` URL schemes, so
``tickwork.create_store("sqlite:///jobs.db")`` works; see ``docs/stores/sqlalchemy.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._drivers import MissingDriverError

if TYPE_CHECKING:
    from ._store import SQLAlchemyStore

__all__ = ["MissingDriverError", "SQLAlchemyStore"]


def __getattr__(name: str) -> Any:
    # The store (and SQLAlchemy with it) loads on first use, not when tickwork's plugin
    # discovery imports this package.
    if name == "SQLAlchemyStore":
        from ._store import SQLAlchemyStore

        return SQLAlchemyStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
