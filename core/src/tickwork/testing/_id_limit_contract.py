"""The contract of :class:`~tickwork.abc.IdLimitedStore`: a declared id length, held
exactly up to it and refused past it, by ``id_too_long`` and ``save_job`` alike, so
``add_job`` can refuse early what the store would refuse late."""

from __future__ import annotations

import pytest

from .._errors import JobIDTooLongError
from ..abc import IdLimitedStore, Store
from ._store_contract import StoreContract, make_job, make_record

__all__ = ["IdLimitedStoreContract"]

# The costliest character in every encoding a store might count: 4 UTF-8 bytes, 2
# UTF-16 units, outside every "safe" alphabet.
_WIDE = "\U0001f680"


def _limited(store: Store) -> IdLimitedStore:
    assert isinstance(store, IdLimitedStore), f"{type(store).__name__} has no id_too_long()"
    limit = store.max_id_length
    assert isinstance(limit, int), f"max_id_length must be an int, got {limit!r}"
    assert limit > 0, f"max_id_length must be greater than 0, got {limit}"
    return store


class IdLimitedStoreContract(StoreContract):
    """The store contract plus ``max_id_length`` and ``id_too_long``: every id of at
    most ``max_id_length`` characters (of any kind) round-trips, in jobs and execution
    records; one ``id_too_long`` refuses is refused by ``save_job`` with
    :class:`~tickwork.JobIDTooLongError`, and nothing is stored."""

    async def test_an_id_of_the_longest_length_round_trips(self, store: Store) -> None:
        limited = _limited(store)
        job_id = _WIDE * limited.max_id_length
        assert limited.id_too_long(job_id) is None
        await store.save_job(make_job(job_id))
        assert (await store.get_job(job_id)).id == job_id
        await store.save_execution(make_record(job_id, "exec-longest"))
        assert [r.job_id for r in await store.list_executions(job_id)] == [job_id]

    async def test_an_id_the_store_calls_too_long_is_refused_by_save_job(
        self, store: Store
    ) -> None:
        limited = _limited(store)
        job_id = _WIDE * (limited.max_id_length + 1) * 20
        reason = limited.id_too_long(job_id)
        assert isinstance(reason, str), "an id 20 times the longest must be too long"
        assert reason
        with pytest.raises(JobIDTooLongError) as info:
            await store.save_job(make_job(job_id))
        assert info.value.job_id == job_id
        assert await store.list_jobs() == []

    async def test_one_character_more_than_the_longest_is_refused_or_fits(
        self, store: Store
    ) -> None:
        """``id_too_long`` and ``save_job`` agree just past the limit too."""
        limited = _limited(store)
        job_id = _WIDE * (limited.max_id_length + 1)
        if limited.id_too_long(job_id) is None:
            await store.save_job(make_job(job_id))
            assert (await store.get_job(job_id)).id == job_id
        else:
            with pytest.raises(JobIDTooLongError):
                await store.save_job(make_job(job_id))
            assert await store.list_jobs() == []
