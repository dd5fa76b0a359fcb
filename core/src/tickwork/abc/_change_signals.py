"""The store capability that pushes "jobs changed" to the other processes sharing it.

A signal only wakes another scheduler's read, naming the jobs to read when it can; the
store stays the one source of truth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from ._store import Store

__all__ = ["ChangeSignalingStore", "ChangedJobs"]

#: What one signal says changed: the ids of the jobs, or None for "something changed,
#: read everything" (a sender that named no jobs, too many to name, or a message that
#: could not be read).
ChangedJobs = frozenset[str] | None


@runtime_checkable
class ChangeSignalingStore(Store, Protocol):
    """A shared store that pushes "jobs changed" to the other processes using it
    (optional capability).

    Without it, a scheduler learns of a job that another process added, changed,
    paused, resumed or removed only at its next poll (``sync_interval``, 1 s by
    default). With it, the process that stored such a change calls
    :meth:`signal_changes`, and every scheduler listening through
    :meth:`listen_for_changes` polls at once; a signal names the jobs that changed, so
    that a reader of the whole job list (the change follower) can read just those,
    which keeps a change quick at thousands of jobs. A signal only wakes the read,
    and the store stays the one source of truth: a signal lost, late or repeated never
    loses or repeats a change, and the regular poll keeps running underneath. Signals
    are for changes a user makes, never for a run's claim or finish (that would wake
    every replica thousands of times a second).

    ``signals_changes`` says whether this store object can do it, decided when it is
    made (a SQL store can on PostgreSQL, not on MySQL or SQLite); when it is false the
    two methods are never called and the scheduler polls as a store without the
    capability.
    """

    signals_changes: bool

    async def signal_changes(self, job_ids: Collection[str] | None = None) -> None:
        """Tell every listener on this store (in any process) that jobs changed.

        Called after the change is stored. Nothing is queued for a listener that is
        not connected: it polls when it connects again.

        :param job_ids: the ids of the jobs that changed, so that a listener can read
            just those; None (the default) says "something changed, read everything"
            (and so does an empty collection).
            A store whose message cannot hold all the ids (a size limit) sends
            "everything" instead, never a part of them.

        :raises StorageConnectionError: the signal could not be sent (the change is
            stored all the same; listeners find it at their next poll).
        """
        ...

    def listen_for_changes(self) -> AbstractAsyncContextManager[AsyncIterator[ChangedJobs]]:
        """A connection that listens for signals: entering it connects, and the
        iterator it yields gives one item per signal (several signals may come out as
        one item; signals sent through this same store object may be left out).
        Leaving it disconnects.

        An item is what was signalled: the ids of the jobs that changed (the union of
        the signals it stands for), or None for "read everything" (a signal sent
        without ids, or one whose message could not be read: never an error).

        :raises StorageConnectionError: on entering, the listening connection cannot be
            made; from the iterator, the connection was lost, and signals sent from
            then on are missed until the caller listens again.
        """
        ...
