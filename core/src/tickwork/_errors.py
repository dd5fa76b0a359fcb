"""The exception hierarchy.

Every error derives from :class:`TickworkError`. Errors about bad input also derive
from :class:`ValueError`, and "not found" errors from :class:`LookupError`, so callers
can catch them the Pythonic way without importing tickwork. Each error keeps the
offending value as an attribute and builds its message from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from ._durations import format_go_duration


class TickworkError(Exception):
    """Root of every error tickwork raises."""


# --- scheduler lifecycle ------------------------------------------------------------


class SchedulerNotStartedError(TickworkError):
    """The scheduler must be running for this call."""

    def __init__(self, message: str = "the scheduler is not running; call start() first") -> None:
        super().__init__(message)


class SchedulerAlreadyStartedError(TickworkError):
    """``start()`` was called on a running scheduler."""

    def __init__(self, message: str = "the scheduler is already running") -> None:
        super().__init__(message)


class SchedulerStoppedError(TickworkError):
    """The scheduler was stopped while the call was waiting."""

    def __init__(self, message: str = "the scheduler was stopped") -> None:
        super().__init__(message)


class BackfillError(TickworkError, ValueError):
    """A backfill's range cannot be run: empty, naive, or holding too many ticks."""


class HandlerNotDefinedError(TickworkError):
    """A scheduler cannot start without a job handler."""

    def __init__(
        self,
        message: str = "no job handler: pass handler=... to the scheduler before start()",
    ) -> None:
        super().__init__(message)


# --- jobs ---------------------------------------------------------------------------


class JobNotFoundError(TickworkError, LookupError):
    """The scheduler has no job with this id.

    ``store`` names where it was looked for (a store's repr, which never shows a
    password), so that a process with several schedulers, or a typo in a store URL,
    is told apart from a job id that is wrong.
    """

    def __init__(self, job_id: str, store: str | None = None) -> None:
        self.job_id = job_id
        self.store = store
        where = f" in {store}" if store else ""
        super().__init__(f"no job with id {job_id!r}{where}")


class JobAlreadyExistsError(TickworkError, ValueError):
    """A job with this id is already scheduled."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"a job with id {job_id!r} already exists; use update_job_schedule() "
            "to change it or remove_job() first"
        )


class EmptyJobIDError(TickworkError, ValueError):
    """Job ids must be non-empty strings."""

    def __init__(self, job_id: Any = "") -> None:
        self.job_id = job_id
        super().__init__(f"a job id must be a non-empty string, got {job_id!r}")


# --- schedules and codecs -----------------------------------------------------------


class InvalidIntervalError(TickworkError, ValueError):
    """An interval must be a positive duration."""

    def __init__(
        self, interval: Any, reason: str = "must be a timedelta greater than zero"
    ) -> None:
        self.interval = interval
        super().__init__(f"invalid schedule interval {_shown(interval)}: {reason}")


def _shown(value: Any) -> str:
    """A value as a message shows it: a timedelta as a duration (``-5s``), since
    ``timedelta(days=-1, seconds=86395)`` hides that it is minus five seconds."""
    if isinstance(value, timedelta):
        return format_go_duration(value)
    return repr(value)


class InvalidCronExpressionError(TickworkError, ValueError):
    """A cron expression is empty or malformed."""

    def __init__(self, expression: Any, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(f"invalid cron expression {expression!r}: {reason}")


class InvalidScheduleTimeError(TickworkError, ValueError):
    """A schedule needs a time and got none (or something that is not a datetime)."""

    def __init__(self, value: Any, what: str = "time") -> None:
        self.value = value
        super().__init__(f"invalid schedule {what}: expected a datetime, got {value!r}")


class InvalidScheduleConfigError(TickworkError, ValueError):
    """A stored schedule configuration (or a time zone) cannot be understood."""

    def __init__(self, schedule_type: str, config: Any, reason: str) -> None:
        self.schedule_type = schedule_type
        self.config = config
        self.reason = reason
        super().__init__(f"invalid {schedule_type} schedule configuration {config!r}: {reason}")


class UnsupportedScheduleError(TickworkError, ValueError):
    """No codec knows this schedule type or schedule class."""

    def __init__(self, what: Any, known: Iterable[str] = (), *, reason: str = "") -> None:
        self.what = what
        self.known = sorted(known)
        if reason:
            # Not a missing plugin (a string given as a schedule): say what to pass.
            super().__init__(reason)
            return
        hint = (
            f"; known types: {', '.join(self.known)}"
            if self.known
            else "; no schedule types are registered"
        )
        super().__init__(
            f"no codec handles schedule {what!r}{hint}. Install the plugin that provides it."
        )


class InvalidQueryError(TickworkError, ValueError):
    """Query options that no store can honour."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"invalid query option {field}={value!r}: {reason}")


# --- storage ------------------------------------------------------------------------


class StorageNotInitializedError(TickworkError):
    """The store was used before ``initialize()`` or after ``close()``."""

    def __init__(self, store: str = "store") -> None:
        super().__init__(f"{store} is not initialized: call initialize() first (or it was closed)")


class StoreNotFoundError(TickworkError, LookupError):
    """The store's backend (a SQLite file, tables, KV buckets) does not exist, and the
    store was opened with ``create=False``, so it did not create it.

    Commands that only read (``tickwork jobs list``, ``history``, the source of
    ``migrate``) open stores that way: a typo in a URL must be reported, not answered
    with a new, empty store left behind. The message names the store (password hidden)
    and says what creates it.
    """


