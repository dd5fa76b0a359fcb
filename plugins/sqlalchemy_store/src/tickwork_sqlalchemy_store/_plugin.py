"""The ``tickwork`` entry point of this distribution: it registers the store."""

from __future__ import annotations

from collections.abc import Callable

import tickwork

from ._store import SQLAlchemyStore
from ._urls import URL_SCHEMES


@tickwork.hookimpl
def register_stores(register: Callable[..., None]) -> None:
    """The SQL store, by name and by database URL scheme."""
    register("sqlalchemy", SQLAlchemyStore, url_schemes=URL_SCHEMES, url_option="url")
