"""The contracts that schedules, codecs, stores, triggers, executors, instruments and
commands implement.

This package is the one place where each extension point is declared and its invariants
are written down, one module per concept (schedules, the store, the store's optional
capabilities, claims on shared stores, batched run writes, change signals, browsing
queries, triggers, executors, instruments, commands); import them from here.
Implementations (in the core and in plugins) do not repeat these docstrings; read them
here. Everything is a :class:`typing.Protocol`, so a plugin needs no base class:
matching the methods is enough. ``runtime_checkable`` lets the plugin registry reject
an object that does not fit at load time.
"""

from __future__ import annotations

from ._change_signals import ChangedJobs, ChangeSignalingStore
from ._claims import (
    BatchClaimingStore,
    ClaimingStore,
    ConditionalUpdateStore,
    WorkerRegistryStore,
)
from ._commands import Command
from ._executors import TaskExecutor
from ._instruments import AttemptScope, Instrument
from ._queries import QueryableStore
from ._run_writes import BatchRunStore, ConditionalBatchRunStore, FinishingStore
from ._schedules import (
    EndingSchedule,
    FirstRunSchedule,
    GapSkippingSchedule,
    Schedule,
    ScheduleCodec,
)
from ._store import Store
from ._store_capabilities import (
    BulkStore,
    DueJobsStore,
    IdLimitedStore,
    InProcessStore,
    LastRecordStore,
)
from ._triggers import Delivery, Dispatch, RunChainTrigger, StoreReadingTrigger, Trigger

__all__ = [
    "AttemptScope",
    "BatchClaimingStore",
    "BatchRunStore",
    "BulkStore",
    "ChangeSignalingStore",
    "ChangedJobs",
    "ClaimingStore",
    "Command",
    "ConditionalBatchRunStore",
    "ConditionalUpdateStore",
    "Delivery",
    "Dispatch",
    "DueJobsStore",
    "EndingSchedule",
    "FinishingStore",
    "FirstRunSchedule",
    "GapSkippingSchedule",
    "IdLimitedStore",
    "InProcessStore",
    "Instrument",
    "LastRecordStore",
    "QueryableStore",
    "RunChainTrigger",
    "Schedule",
    "ScheduleCodec",
    "Store",
    "StoreReadingTrigger",
    "TaskExecutor",
    "Trigger",
    "WorkerRegistryStore",
]
