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

__all__ = ["connection_error", "operation_error", "reason"]


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


def _lost_connection(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | DisconnectionError)


def operation_error(
    exc: BaseException, action: str, where: str
) -> tickwork.StorageConnectionError | tickwork.StorageOperationError:
    """The error for a statement that failed; a connection lost midway counts as a
    connection error, since retrying later may succeed."""
    if _lost_connection(exc):
        return tickwork.StorageConnectionError(
            f"lost the connection to {where} while trying to {action}: {reason(exc)}"
        )
    return tickwork.StorageOperationError(
        f"{where} failed to {action}: {type(exc).__name__}: {reason(exc)}"
    )
