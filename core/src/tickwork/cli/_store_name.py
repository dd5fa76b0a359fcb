"""A store named in a command's error, as the user gave it but without its password.

A store raises "no job with id 'x'" without saying where it looked; a user with a
``TICKWORK_STORE`` in one shell and a ``--store`` in another needs to see which store
answered. The URL goes into a message (and so into logs and terminal scrollback), so
its password is replaced by ``***``.
"""

from __future__ import annotations

import shlex

from .._errors import JobDataAlreadyExistsError, JobDataNotFoundError
from .._url_text import redacted

__all__ = ["redacted", "with_store"]


def with_store(
    exc: JobDataNotFoundError | JobDataAlreadyExistsError, store: str
) -> JobDataNotFoundError | JobDataAlreadyExistsError:
    """The same error naming ``store`` (redacted), with the command that fixes it."""
    where = redacted(store)
    if isinstance(exc, JobDataAlreadyExistsError):
        return JobDataAlreadyExistsError(
            exc.job_id,
            where,
            hint=f"remove it first (tickwork jobs remove {shlex.quote(exc.job_id)}) "
            "or choose another id",
        )
    return JobDataNotFoundError(
        exc.job_id, where, hint="`tickwork jobs list` shows the ids it holds"
    )
