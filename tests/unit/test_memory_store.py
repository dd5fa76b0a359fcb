"""MemoryStore runs the reusable store contract, claims and bulk capabilities included."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tickwork import ClaimingStore, FinishingStore, MemoryStore
from tickwork.abc import Store
from tickwork.testing import (
    BatchClaimingStoreContract,
    BulkStoreContract,
    ConditionalUpdateStoreContract,
    DueJobsStoreContract,
    FinishingClaimingStoreContract,
    InProcessStoreContract,
)


class TestMemoryStore(
    BatchClaimingStoreContract,
    BulkStoreContract,
    DueJobsStoreContract,
    ConditionalUpdateStoreContract,
    FinishingClaimingStoreContract,
    InProcessStoreContract,
):
    persistent = False

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return MemoryStore


def test_memory_store_is_a_claiming_store() -> None:
    assert isinstance(MemoryStore(), Store)
    assert isinstance(MemoryStore(), ClaimingStore)
    assert isinstance(MemoryStore(), FinishingStore)
    assert MemoryStore().shared is False
    assert MemoryStore(shared=True).shared is True
