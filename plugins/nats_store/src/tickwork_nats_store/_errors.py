"""Mapping nats-py exceptions onto tickwork's storage errors.

Callers of a store never see a nats-py exception: a failure to reach the server (or a
JetStream that does not answer yet) becomes :class:`tickwork.StorageConnectionError`,
anything else the server refuses becomes :class:`tickwork.StorageOperationError`. The
original exception is always chained as ``__cause__``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
import nats.js.errors

from tickwork import StorageConnectionError, StorageOperationError, TickworkError

__all__ = [
    "CONNECTION_ERRORS",
    "WRONG_LAST_SEQUENCE_CODES",
    "is_connection_error",
    "is_wrong_last_sequence",
    "translate_errors",
]

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.TimeoutError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
    asyncio.TimeoutError,
    OSError,
)
"""Failures that mean "the server (or its JetStream) did not answer"."""

WRONG_LAST_SEQUENCE_CODES = frozenset({10071, 10164})
"""JetStream error codes of a failed compare-and-set (wrong last subject sequence)."""


_UNAVAILABLE_CODES = frozenset({None, 10008})
"""503 answers that mean "not there (yet)": no responders, JetStream temporarily
unavailable. Other 503s are refusals, such as 10077 "maximum bytes exceeded"."""


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the server could not be reached or did not answer."""
    if isinstance(exc, nats.js.errors.ServiceUnavailableError):
        return exc.err_code in _UNAVAILABLE_CODES
    return isinstance(exc, CONNECTION_ERRORS)


def is_wrong_last_sequence(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed compare-and-set on a KV key."""
    if isinstance(exc, nats.js.errors.KeyWrongLastSequenceError):
        return True
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code in WRONG_LAST_SEQUENCE_CODES


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Re-raise any nats-py (or socket) exception as a tickwork storage error.

    tickwork's own errors and cancellation pass through untouched.
    """
    try:
        yield
    except TickworkError:
        raise
    except Exception as exc:
        if is_connection_error(exc):
            raise StorageConnectionError(
                f"NATS did not answer while trying to {action}: {_describe(exc)}. "
                "Check that nats-server is running with JetStream enabled (-js); "
                "the store reconnects on its own once it is back."
            ) from exc
        raise StorageOperationError(f"NATS failed to {action}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name
