"""The database drivers, installed as extras, and the error for a missing one.

SQLite needs no driver beyond Python's own ``sqlite3``, so a plain install carries no
server driver: ``tickwork-sqlalchemy-store[postgresql]`` adds asyncpg,
``[mysql]`` adds aiomysql. Without this check a missing driver shows up as a bare
``No module named 'asyncpg'`` from deep inside SQLAlchemy at the first connection; the
store checks before it connects and says which extra to install.
"""

from __future__ import annotations

import importlib.util

import tickwork

__all__ = ["EXTRAS", "MissingDriverError", "require_driver"]

#: The extra that installs each driver (by its module name).
EXTRAS: dict[str, str] = {"asyncpg": "postgresql", "aiomysql": "mysql"}

DISTRIBUTION = "tickwork-sqlalchemy-store"


class MissingDriverError(tickwork.TickworkError, ImportError):
    """The database driver a URL needs is not installed."""

    def __init__(self, driver: str, where: str) -> None:
        extra = EXTRAS.get(driver)
        fix = f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {driver}"
        super().__init__(f"{where} needs the {driver} driver, which is not installed: {fix}")
        self.driver = driver
        self.where = where


def require_driver(driver: str, where: str) -> None:
    """:raises MissingDriverError: ``driver`` (a module name) cannot be imported."""
    if importlib.util.find_spec(driver) is None:
        raise MissingDriverError(driver, where)
