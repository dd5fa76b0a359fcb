"""Turning SQLAlchemy and driver exceptions into tickwork's storage errors.

Callers of a store catch :class:`tickwork.StorageConnectionError` (retry later: the
database is down or unreachable) and :class:`tickwork.StorageOperationError` (the
database refused the statement); neither should need to know which driver is in use.
The driver's exception stays available as ``__cause__``.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

import tickwork

__all__ = ["connection_error", "lost_connection", "lost_to_a_conflict", "operation_error", "reason"]


def reason(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's statement and parameter dump
    (parameters hold user data and can be large)."""
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig
    text = str(cause).strip() or type(cause).__name__
    return text.splitlines()[0] if "\n" in text else text


def connection_error(exc: BaseException, where: str) -> tickwork.StorageConnectionError:
    """The error for a database that cannot be reached (``where`` names host and port)."""
    if isinstance(exc, PoolTimeoutError):
        advice = "every pooled connection is busy; raise pool_size/max_overflow in engine_options"
    else:
        advice = "check that the server runs, the URL is right and the network lets it through"
    return tickwork.StorageConnectionError(
        f"cannot connect to {where}: {type(exc).__name__}: {reason(exc)}. {advice}"
    )


# SQLSTATEs of a transaction the server rolled back to break a deadlock or a
# serialization conflict: the same transaction run again is expected to succeed.
_CONFLICT_STATES = frozenset({"40001", "40P01"})
# MySQL/MariaDB's own code for a deadlock victim (ER_LOCK_DEADLOCK, SQLSTATE 40001).
_MYSQL_DEADLOCK = 1213


def lost_to_a_conflict(exc: BaseException) -> bool:
    """Whether the database rolled the transaction back only because it met another
    one: a deadlock victim or a serialization failure. Such a transaction left nothing
    behind and is meant to be run again (PostgreSQL's and InnoDB's manuals both say so);
    a lock wait timeout is not one of them, since it already waited for a long time."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    cause = exc.orig
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if state in _CONFLICT_STATES:
        return True
    args: tuple[object, ...] = getattr(cause, "args", ())
    return bool(args) and args[0] == _MYSQL_DEADLOCK


# What a connection that is gone, or going, raises, as the drivers report it:
# SQLSTATE class 08 (connection exception) and PostgreSQL's 57P01/57P02 (the server
# ends the session: fast shutdown, crash) and 57P03 (it is starting or stopping);
_GONE_STATE_CLASS = "08"
_GONE_STATES = frozenset({"57P01", "57P02", "57P03"})
# MySQL/MariaDB client errors 2002/2003 (cannot connect), 2006 (server has gone away),
# 2013 (lost during a query), 2055 (lost at a system call), and server errors 1053
# (shutdown in progress), 1927 (connection killed), 4031 (disconnected while idle).
_MYSQL_GONE = frozenset({1053, 1927, 2002, 2003, 2006, 2013, 2055, 4031})
# What the async adapters say when the socket is already closed (no code attached).
_GONE_MESSAGES = ("connection is closed", "not connected", "connection was closed")


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection to the server is gone (server stopped,
    restarted, killed, network cut), so the same call later may succeed.

    SQLAlchemy marks most of these (``connection_invalidated``), but not what a driver
    raises outside a statement it wraps, such as setting a connection's isolation
    level: the driver's own error then arrives unwrapped, and is judged by its code.
    """
    cause: BaseException = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        if exc.orig is not None:
            cause = exc.orig
    if isinstance(cause, OSError | DisconnectionError):
        return True
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if isinstance(state, str) and (state.startswith(_GONE_STATE_CLASS) or state in _GONE_STATES):
        return True
    args: tuple[object, ...] = getattr(cause, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_GONE:
        return True
    text = str(cause).lower()
    return any(message in text for message in _GONE_MESSAGES)


def operation_error(
    exc: BaseException, action: str, where: str
) -> tickwork.StorageConnectionError | tickwork.StorageOperationError:
    """The error for a statement that failed; a connection lost midway counts as a
    connection error, since retrying later may succeed."""
    if lost_connection(exc):
        return tickwork.StorageConnectionError(
            f"lost the connection to {where} while trying to {action}: {reason(exc)}"
        )
    return tickwork.StorageOperationError(
        f"{where} failed to {action}: {type(exc).__name__}: {reason(exc)}"
    )
