"""SQLAlchemyStore runs the reusable store contract, and the contracts of the optional
capabilities it has (claims and batched claims, bulk saves, due-job look-ups, batched
run writes, finishing runs), on every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tickwork.abc import (
    BatchClaimingStore,
    BatchRunStore,
    BulkStore,
    ClaimingStore,
    DueJobsStore,
    FinishingStore,
    Store,
)
from tickwork.testing import (
    BatchClaimingStoreContract,
    BulkStoreContract,
    ConditionalBatchRunStoreContract,
    DueJobsStoreContract,
    FinishingClaimingStoreContract,
    IdLimitedStoreContract,
    make_job,
)
from tickwork_sqlalchemy_store import SQLAlchemyStore


class TestSQLAlchemyStore(
    BatchClaimingStoreContract,
    BulkStoreContract,
    DueJobsStoreContract,
    ConditionalBatchRunStoreContract,
    FinishingClaimingStoreContract,
    IdLimitedStoreContract,
):
    """SQLite in a file, PostgreSQL and MariaDB (ids ``[sqlite]``, ``[postgresql]``, ...)."""

    persistent = True

    @pytest.fixture
    def make_store(self, database_url: str) -> Callable[[], Store]:
        return lambda: SQLAlchemyStore(database_url)


class TestInMemorySQLite(
    BatchClaimingStoreContract,
    BulkStoreContract,
    DueJobsStoreContract,
    ConditionalBatchRunStoreContract,
    FinishingClaimingStoreContract,
):
    """``sqlite://``: one connection shared by every call, each store its own database."""

    persistent = False

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return lambda: SQLAlchemyStore("sqlite://")

    async def test_reinitialize_after_close_keeps_data(
        self, make_store: Callable[[], Store]
    ) -> None:
        """An in-memory SQLite database is its connection: close() discards it, and
        the store starts empty (but working) when initialized again."""
        store = make_store()
        await store.initialize()
        await store.save_job(make_job())
        await store.close()
        await store.initialize()
        try:
            assert await store.list_jobs() == []
            await store.save_job(make_job())
            assert (await store.get_job("job-1")).id == "job-1"
        finally:
            await store.close()


def test_sqlalchemy_store_is_a_store() -> None:
    assert isinstance(SQLAlchemyStore("sqlite://"), Store)


@pytest.mark.parametrize(
    "capability",
    [ClaimingStore, BatchClaimingStore, BulkStore, DueJobsStore, BatchRunStore, FinishingStore],
)
def test_sqlalchemy_store_has_every_capability(capability: type) -> None:
    assert isinstance(SQLAlchemyStore("sqlite://"), capability)