class StorageConnectionError(TickworkError):
    """The store cannot reach its backend."""


class StorageOperationError(TickworkError):
    """The backend refused or failed an operation; the cause is chained."""


class JobDataNotFoundError(TickworkError, LookupError):
    """The store has no job with this id."""

    def __init__(self, job_id: str, store: str | None = None, hint: str = "") -> None:
        self.job_id = job_id
        self.store = store
        super().__init__(f"no job with id {job_id!r}{_in_store(store)}{_then(hint)}")


def _in_store(store: str | None) -> str:
    """Where a job was looked for: a store's name or URL, its password hidden by the
    caller (messages end up in logs)."""
    return f" in {store}" if store else ""


def _then(hint: str) -> str:
    """The next step, suggested in the caller's terms (a command, a method)."""
    return f"; {hint}" if hint else ""


class JobDataAlreadyExistsError(TickworkError, ValueError):
    """The store already holds a job with this id."""

    def __init__(self, job_id: str, store: str | None = None, hint: str = "") -> None:
        self.job_id = job_id
        self.store = store
        super().__init__(
            f"a job with id {job_id!r} is stored already{_in_store(store)}{_then(hint)}"
        )


class InvalidJobDataError(TickworkError, ValueError):
    """A job or execution record is malformed (or stored data is corrupt)."""


class JobIDTooLongError(InvalidJobDataError):
    """A job id longer than the store can hold (see ``tickwork.abc.IdLimitedStore``).

    Raised by ``add_job`` before anything is written, so a long id is refused where it
    is given, not later by a ``start()`` that fails to save it; and by the store's
    ``save_job``. ``reason`` is the store's own account of its limit.
    """

    def __init__(self, job_id: str, reason: str) -> None:
        self.job_id = job_id
        self.reason = reason
        shown = job_id if len(job_id) <= 40 else job_id[:37] + "..."
        super().__init__(
            f"job id {shown!r} is too long: {reason}; use a shorter id (a hash of a long key, say)"
        )


class StoreURLError(TickworkError, ValueError):
    """A store URL that cannot be used: malformed, a blocking driver, a password with
    an unescaped ``@``. The message names the URL (password hidden) and the forms that
    work."""


class ExecutionNotFoundError(TickworkError, LookupError):
    """The store has no execution record with this id."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(f"no execution record with id {execution_id!r}")


# --- plugins ------------------------------------------------------------------------


class PluginNotFoundError(TickworkError, LookupError):
    """No installed plugin registered this store, trigger or codec name."""

    def __init__(
        self, kind: str, name: str, available: Iterable[str], distribution: str | None = None
    ) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        self.distribution = distribution
        listed = ", ".join(self.available) or "none"
        install = (
            f" Install it with: pip install {distribution}"
            if distribution
            else " Install the distribution that provides it."
        )
        super().__init__(f"no {kind} named {name!r} is registered (available: {listed}).{install}")


class StoreOptionError(TickworkError, TypeError):
    """A store was given an option its constructor does not take.

    Raised by :func:`tickwork.create_store` (and so by a scheduler given a store name or
    URL with ``store_options``, and by ``--store-option`` on the command line) instead
    of the constructor's bare ``TypeError``. ``option`` and ``store`` name the option
    and the store; ``accepted`` lists the options the store takes, when it says.
    """

    def __init__(
        self, store: str, option: str, accepted: Iterable[str] = (), why: str = ""
    ) -> None:
        self.store = store
        self.option = option
        self.accepted = sorted(accepted)
        if why:
            message = f"store {store!r}: option {option!r} {why}"
        else:
            known = f" (its options: {', '.join(self.accepted)})" if self.accepted else ""
            message = f"store {store!r} has no option {option!r}{known}"
        super().__init__(message)


class PluginRegistrationError(TickworkError):
    """A plugin registered something invalid (a duplicate name, a wrong type)."""


class NATSServerTooOldError(TickworkError):
    """The NATS server cannot schedule messages (needs 2.12+ with allow_msg_schedules)."""

    def __init__(self, version: str | None = None, reason: str | None = None) -> None:
        self.version = version
        detail = reason or (f"server version {version}" if version else "unknown server version")
        super().__init__(
            "NATS server does not support scheduled message delivery "
            f"(requires 2.12+ with JetStream): {detail}"
        )


class TaskNotFoundError(TickworkError, LookupError):
    """No task is registered under that name (in this process)."""


class TaskRegistrationError(TickworkError, ValueError):
    """A task cannot be registered: a taken name, a function another process could not
    import by name, an unknown executor."""


class TaskFailedError(TickworkError):
    """A task that ran away from this process (a child process, a queue) failed there:
    it raised (``error_type`` and the message say what), or its process died."""

    def __init__(self, message: str, *, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type


class InstrumentError(TickworkError, TypeError):
    """Something given as a scheduler's instrument is neither an instrument nor a name."""

    def __init__(self, given: Any) -> None:
        self.given = given
        super().__init__(
            f"instruments must be tickwork.abc.Instrument objects or registered instrument "
            f"names (such as 'otel'); got {given!r}"
        )
