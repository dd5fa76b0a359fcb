"""SQLAlchemy store for tickwork: jobs and execution history in SQLite, PostgreSQL or
MySQL/MariaDB, in the reference library's tables.

Installing this distribution registers the store as ``sqlalchemy`` and as the owner of
the ``sqlite``, ``postgresql``/``postgres`` and ``mysql``/``mariadb`` URL schemes, so
``tickwork.create_store("sqlite:///jobs.db")`` works; see ``docs/stores/sqlalchemy.md``.
"""

from __future__ import annotations

from ._store import SQLAlchemyStore

__all__ = ["SQLAlchemyStore"]
