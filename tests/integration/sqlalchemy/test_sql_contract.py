"""SQLAlchemyStore runs the reusable store contract on every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tickwork.abc import Store
from tickwork.testing import StoreContract
from tickwork_sqlalchemy_store import SQLAlchemyStore


class TestSQLAlchemyStore(StoreContract):
    persistent = True

    @pytest.fixture
    def make_store(self, database_url: str) -> Callable[[], Store]:
        return lambda: SQLAlchemyStore(database_url)


def test_sqlalchemy_store_is_a_store() -> None:
    assert isinstance(SQLAlchemyStore("sqlite://"), Store)
