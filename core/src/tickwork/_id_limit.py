"""The longest job id a store holds, checked where the id is given.

A job added before ``start()`` is only saved by ``start()``; without this check an id
too long for a SQL column would make ``start()`` fail, far from the ``add_job`` call at
fault. A store declares its limit through :class:`~tickwork.abc.IdLimitedStore`; the
scheduler asks which capability the store has once, when it is built.
"""

from __future__ import annotations

from ._errors import JobIDTooLongError
from .abc import IdLimitedStore, Store

__all__ = ["IdLimit"]


class IdLimit:
    """Refuses, for one store, the job ids it would not hold."""

    __slots__ = ("_limited",)

    def __init__(self, store: Store) -> None:
        self._limited = store if isinstance(store, IdLimitedStore) else None

    def check(self, job_id: str) -> None:
        """:raises JobIDTooLongError: the store says ``job_id`` is too long for it."""
        if self._limited is None:
            return
        reason = self._limited.id_too_long(job_id)
        if reason is not None:
            raise JobIDTooLongError(job_id, reason)
