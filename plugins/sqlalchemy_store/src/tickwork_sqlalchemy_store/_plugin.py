"""The ``tickwork`` entry point of this distribution: it registers the store.

Plugin discovery imports this module in every program that uses tickwork, so it
imports nothing heavy: SQLAlchemy and the drivers load the first time a SQL store is
actually created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tickwork

# Kept here rather than imported from _urls, which needs SQLAlchemy.
URL_SCHEMES: tuple[str, ...] = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def create_sqlalchemy_store(*args: Any, **options: Any) -> tickwork.Store:
    """Build a :class:`~tickwork_sqlalchemy_store.SQLAlchemyStore` (imported on first use)."""
    from ._store import SQLAlchemyStore

    return SQLAlchemyStore(*args, **options)


@tickwork.hookimpl
def register_stores(register: Callable[..., None]) -> None:
    """The SQL store, by name and by database URL scheme."""
    register("sqlalchemy", create_sqlalchemy_store, url_schemes=URL_SCHEMES, url_option="url")
