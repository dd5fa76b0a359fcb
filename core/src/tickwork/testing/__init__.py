"""Reusable test suites for plugin authors.

Subclass :class:`StoreContract` in your own test module and provide one fixture,
``make_store``, that returns a new (not yet initialized) store over an *empty*
backend; every test of the contract then runs against your store::

    import pytest
    from tickwork.testing import StoreContract

    class TestMyStore(StoreContract):
        persistent = True  # a second store over the same backend sees the data

        @pytest.fixture
        def make_store(self, tmp_path):
            return lambda: MyStore(path=tmp_path / "db")

A store that implements :class:`tickwork.abc.ClaimingStore` (several schedulers can
share it) subclasses :class:`ClaimingStoreContract` instead, which adds the claim rules.
Stores with the optional capabilities that matter at scale add their contracts too:
:class:`BulkStoreContract` (``save_jobs``), :class:`DueJobsStoreContract`
(``list_due_jobs``), :class:`LastRecordStoreContract` (``last_saved_execution``),
:class:`BatchRunStoreContract` (``save_runs``),
:class:`BatchClaimingStoreContract` (``claim_jobs``, ``release_claims``, ``get_jobs``;
it includes the claim rules) and :class:`ConditionalUpdateStoreContract`
(``update_job_if``, which every shared store should have) with
:class:`ConditionalBatchRunStoreContract` (``save_runs_if``, both in one), for example
``class TestMyStore(ClaimingStoreContract, BulkStoreContract): ...``.
:class:`FinishingStoreContract` covers ``finish_runs`` (a run's record, job write and
claim release in one call); :class:`FinishingClaimingStoreContract` adds the claim
releases for a store that is also a ``ClaimingStore``; :class:`InProcessStoreContract`
covers a store that keeps its data in this process; :class:`IdLimitedStoreContract` a
store that holds job ids up to a length only (``max_id_length``).
:class:`ChangeSignalingStoreContract`
covers a store that pushes job changes to other processes (``signal_changes``,
``listen_for_changes``); it does not repeat the store contract.
:class:`QueryContract` covers a store that pages jobs and history itself
(:class:`tickwork.abc.QueryableStore`), comparing each page with the reference
functions; it does not repeat the store contract either.
:class:`UnreadableRowsQueryContract` adds an unreadable job to it, for stores that can
hold one. :class:`WorkerRegistryContract` covers a shared store that keeps the registry
of live schedulers (:class:`tickwork.abc.WorkerRegistryStore`).

An instrument plugin (``register_instruments``) reuses :class:`InstrumentContract`,
with a ``make_instrument`` fixture.

An executor plugin (``register_executors``) reuses :class:`TaskExecutorContract`,
with a ``make_executor`` fixture; its sample tasks are importable by name, so an
executor that runs them in another process passes it too.

Schedule plugins whose schedules have the optional capabilities reuse
:class:`FirstRunScheduleContract` (``first_run``),
:class:`GapSkippingScheduleContract` (``skipped_between``) and
:class:`EndingScheduleContract` (``end_reason``), with a ``schedules`` fixture.

The suite needs ``pytest`` and ``pytest-asyncio`` (``asyncio_mode = "auto"``).

What a plugin's own suite needs around the kits ships here too: load
:mod:`tickwork.testing.pytest_plugin` from your ``conftest.py`` for a fresh backend per
test, the skip-or-fail rule for a missing server (:func:`server_unavailable`,
:func:`require_server`: skip on a laptop, fail under ``CI=true``) and the check that no
connection leaked (:class:`ConnectionLeakCheck`).
"""

from __future__ import annotations

from ._capability_contract import (
    BatchRunStoreContract,
    BulkStoreContract,
    ConditionalBatchRunStoreContract,
    ConditionalUpdateStoreContract,
    DueJobsStoreContract,
    LastRecordStoreContract,
)
from ._change_contract import ChangeSignalingStoreContract
from ._claim_contract import BatchClaimingStoreContract, ClaimingStoreContract
from ._connection_leaks import ConnectionLeakCheck, open_connections
from ._ending_contract import EndingScheduleContract
from ._executor_contract import TaskExecutorContract
from ._finish_contract import FinishingClaimingStoreContract, FinishingStoreContract
from ._id_limit_contract import IdLimitedStoreContract
from ._instrument_contract import InstrumentContract
from ._query_contract import (
    QUERY_JOB_IDS,
    QueryContract,
    UnreadableRowsQueryContract,
    query_data,
)
from ._registry_contract import WorkerRegistryContract
from ._schedule_contract import (
    FirstRunScheduleContract,
    GapSkippingScheduleContract,
    InProcessStoreContract,
)
from ._service_rule import in_ci, require_server, server_unavailable
from ._store_contract import TRICKY_JOB_IDS, StoreContract, make_job, make_record

__all__ = [
    "QUERY_JOB_IDS",
    "TRICKY_JOB_IDS",
    "BatchClaimingStoreContract",
    "BatchRunStoreContract",
    "BulkStoreContract",
    "ChangeSignalingStoreContract",
    "ClaimingStoreContract",
    "ConditionalBatchRunStoreContract",
    "ConditionalUpdateStoreContract",
    "ConnectionLeakCheck",
    "DueJobsStoreContract",
    "EndingScheduleContract",
    "FinishingClaimingStoreContract",
    "FinishingStoreContract",
    "FirstRunScheduleContract",
    "GapSkippingScheduleContract",
    "IdLimitedStoreContract",
    "InProcessStoreContract",
    "InstrumentContract",
    "LastRecordStoreContract",
    "QueryContract",
    "StoreContract",
    "TaskExecutorContract",
    "UnreadableRowsQueryContract",
    "WorkerRegistryContract",
    "in_ci",
    "make_job",
    "make_record",
    "open_connections",
    "query_data",
    "require_server",
    "server_unavailable",
]
