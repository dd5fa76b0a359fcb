"""What a client is told when something fails, and what the log is told.

A client gets a status and one short line: 404 for a job that does not exist, 400 for
bad input (the line names the parameter), 403 for a refused change, 409 for an action
the scheduler cannot take now, 503 "store unavailable" while the store cannot be
reached (the pages come back by themselves when it returns), and 500 "internal error"
for the rest. Stack traces, store URLs and driver messages go to the ``tickwork.web``
logger only.
"""

from __future__ import annotations

import asyncio
import logging

import attrs

from tickwork import (
    JobDataNotFoundError,
    JobNotFoundError,
    SchedulerNotStartedError,
    SchedulerStoppedError,
    StorageConnectionError,
    StorageNotInitializedError,
    StorageOperationError,
    StoreNotFoundError,
    TickworkError,
)

__all__ = ["STORE_DOWN", "Refused", "WebError", "classify"]

logger = logging.getLogger("tickwork.web")

STORE_UNAVAILABLE = "store unavailable: try again in a moment"
_MAX_MESSAGE = 300


@attrs.frozen
class WebError:
    """A status and the one line the client sees."""

    status: int
    message: str


class Refused(Exception):
    """A change refused before it reached the store (403), or a bad request (400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


STORE_DOWN = (
    StorageConnectionError,
    StorageOperationError,
    StorageNotInitializedError,
    StoreNotFoundError,
    OSError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
)


def classify(exc: BaseException, where: str) -> WebError:
    """The answer for ``exc`` raised while serving ``where`` (logged as needed)."""
    if isinstance(exc, Refused):
        return WebError(exc.status, exc.message)
    if isinstance(exc, JobDataNotFoundError | JobNotFoundError):
        return WebError(404, f"no job with id {exc.job_id!r}")
    if isinstance(exc, SchedulerNotStartedError | SchedulerStoppedError):
        return WebError(409, "the scheduler is not running: start it to run jobs")
    if isinstance(exc, StorageNotInitializedError):
        logger.warning("%s: the store is not open: %s", where, exc)
        return WebError(503, "store unavailable: it is not open yet (start the scheduler)")
    if isinstance(exc, STORE_DOWN):
        logger.warning("%s: store unavailable: %s", where, exc, exc_info=exc)
        return WebError(503, STORE_UNAVAILABLE)
    if isinstance(exc, TickworkError | ValueError):
        return WebError(400, _one_line(str(exc)))
    logger.error("%s failed", where, exc_info=exc)
    return WebError(500, "internal error (the server's log has the details)")


def _one_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "bad request"
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"
