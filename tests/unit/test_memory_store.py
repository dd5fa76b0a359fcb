"""MemoryStore runs the reusable store contract."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tickwork import MemoryStore
from tickwork.abc import Store
from tickwork.testing import StoreContract


class TestMemoryStore(StoreContract):
    persistent = False

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return MemoryStore


def test_memory_store_is_a_store() -> None:
    assert isinstance(MemoryStore(), Store)
