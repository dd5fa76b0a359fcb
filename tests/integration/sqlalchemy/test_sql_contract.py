"""SQLAlchemyStore runs the reusable store contract on every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tickwork.abc import Store
from tickwork.testing import ClaimingStoreContract
from tickwork_sqlalchemy_store import SQLAlchemyStore


class TestSQLAlchemyStore(ClaimingStoreContract):
    """SQLite in a file, PostgreSQL and MariaDB (ids ``[sqlite]``, ``[postgresql]``, ...)."""

    persistent = True

    @pytest.fixture
    def make_store(self, database_url: str) -> Callable[[], Store]:
        return lambda: SQLAlchemyStore(database_url)


class TestInMemorySQLite(ClaimingStoreContract):
    """``sqlite://``: one connection shared by every call, each store its own database."""

    persistent = False

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return lambda: SQLAlchemyStore("sqlite://")

    async def test_reinitialize_after_close_keeps_data(
        self, make_store: Callable[[], Store]
    ) -> None:
        pytest.skip("an in-memory SQLite database is its connection: close() discards it")


def test_sqlalchemy_store_is_a_store() -> None:
    assert isinstance(SQLAlchemyStore("sqlite://"), Store)
