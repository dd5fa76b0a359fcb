"""tickwork: a job scheduler framework with pluggable stores, triggers and codecs.

Everything public is importable from here; the modules behind it are private.
"""

from __future__ import annotations

from ._codecs import BasicScheduleCodec, CompositeScheduleCodec
from ._cron import CronSchedule, CronSpec
from ._entry import UndecodableSchedule
from ._errors import (
    EmptyJobIDError,
    ExecutionNotFoundError,
    HandlerNotDefinedError,
    InvalidCronExpressionError,
    InvalidIntervalError,
    InvalidJobDataError,
    InvalidQueryError,
    InvalidScheduleConfigError,
    InvalidScheduleTimeError,
    JobAlreadyExistsError,
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    JobNotFoundError,
    NATSServerTooOldError,
    PluginNotFoundError,
    PluginRegistrationError,
    SchedulerAlreadyStartedError,
    SchedulerNotStartedError,
    SchedulerStoppedError,
    StorageConnectionError,
    StorageNotInitializedError,
    StorageOperationError,
    TaskFailedError,
    TaskNotFoundError,
    TaskRegistrationError,
    TickworkError,
    UnsupportedScheduleError,
)
from ._executors import LoopExecutor, ThreadExecutor
from ._job import Job, JobEvent
from ._local_trigger import LocalTrigger
from ._memory_store import MemoryStore
from ._migrate import migrate_storage
from ._models import (
    ExecutionRecord,
    ExecutionStatus,
    FinishOutcome,
    JobData,
    JobStatus,
    MigrateResult,
    QueryOptions,
    RunFinish,
)
from ._plugins import (
    available_plugins,
    create_executor,
    create_store,
    create_trigger,
    default_codec,
    register_plugin,
    unregister_plugin,
)
from ._policy import CatchUp, JobOptions, Overlap, RetryPolicy
from ._process_executor import ProcessExecutor
from ._run_context import NotInRunError, RunContext, current_run
from ._scheduler import AsyncScheduler, Handler
from ._schedules import IntervalSchedule, OnceSchedule, StartAtIntervalSchedule
from ._sync import Scheduler
from ._task_call import TaskCall
from ._tasks import Task, TaskRegistry
from ._ticks import preview
from .abc import (
    BatchClaimingStore,
    BatchRunStore,
    BulkStore,
    ClaimingStore,
    ConditionalBatchRunStore,
    ConditionalUpdateStore,
    Delivery,
    DueJobsStore,
    FinishingStore,
    Schedule,
    ScheduleCodec,
    Store,
    TaskExecutor,
    Trigger,
)
from .hookspecs import hookimpl

__all__ = [
    "AsyncScheduler",
    "BasicScheduleCodec",
    "BatchClaimingStore",
    "BatchRunStore",
    "BulkStore",
    "CatchUp",
    "ClaimingStore",
    "CompositeScheduleCodec",
    "ConditionalBatchRunStore",
    "ConditionalUpdateStore",
    "CronSchedule",
    "CronSpec",
    "Delivery",
    "DueJobsStore",
    "EmptyJobIDError",
    "ExecutionNotFoundError",
    "ExecutionRecord",
    "ExecutionStatus",
    "FinishOutcome",
    "FinishingStore",
    "Handler",
    "HandlerNotDefinedError",
    "IntervalSchedule",
    "InvalidCronExpressionError",
    "InvalidIntervalError",
    "InvalidJobDataError",
    "InvalidQueryError",
    "InvalidScheduleConfigError",
    "InvalidScheduleTimeError",
    "Job",
    "JobAlreadyExistsError",
    "JobData",
    "JobDataAlreadyExistsError",
    "JobDataNotFoundError",
    "JobEvent",
    "JobNotFoundError",
    "JobOptions",
    "JobStatus",
    "LocalTrigger",
    "LoopExecutor",
    "MemoryStore",
    "MigrateResult",
    "NATSServerTooOldError",
    "NotInRunError",
    "OnceSchedule",
    "Overlap",
    "PluginNotFoundError",
    "PluginRegistrationError",
    "ProcessExecutor",
    "QueryOptions",
    "RetryPolicy",
    "RunContext",
    "RunFinish",
    "Schedule",
    "ScheduleCodec",
    "Scheduler",
    "SchedulerAlreadyStartedError",
    "SchedulerNotStartedError",
    "SchedulerStoppedError",
    "StartAtIntervalSchedule",
    "StorageConnectionError",
    "StorageNotInitializedError",
    "StorageOperationError",
    "Store",
    "Task",
    "TaskCall",
    "TaskExecutor",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskRegistrationError",
    "TaskRegistry",
    "ThreadExecutor",
    "TickworkError",
    "Trigger",
    "UndecodableSchedule",
    "UnsupportedScheduleError",
    "available_plugins",
    "create_executor",
    "create_store",
    "create_trigger",
    "current_run",
    "default_codec",
    "hookimpl",
    "migrate_storage",
    "preview",
    "register_plugin",
    "unregister_plugin",
]
